// FinetuneOptions: what `llmkit finetune` decides besides the base and the data — the LoRA shape, the optimizer and
// schedule (a resumed run must share them: `curveMismatch`) and the run's bookkeeping (logging, evaluation,
// checkpoints, threads: free to change on --resume).
//
// Defaults are Hugging Face Trainer's and PEFT's: AdamW betas (0.9, 0.999), eps 1e-8, no weight decay, lr 3e-4,
// linear decay to 0 after `warmup` steps (HF's get_linear_schedule_with_warmup; `cosine` and `constant` too),
// clipping at global norm 1.0, LoRA r 8, alpha 32, dropout 0.1 on q/v.
//
// Schedules, as HF computes them for optimizer step k (1-based; s = k − 1 scheduler steps taken before it):
//   s < warmup:  lr · s / warmup
//   linear:      lr · max(0, (steps − s) / (steps − warmup))
//   cosine:      lr · ½(1 + cos(π · (s − warmup) / (steps − warmup)))
//   constant:    lr

import Foundation

public struct FinetuneOptions: Codable, Equatable, Sendable {
    // What the loss curve depends on (checked on --resume).
    public var lora = LoRAConfig()
    public var epochs: Int = 3
    /// Overrides epochs × steps per epoch when set (epochs cycle as needed, as HF's max_steps).
    public var maxSteps: Int? = nil
    public var batchSize: Int = 1
    public var gradAccum: Int = 8
    public var learningRate: Float = 3e-4
    public var scheduler: String = "linear"
    public var warmupSteps: Int = 0
    /// HF's warmup_ratio: warmup = ceil(ratio · steps) when set (instead of warmupSteps).
    public var warmupRatio: Double? = nil
    public var weightDecay: Float = 0
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var gradClip: Float = 1.0
    public var maxSeq: Int = 512
    public var trainOnPrompt = false
    public var packing = false
    public var seed: UInt64 = 42

    // Bookkeeping (free to change between a run and its resumption).
    public var gradCheckpoint = false
    public var saveSteps: Int = 100
    public var saveTotalLimit: Int = 2
    public var loggingSteps: Int = 10
    /// Validate every N steps (and always at the end) when there is validation data; nil: only at the end.
    public var evalSteps: Int? = nil
    /// Stop (with a checkpoint) after this step, to be continued with --resume.
    public var stopAt: Int? = nil
    public var threads: Int = 1

    public init() {}

    public static let schedulers = ["linear", "cosine", "constant"]

    /// Warmup steps of a run of `steps` optimizer steps.
    public func warmup(steps: Int) -> Int {
        if let warmupRatio { return min(steps, Int((warmupRatio * Double(steps)).rounded(.up))) }
        return warmupSteps
    }

    /// The learning rate of optimizer step `step` (1-based) in a run of `steps`.
    public func learningRate(step: Int, steps: Int) -> Float {
        let s = Double(step - 1), w = Double(warmup(steps: steps)), n = Double(steps)
        if s < w { return learningRate * Float(s / w) }
        switch scheduler {
        case "constant": return learningRate
        case "cosine":
            let progress = n > w ? (s - w) / (n - w) : 0
            return learningRate * Float(0.5 * (1 + cos(Double.pi * progress)))
        default:
            return learningRate * Float(max(0, (n - s) / max(1, n - w)))
        }
    }

    /// Optimizer steps of a run over `rowsPerEpoch` rows: ceil(rows / batch / accum) per epoch × epochs, or maxSteps.
    public func steps(rowsPerEpoch rows: Int) -> Int {
        maxSteps ?? stepsPerEpoch(rows: rows) * epochs
    }

    public func stepsPerEpoch(rows: Int) -> Int {
        let microBatches = (rows + batchSize - 1) / batchSize
        return (microBatches + gradAccum - 1) / gradAccum
    }

