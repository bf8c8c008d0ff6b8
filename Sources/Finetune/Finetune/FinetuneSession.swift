// FinetuneSession: one `llmkit finetune` run — LoRA adapters trained on a frozen base over SFT examples — from
// start (or --resume) to the adapter files.
//
// One optimizer step (the order is part of the contract: a resumed run repeats it exactly):
//   if the epoch's rows are used up (or none were drawn yet): a new epoch — the examples' order drawn from the run's
//   TrainRNG (SFTBatches.shuffled), its rows built (one example per row, or packed);
//   zero grads; up to gradAccum micro-batches of batchSize rows each from the current position (a step never crosses
//   an epoch: the epoch's last step may have fewer); each micro-batch k runs forwardBackward with
//   gradScale n_k / N (n_k its scored targets, N the step's), so the step's gradient is that of the mean loss over
//   all the step's response tokens whatever the padding and accumulation; clip to the global norm; AdamW with the
//   scheduled rate. The logged loss is that token-weighted mean.
// After step s: a metrics line if s % loggingSteps == 0 or s is the last; a validation (mean loss over the
// validation examples' response tokens) if s % evalSteps == 0 or s is the last; a checkpoint if s % saveSteps == 0,
// s is the last, or the run stops at --stop-at. Checkpoints keep the newest saveTotalLimit plus the best validation.
//
// Run folder (adapters/NAME/):
//   checkpoints/step-NNNNNN/   model.safetensors (the adapter parameters, by name), optimizer.safetensors (AdamW
//                              moments), state.json (FinetuneState: step, epoch, order, position, RNG, options,
//                              data digests, base identity, counters) — written atomically (Checkpoint)
//   metrics.jsonl              {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"} and
//                              {"step", "val_loss", "val_ppl"} lines (MetricsLog)
//   adapter files              written by the caller's `export` (PEFT folder files and adapter.gguf)
//   summary.json, loss.svg     at the end
// The adapters exported are the final ones (HF Trainer's default, load_best_model_at_end = false); the best
// validation step's checkpoint is kept on disk.

import Foundation
import Formats
import Infer
import Quant

/// What identifies the base a run trains on (a resume on another base is refused).
public struct FinetuneBase: Codable, Equatable, Sendable {
    public var name: String
    public var bytes: Int
    public var tensors: Int
    public var architecture: String
    public init(name: String, bytes: Int, tensors: Int, architecture: String) {
        self.name = name; self.bytes = bytes; self.tensors = tensors; self.architecture = architecture
    }

    public init(_ file: GGUFFile) {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
        self.init(name: file.metadata["general.name"]?.string ?? (file.path as NSString).lastPathComponent, bytes: bytes,
                  tensors: file.tensors.count, architecture: file.metadata["general.architecture"]?.string ?? "")
    }
}

/// What the data was (a resume on other training data is refused).
public struct FinetuneData: Codable, Equatable, Sendable {
    public var file: String
    public var sha256: String
    public var format: String
    public var records: Int
    public var examples: Int
    /// Examples whose response was truncated away by --max-seq.
    public var dropped: Int
    public var rowsPerEpoch: Int
    public var validationFile: String?
    public var validationExamples: Int
}

/// Everything besides the tensors that a resumed run needs.
public struct FinetuneState: Codable, Equatable, Sendable {
    public var format = 1
    public var kind = "finetune"
    /// Optimizer steps completed.
    public var step: Int
    public var steps: Int
    /// 0-based epoch of `order`.
    public var epoch: Int = 0
    /// The current epoch's order of examples (empty before the first step).
    public var order: [Int] = []
    /// Rows of the current epoch consumed.
    public var position: Int = 0
    public var rng: TrainRNG
    public var options: FinetuneOptions
    public var base: FinetuneBase
    public var data: FinetuneData
    public var optimizerStep: Int = 0
    public var learningRate: Float = 0
    public var bestValLoss: Float?
    public var bestStep: Int?
    public var lastValLoss: Float?
    /// The training loss of the last step.
    public var lastLoss: Float?
    public var trainingSeconds: Double = 0
    public var elapsedSeconds: Double = 0
    /// Input positions trained on (padding excluded) and response tokens scored.
    public var tokensSeen: Int = 0
    public var targetsSeen: Int = 0
}

/// Everything a run is started with (built by the CLI).
public struct FinetuneSetup {
    public var run: String
    public var base: FinetuneBase
    public var dataFile: String
    public var dataSHA256: String
    public var records: [SFTRecord]
    public var validationFile: String?
    public var validationRecords: [SFTRecord]
    public var prompt: SFTPrompt
    public var options: FinetuneOptions
    public var resume: Bool
    /// Builds the model (its adapter initialization draws from the RNG it is given).
    public var makeModel: (inout TrainRNG) throws -> any AdapterModel
    /// Writes the adapter files into the run folder; returns their paths.
    public var export: (LoRAAdapter) throws -> [String]
    public var command: String?

