// TrainOptions: everything `llmkit train` decides besides the model's shape — the optimizer's and the
// schedule's hyperparameters (which a resumed run must share with the run it continues) and the run's
// bookkeeping (how often to log, evaluate and checkpoint, which a resumed run may change).
//
// Defaults are the common recipe: AdamW betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on 2-D weights only,
// lr 3e-4 with linear warmup over min(100, steps/10) steps then cosine to lr/10 at the last step, clipping
// at global norm 1.0, one micro-batch per step.

public struct TrainOptions: Codable, Equatable, Sendable {
    // What the loss curve depends on (checked on --resume).
    public var steps: Int
    public var batch: Int = 16
    public var learningRate: Float = 3e-4
    public var minLearningRate: Float? = nil
    public var warmup: Int? = nil
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var gradClip: Float = 1.0
    public var gradAccum: Int = 1
    public var seed: UInt64 = 1337

    // Bookkeeping (free to change between a run and its resumption).
    public var evalEvery: Int = 250
    public var evalWindows: Int = 64
    public var logEvery: Int = 10
    public var checkpointEvery: Int = 500
    public var keep: Int = 3
    /// Stop after this many evaluations without a new best validation loss.
    public var patience: Int? = nil
    /// Stop (with a checkpoint) after this step, to be continued with --resume.
    public var stopAt: Int? = nil
    public var threads: Int = 1

    public init(steps: Int) { self.steps = steps }

    /// Warmup steps actually used.
    public var warmupSteps: Int { warmup ?? min(100, steps / 10) }
    /// The learning rate the cosine ends at.
    public var finalLearningRate: Float { minLearningRate ?? learningRate / 10 }

    public func validate() throws {
        guard steps > 0 else { throw FinetuneError.config("--steps must be positive, not \(steps)") }
        guard batch > 0 else { throw FinetuneError.config("--batch must be positive, not \(batch)") }
        guard learningRate > 0, learningRate.isFinite else { throw FinetuneError.config("--lr must be positive, not \(learningRate)") }
        guard finalLearningRate >= 0, finalLearningRate <= learningRate else {
            throw FinetuneError.config("--min-lr must be in [0, --lr], not \(finalLearningRate)")
        }
        guard warmupSteps >= 0, warmupSteps <= steps else { throw FinetuneError.config("--warmup must be in [0, --steps], not \(warmupSteps)") }
        guard weightDecay >= 0 else { throw FinetuneError.config("--weight-decay must not be negative, not \(weightDecay)") }
        guard gradClip >= 0 else { throw FinetuneError.config("--grad-clip must not be negative (0 = off), not \(gradClip)") }
        guard gradAccum > 0 else { throw FinetuneError.config("--grad-accum must be positive, not \(gradAccum)") }
        guard evalEvery > 0, evalWindows > 0, logEvery > 0, checkpointEvery > 0 else {
            throw FinetuneError.config("--eval-every, --eval-windows, --log-every and --checkpoint-every must be positive")
        }
        guard keep > 0 else { throw FinetuneError.config("--keep must be at least 1, not \(keep)") }
        if let patience, patience <= 0 { throw FinetuneError.config("--patience must be positive, not \(patience)") }
        if let stopAt, stopAt <= 0 { throw FinetuneError.config("--stop-at must be positive, not \(stopAt)") }
        guard threads > 0 else { throw FinetuneError.config("--threads must be positive, not \(threads)") }
    }

    /// The first hyperparameter that differs from `other` ("lr 0.0003 vs 0.001"), nil when a run with these
    /// options continues a run with `other` exactly.
    public func curveMismatch(_ other: TrainOptions) -> String? {
        let pairs: [(String, String, String)] = [
            ("--steps", "\(steps)", "\(other.steps)"), ("--batch", "\(batch)", "\(other.batch)"),
            ("--lr", "\(learningRate)", "\(other.learningRate)"),
            ("--min-lr", "\(finalLearningRate)", "\(other.finalLearningRate)"),
            ("--warmup", "\(warmupSteps)", "\(other.warmupSteps)"),
            ("--weight-decay", "\(weightDecay)", "\(other.weightDecay)"),
            ("beta1", "\(beta1)", "\(other.beta1)"), ("beta2", "\(beta2)", "\(other.beta2)"),
            ("eps", "\(epsilon)", "\(other.epsilon)"), ("--grad-clip", "\(gradClip)", "\(other.gradClip)"),
            ("--grad-accum", "\(gradAccum)", "\(other.gradAccum)"), ("--seed", "\(seed)", "\(other.seed)"),
        ]
        for (name, a, b) in pairs where a != b { return "\(name) is \(a) but the checkpoint was trained with \(b)" }
        return nil
    }
}

extension ModelConfig {
    /// The first field that differs from `other`, nil when equal.
    public func mismatch(_ other: ModelConfig) -> String? {
        let pairs: [(String, String, String)] = [
            ("--arch", architecture, other.architecture), ("vocabulary size", "\(vocabularySize)", "\(other.vocabularySize)"),
            ("--context", "\(contextLength)", "\(other.contextLength)"), ("--layers", "\(layers)", "\(other.layers)"),
            ("--dim", "\(dim)", "\(other.dim)"), ("--heads", "\(heads)", "\(other.heads)"),
            ("--kv-heads", "\(kvHeads)", "\(other.kvHeads)"), ("--ffn", "\(ffnDim)", "\(other.ffnDim)"),
            ("--dropout", "\(dropout)", "\(other.dropout)"), ("norm eps", "\(normEps)", "\(other.normEps)"),
            ("rope theta", "\(ropeTheta)", "\(other.ropeTheta)"), ("tied output", "\(tiedOutput)", "\(other.tiedOutput)"),
        ]
        for (name, a, b) in pairs where a != b { return "\(name) is \(a) but the checkpoint's model has \(b)" }
        return nil
    }
}