    public func validate() throws {
        try lora.validate()
        guard epochs > 0 else { throw FinetuneError.config("--epochs must be positive, not \(epochs)") }
        if let maxSteps, maxSteps <= 0 { throw FinetuneError.config("--max-steps must be positive, not \(maxSteps)") }
        guard batchSize > 0 else { throw FinetuneError.config("--batch-size must be positive, not \(batchSize)") }
        guard gradAccum > 0 else { throw FinetuneError.config("--grad-accum must be positive, not \(gradAccum)") }
        guard learningRate > 0, learningRate.isFinite else { throw FinetuneError.config("--lr must be positive, not \(learningRate)") }
        guard Self.schedulers.contains(scheduler) else {
            throw FinetuneError.config("--lr-scheduler must be one of \(Self.schedulers.joined(separator: ", ")), not '\(scheduler)'")
        }
        guard warmupSteps >= 0 else { throw FinetuneError.config("--warmup-steps must not be negative, not \(warmupSteps)") }
        if let warmupRatio, !(warmupRatio >= 0 && warmupRatio <= 1) {
            throw FinetuneError.config("--warmup-ratio must be in [0, 1], not \(warmupRatio)")
        }
        guard weightDecay >= 0 else { throw FinetuneError.config("--weight-decay must not be negative, not \(weightDecay)") }
        guard gradClip >= 0 else { throw FinetuneError.config("--max-grad-norm must not be negative (0 = off), not \(gradClip)") }
        guard maxSeq >= 2 else { throw FinetuneError.config("--max-seq must be at least 2, not \(maxSeq)") }
        guard saveSteps > 0 else { throw FinetuneError.config("--save-steps must be positive, not \(saveSteps)") }
        guard saveTotalLimit > 0 else { throw FinetuneError.config("--save-total-limit must be at least 1, not \(saveTotalLimit)") }
        guard loggingSteps > 0 else { throw FinetuneError.config("--logging-steps must be positive, not \(loggingSteps)") }
        if let evalSteps, evalSteps <= 0 { throw FinetuneError.config("--eval-steps must be positive, not \(evalSteps)") }
        if let stopAt, stopAt <= 0 { throw FinetuneError.config("--stop-at must be positive, not \(stopAt)") }
        guard threads > 0 else { throw FinetuneError.config("--threads must be positive, not \(threads)") }
    }

    /// The first setting that differs from `other` in a way that changes the loss curve, nil when a run with these
    /// options continues a run with `other` exactly.
    public func curveMismatch(_ other: FinetuneOptions) -> String? {
        let pairs: [(String, String, String)] = [
            ("--rank", "\(lora.rank)", "\(other.lora.rank)"), ("--alpha", "\(lora.alpha)", "\(other.lora.alpha)"),
            ("--dropout", "\(lora.dropout)", "\(other.lora.dropout)"),
            ("--targets", lora.targets.joined(separator: ","), other.lora.targets.joined(separator: ",")),
            ("--use-rslora", "\(lora.useRSLoRA)", "\(other.lora.useRSLoRA)"),
            ("--epochs", "\(epochs)", "\(other.epochs)"), ("--max-steps", "\(maxSteps.map(String.init) ?? "none")", "\(other.maxSteps.map(String.init) ?? "none")"),
            ("--batch-size", "\(batchSize)", "\(other.batchSize)"), ("--grad-accum", "\(gradAccum)", "\(other.gradAccum)"),
            ("--lr", "\(learningRate)", "\(other.learningRate)"), ("--lr-scheduler", scheduler, other.scheduler),
            ("--warmup-steps", "\(warmupSteps)", "\(other.warmupSteps)"),
            ("--warmup-ratio", "\(warmupRatio.map { "\($0)" } ?? "none")", "\(other.warmupRatio.map { "\($0)" } ?? "none")"),
            ("--weight-decay", "\(weightDecay)", "\(other.weightDecay)"), ("beta1", "\(beta1)", "\(other.beta1)"),
            ("beta2", "\(beta2)", "\(other.beta2)"), ("eps", "\(epsilon)", "\(other.epsilon)"),
            ("--max-grad-norm", "\(gradClip)", "\(other.gradClip)"), ("--max-seq", "\(maxSeq)", "\(other.maxSeq)"),
            ("--train-on-prompt", "\(trainOnPrompt)", "\(other.trainOnPrompt)"), ("--packing", "\(packing)", "\(other.packing)"),
            ("--seed", "\(seed)", "\(other.seed)"),
        ]
        for (name, a, b) in pairs where a != b { return "\(name) is \(a) but the checkpoint was trained with \(b)" }
        return nil
    }
}
