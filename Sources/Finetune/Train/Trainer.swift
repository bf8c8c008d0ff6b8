// Trainer: the training loop of `llmkit train` — one optimizer step after another over random windows of the
// training tokens, validation every `evalEvery` steps, checkpoints, early stopping — and the run it lives in
// (start fresh or resume, then export, samples, summary, plot and report).
//
// One step (the order is part of the contract: a resumed run repeats it exactly):
//   zero grads; for each of gradAccum micro-batches: draw `batch` windows from the RNG (TokenSplit.batch), then
//   forwardBackward with gradScale 1/gradAccum (its dropout masks from the same RNG); clip by global norm;
//   AdamW with the scheduled learning rate of this step. The logged loss is the mean of the micro-batches'.
// After step s: a training line if s % logEvery == 0 or s is the last; a validation if s % evalEvery == 0 or s
// is the last; a checkpoint if s % checkpointEvery == 0, if s is the last, if the validation just improved the
// best loss (so the best weights are always on disk), or if the run stops at --stop-at.
// Checkpoints are pruned to the newest `keep` plus the best. Everything random comes from one TrainRNG
// (initialization, windows, dropout), saved in every checkpoint.

import Foundation
import Formats
import Infer

/// What the trainer needs from an optimizer (AdamW): one update of the parameters it was built over, its step
/// counter, and its per-parameter state for checkpoints.
public protocol TrainOptimizer: AnyObject {
    var stepCount: Int { get set }
    var checkpointMoments: [OptimizerMoments] { get }
    func update(learningRate: Float)
}

/// Everything a run is started with (built by the CLI).
public struct TrainSetup {
    public var run: String
    public var name: String
    public var dataFile: String
    public var dataSHA256: String
    public var text: String
    /// The tokenizer of a fresh run (a resumed run takes the checkpoint's).
    public var tokenizer: TokenizerInfo?
    public var model: ModelConfig
    public var options: TrainOptions
    public var resume: Bool
    /// nil: a few beginnings of validation text.
    public var samplePrompts: [String]?
    public var sampleTokens = 40
    public var export: Bool
    public var command: String?

    public init(run: String, name: String, dataFile: String, dataSHA256: String, text: String, tokenizer: TokenizerInfo?,
                model: ModelConfig, options: TrainOptions, resume: Bool, samplePrompts: [String]?, export: Bool, command: String?) {
        self.run = run; self.name = name; self.dataFile = dataFile; self.dataSHA256 = dataSHA256; self.text = text
        self.tokenizer = tokenizer; self.model = model; self.options = options; self.resume = resume
        self.samplePrompts = samplePrompts; self.export = export; self.command = command
    }
}

/// What a finished (or paused) run produced.
public struct TrainOutcome {
    public var state: TrainState
    /// false when the run stopped at --stop-at (to be resumed); then nothing below is written.
    public var finished: Bool
    public var finalValLoss: Float?
    public var modelFile: String?
    public var exportedStep: Int?
    public var parameterCount: Int
    public var resumedFrom: Int?
}

public final class Trainer {
    public let model: any TrainableModel
    public let optimizer: any TrainOptimizer
    public let split: TokenSplit
    public var state: TrainState
    public let run: String
    let progress: ProgressBar
    let schedule: (Int) -> Float
    let clip: ([Parameter], Float) -> Float

    /// `schedule(step)` is the learning rate of step `step` (1-based); `clip(params, maxNorm)` clips in place and
    /// returns the norm before clipping.
    public init(model: any TrainableModel, optimizer: any TrainOptimizer, split: TokenSplit, state: TrainState, run: String,
                progress: ProgressBar, schedule: @escaping (Int) -> Float, clip: @escaping ([Parameter], Float) -> Float) {
        self.model = model; self.optimizer = optimizer; self.split = split; self.state = state; self.run = run
        self.progress = progress; self.schedule = schedule; self.clip = clip
    }

    /// Mean validation loss over the validation windows.
    public func validate() throws -> Float {
        let T = model.config.contextLength
        let n = split.validationWindowCount(length: T, maxWindows: state.options.evalWindows)
        var total = 0.0, first = 0
        while first < n {
            let count = min(state.options.batch, n - first)
            let b = split.validationBatch(first: first, count: count, length: T)
            total += Double(try model.loss(inputs: b.inputs, targets: b.targets, batch: count, length: T)) * Double(count)
            first += count
        }
        return Float(total / Double(n))
    }