    public init(run: String, base: FinetuneBase, dataFile: String, dataSHA256: String, records: [SFTRecord], validationFile: String?,
                validationRecords: [SFTRecord], prompt: SFTPrompt, options: FinetuneOptions, resume: Bool,
                makeModel: @escaping (inout TrainRNG) throws -> any AdapterModel, export: @escaping (LoRAAdapter) throws -> [String],
                command: String?) {
        self.run = run; self.base = base; self.dataFile = dataFile; self.dataSHA256 = dataSHA256; self.records = records
        self.validationFile = validationFile; self.validationRecords = validationRecords; self.prompt = prompt
        self.options = options; self.resume = resume; self.makeModel = makeModel; self.export = export; self.command = command
    }
}

public struct FinetuneOutcome {
    public var state: FinetuneState
    /// false when the run stopped at --stop-at (to be resumed); then no adapter files are written.
    public var finished: Bool
    public var finalValLoss: Float?
    public var files: [String]
    public var resumedFrom: Int?
    public var peakRSSBytes: Int
}

public enum FinetuneSession {
    public static func run(_ setup: FinetuneSetup, progress makeProgress: (Int) -> ProgressBar, log: (String) -> Void) throws -> FinetuneOutcome {
        let fm = FileManager.default
        let o = setup.options
        try o.validate()
        do { try fm.createDirectory(atPath: setup.run, withIntermediateDirectories: true) } catch {
            throw FinetuneError.data(file: setup.run, message: "cannot create the run folder: \(error.localizedDescription)")
        }

        // Examples.
        let (examples, dropped) = try SFTBatches.examples(setup.records, prompt: setup.prompt, maxSeq: o.maxSeq)
        guard !examples.isEmpty else {
            throw FinetuneError.data(file: setup.dataFile, message: "no example left: all \(dropped) responses were truncated away by --max-seq \(o.maxSeq)")
        }
        if dropped > 0 { log("finetune: dropped \(dropped) of \(dropped + examples.count) examples whose response does not fit --max-seq \(o.maxSeq)") }
        let (valExamples, valDropped) = try SFTBatches.examples(setup.validationRecords, prompt: setup.prompt, maxSeq: o.maxSeq)
        if valDropped > 0 { log("finetune: dropped \(valDropped) validation examples whose response does not fit --max-seq \(o.maxSeq)") }
        let valRows = SFTBatches.rows(valExamples, order: Array(valExamples.indices), maxSeq: o.maxSeq, packing: false, trainOnPrompt: false)
        let rowsPerEpoch = SFTBatches.rowCount(examples, maxSeq: o.maxSeq, packing: o.packing)
        let steps = o.steps(rowsPerEpoch: rowsPerEpoch)
        let data = FinetuneData(file: setup.dataFile, sha256: setup.dataSHA256, format: setup.records.first?.format.rawValue ?? "",
                                records: setup.records.count, examples: examples.count, dropped: dropped, rowsPerEpoch: rowsPerEpoch,
                                validationFile: setup.validationFile, validationExamples: valExamples.count)

        // The checkpoint to resume from.
        let resumeFrom = try Checkpoint.resumePoint(run: setup.run, resume: setup.resume, log: log) { try readState($0) }

        var rng = TrainRNG(seed: o.seed)
        let pool = o.threads == ThreadPool.shared.size ? ThreadPool.shared : ThreadPool(threads: o.threads)
        let model = try setup.makeModel(&rng)
        (model as? TrainModelRuntime)?.pool = pool
        let params = model.parameters
        let optimizer = AdamW(parameters: params, beta1: o.beta1, beta2: o.beta2, eps: o.epsilon, weightDecay: o.weightDecay)
        optimizer.pool = pool
        var state = FinetuneState(step: 0, steps: steps, rng: rng, options: o, base: setup.base, data: data)
        if let r = resumeFrom {
            let file = r.path + "/state.json"
            guard r.state.data.sha256 == setup.dataSHA256 else {
                throw FinetuneError.checkpoint(file: file, message: "was trained on other data (\(r.state.data.file), sha256 \(r.state.data.sha256.prefix(12))…) than \(setup.dataFile) (sha256 \(setup.dataSHA256.prefix(12))…); resume with the same file or start a new run")
            }
            guard r.state.base == setup.base else {
                throw FinetuneError.checkpoint(file: file, message: "was trained on another base (\(r.state.base.name), \(r.state.base.bytes) bytes) than this one (\(setup.base.name), \(setup.base.bytes) bytes)")
            }
            if let m = o.curveMismatch(r.state.options) { throw FinetuneError.checkpoint(file: file, message: "cannot resume: \(m)") }
            try Checkpoint.restore(r.path, parameters: params, moments: optimizer.checkpointMoments)
            optimizer.stepCount = r.state.optimizerStep
            state = r.state
            state.options = o  // bookkeeping options may change on resume
            state.data.file = setup.dataFile
            state.data.validationFile = setup.validationFile
            state.data.validationExamples = valExamples.count
            log("resume: from step \(r.step) (\(r.path))")
        } else {
            let n = params.reduce(0) { $0 + $1.count }
            log("finetune: \(examples.count) examples (\(data.format)), \(rowsPerEpoch) rows per epoch, \(steps) steps; " +
                "\(valExamples.count) validation examples; \(n) adapter parameters (rank \(o.lora.rank), \(o.lora.targets.joined(separator: ",")))")
        }

        let metrics = try MetricsLog(path: setup.run + "/metrics.jsonl", keepThrough: resumeFrom?.step)
        defer { metrics.flush() }
        let progress = makeProgress(steps)

        func validate() throws -> Float? {
            guard !valRows.isEmpty else { return nil }
            var total = 0.0, scored = 0
            var first = 0
            while first < valRows.count {
                let b = SFTBatches.batch(valRows[first..<min(first + o.batchSize, valRows.count)])
                first += b.batch
                guard b.scored > 0 else { continue }
                total += Double(try model.loss(inputs: b.inputs, targets: b.targets, batch: b.batch, length: b.length)) * Double(b.scored)
                scored += b.scored
            }
            return scored > 0 ? Float(total / Double(scored)) : nil
        }

        func checkpoint() throws {
            state.optimizerStep = optimizer.stepCount
            let path = try Checkpoint.write(run: setup.run, step: state.step, state: state, parameters: params,
                                            moments: optimizer.checkpointMoments)
            Checkpoint.prune(run: setup.run, keep: o.saveTotalLimit, best: state.bestStep)
            progress.note("checkpoint: \(path)")
        }

        // The training loop.
        let runStart = Date()
        let elapsedBefore = state.elapsedSeconds
        var rows: [SFTRow] = state.order.isEmpty ? [] : SFTBatches.rows(examples, order: state.order, maxSeq: o.maxSeq, packing: o.packing, trainOnPrompt: o.trainOnPrompt)
        var lastVal: (step: Int, loss: Float)? = nil
        while state.step < steps {
            if let stop = o.stopAt, state.step >= stop { break }
            let step = state.step + 1
            let t0 = DispatchTime.now().uptimeNanoseconds
            if state.order.isEmpty || state.position >= rows.count {
                if !state.order.isEmpty { state.epoch += 1 }
                state.order = SFTBatches.shuffled(count: examples.count, rng: &state.rng)
                state.position = 0
                rows = SFTBatches.rows(examples, order: state.order, maxSeq: o.maxSeq, packing: o.packing, trainOnPrompt: o.trainOnPrompt)
            }
            var batches: [SFTBatch] = []
            for _ in 0..<o.gradAccum where state.position < rows.count {
                let end = min(state.position + o.batchSize, rows.count)
                batches.append(SFTBatches.batch(rows[state.position..<end]))
                state.position = end
            }
            let scored = batches.reduce(0) { $0 + $1.scored }
            for p in params { p.zeroGrad() }
            var loss: Float = 0
            for b in batches where b.scored > 0 {
                let w = Float(b.scored) / Float(scored)
                loss += try model.forwardBackward(inputs: b.inputs, targets: b.targets, batch: b.batch, length: b.length,
                                                  gradScale: w, rng: &state.rng) * w
            }
            guard loss.isFinite else { throw FinetuneError.config("the training loss is \(loss) at step \(step); lower --lr") }
            let norm = clipGradients(params, maxNorm: o.gradClip > 0 ? o.gradClip : .infinity)
            let lr = o.learningRate(step: step, steps: steps)
            optimizer.step(lr: lr)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            state.step = step
            state.learningRate = lr
            state.lastLoss = loss
            state.optimizerStep = optimizer.stepCount
            state.tokensSeen += batches.reduce(0) { $0 + $1.tokens }
            state.targetsSeen += scored
            state.trainingSeconds += dt
            state.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(runStart)
            let rate = Double(state.tokensSeen) / max(state.trainingSeconds, 1e-9)
            let last = step == steps
            if step % o.loggingSteps == 0 || last {
                metrics.train(step: step, loss: loss, lr: lr, gradNorm: norm, tokens: state.tokensSeen, tokensPerSecond: rate,
                              elapsed: state.elapsedSeconds)
            }
            let eta = Double(steps - step) * state.trainingSeconds / Double(step)
            progress.update(step: step, loss: loss, valLoss: state.lastValLoss, tokensPerSecond: rate, eta: eta)

            if (o.evalSteps.map { step % $0 == 0 } ?? false) || last, let v = try validate() {
                lastVal = (step, v)
                state.lastValLoss = v
                metrics.validation(step: step, loss: v)
                var best = false
                if state.bestValLoss.map({ v < $0 }) ?? true {
                    state.bestValLoss = v
                    state.bestStep = step
                    best = true
                }
                progress.note(String(format: "step %d: val loss %.4f (ppl %.3f)%@", step, v, exp(Double(v)), best ? " best" : ""))
            }
            state.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(runStart)
            let stopping = o.stopAt.map { step >= $0 } ?? false
            if step % o.saveSteps == 0 || last || stopping {
                metrics.flush()
                try checkpoint()
            }
        }
        progress.finish()
        metrics.flush()
        let finished = state.step >= steps
        var outcome = FinetuneOutcome(state: state, finished: finished, finalValLoss: nil, files: [], resumedFrom: resumeFrom?.step,
                                      peakRSSBytes: peakResidentBytes())
        guard finished else {
            log("stopped after step \(state.step) (--stop-at); continue with --resume")
            return outcome
        }
        if lastVal?.step != state.step, let v = try validate() {  // a resumed run that had already finished
            state.lastValLoss = v
            lastVal = (state.step, v)
        }
        outcome.finalValLoss = lastVal?.loss

        var adapter = model.adapter()
        adapter.baseModel = adapter.baseModel ?? setup.base.name
        outcome.files = try setup.export(adapter)
        let rss = peakResidentBytes()
        outcome.peakRSSBytes = rss
        outcome.state = state
        try writeSummary(state: state, finalValLoss: outcome.finalValLoss, parameters: params.reduce(0) { $0 + $1.count },
                         peakRSS: rss, command: setup.command, to: setup.run + "/summary.json")
        let points = MetricsLog.read(setup.run + "/metrics.jsonl")
        try AtomicOutput.write(Array(LossPlot.svg(train: points.train, validation: points.validation,
                                                  title: "\((setup.run as NSString).lastPathComponent): LoRA on \(setup.base.name)").utf8),
                               to: setup.run + "/loss.svg")
        return outcome
    }

    public static func readState(_ path: String) throws -> FinetuneState {
        try Checkpoint.readState(path, as: FinetuneState.self, what: "a fine-tuning state (a `llmkit train` run?)")
    }

    static func writeSummary(state: FinetuneState, finalValLoss: Float?, parameters: Int, peakRSS: Int, command: String?, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let options = TrainSession.jsonValue(try JSON.parse(try enc.encode(state.options), file: path))
        let data = TrainSession.jsonValue(try JSON.parse(try enc.encode(state.data), file: path))
        let base = TrainSession.jsonValue(try JSON.parse(try enc.encode(state.base), file: path))
        let j = JSON.object([
            ("steps", .int(state.step)),
            // Epochs done, fractional when --max-steps stopped inside one.
            ("epochs", .double(state.order.isEmpty ? 0 : ((Double(state.epoch) + Double(state.position) / Double(max(1, state.data.rowsPerEpoch))) * 1000).rounded() / 1000)),
            ("tokens", .int(state.tokensSeen)),
            ("response_tokens", .int(state.targetsSeen)),
            ("tokens_per_s", .double((Double(state.tokensSeen) / max(state.trainingSeconds, 1e-9) * 10).rounded() / 10)),
            ("final_train_loss", state.lastLoss.map(JSON.float) ?? .null),
            ("final_val_loss", finalValLoss.map(JSON.float) ?? .null),
            ("best_val_loss", state.bestValLoss.map(JSON.float) ?? .null),
            ("best_step", state.bestStep.map { .int($0) } ?? .null),
            ("adapter_parameters", .int(parameters)),
            ("training_s", .double((state.trainingSeconds * 1000).rounded() / 1000)),
            ("elapsed_s", .double((state.elapsedSeconds * 1000).rounded() / 1000)),
            ("peak_rss_bytes", .int(peakRSS)),
            ("base", base),
            ("data", data),
            ("config", options),
            ("command", command.map { .string($0) } ?? .null),
        ])
        try AtomicOutput.write(Array((j.serialized(indent: 2) + "\n").utf8), to: path)
    }
}