    func checkpoint() throws {
        var s = state
        s.optimizerStep = optimizer.stepCount
        let path = try Checkpoint.write(run: run, state: s, parameters: model.parameters, moments: optimizer.checkpointMoments)
        Checkpoint.prune(run: run, keep: state.options.keep, best: state.bestStep)
        progress.note("checkpoint: \(path)")
    }

    /// Trains until the last step, early stopping or --stop-at. Returns whether the run finished (and the last
    /// validation loss when it did).
    public func train(metrics: MetricsLog) throws -> (finished: Bool, finalValLoss: Float?) {
        let o = state.options
        let T = model.config.contextLength, B = o.batch, accum = o.gradAccum
        let params = model.parameters
        let runStart = Date()
        let elapsedBefore = state.elapsedSeconds
        var lastVal: (step: Int, loss: Float)? = nil
        defer { metrics.flush() }
        while state.step < o.steps && !state.earlyStopped {
            if let stop = o.stopAt, state.step >= stop { break }
            let step = state.step + 1
            let t0 = DispatchTime.now().uptimeNanoseconds
            for p in params { p.zeroGrad() }
            var loss: Float = 0
            for _ in 0..<accum {
                let b = split.batch(rows: B, length: T, rng: &state.rng)
                loss += try model.forwardBackward(inputs: b.inputs, targets: b.targets, batch: B, length: T,
                                                  gradScale: 1 / Float(accum), rng: &state.rng) / Float(accum)
            }
            guard loss.isFinite else { throw FinetuneError.config("the training loss is \(loss) at step \(step); lower --lr") }
            let norm = clip(params, o.gradClip)
            let lr = schedule(step)
            optimizer.update(learningRate: lr)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            state.step = step
            state.learningRate = lr
            state.optimizerStep = optimizer.stepCount
            state.tokensSeen += B * T * accum
            state.trainingSeconds += dt
            state.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(runStart)
            let rate = Double(state.tokensSeen) / max(state.trainingSeconds, 1e-9)
            let last = step == o.steps
            if step % o.logEvery == 0 || last {
                metrics.train(step: step, loss: loss, lr: lr, gradNorm: norm, tokens: state.tokensSeen, tokensPerSecond: rate,
                              elapsed: state.elapsedSeconds)
            }
            let eta = Double(o.steps - step) * state.trainingSeconds / Double(max(1, state.tokensSeen / (B * T * accum)))
            progress.update(step: step, loss: loss, valLoss: state.lastValLoss, tokensPerSecond: rate, eta: eta)

            var improved = false, stopEarly = false
            if step % o.evalEvery == 0 || last {
                let v = try validate()
                lastVal = (step, v)
                state.lastValLoss = v
                metrics.validation(step: step, loss: v)
                metrics.flush()
                if state.bestValLoss.map({ v < $0 }) ?? true {
                    state.bestValLoss = v
                    state.bestStep = step
                    state.evalsWithoutImprovement = 0
                    improved = true
                } else {
                    state.evalsWithoutImprovement += 1
                    if let p = o.patience, state.evalsWithoutImprovement >= p { stopEarly = true; state.earlyStopped = true }
                }
                progress.note(String(format: "step %d: val loss %.4f (ppl %.3f)%@", step, v, exp(Double(v)),
                                     improved ? " best" : stopEarly ? " — no improvement in \(o.patience!) evaluations, stopping" : ""))
            }
            state.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(runStart)
            let stopping = o.stopAt.map { step >= $0 } ?? false
            if step % o.checkpointEvery == 0 || last || improved || stopEarly || stopping {
                metrics.flush()
                try checkpoint()
            }
            if stopEarly { break }
        }
        progress.finish()
        let finished = state.step >= o.steps || state.earlyStopped
        if finished && lastVal?.step != state.step {
            // A resumed run that had already finished, or early stopping (validated this step already).
            let v = try validate()
            state.lastValLoss = v
            lastVal = (state.step, v)
        }
        return (finished, finished ? lastVal?.loss : nil)
    }
}

/// Peak resident set size of this process in bytes. On Linux from /proc/self/status's VmHWM: getrusage's ru_maxrss
/// survives execve, so a child of a large process (a benchmark harness with PyTorch loaded) would report its parent's
/// peak.
public func peakResidentBytes() -> Int {
    #if os(Linux)
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
        return kb * 1024
    }
    #endif
    var u = rusage()
    #if os(macOS)
    getrusage(RUSAGE_SELF, &u)
    return Int(u.ru_maxrss)
    #else
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss) * 1024
    #endif
}
