// TrainSession: one `llmkit train` run from start to finish, around the Trainer:
//
//   1. fresh: tokenize the text, split it, build the model from the seed (its initialization draws from the
//      run's TrainRNG first), start an empty metrics.jsonl;
//      resume: remove half-written checkpoint folders, take the newest complete checkpoint, refuse it if the
//      data (sha256), the model or the loss-curve options differ, restore weights, AdamW moments, RNG and
//      counters, cut metrics.jsonl back to the checkpoint's step.
//   2. train (Trainer.train).
//   3. when finished: load the best checkpoint's weights (else keep the final ones), write samples.json (the
//      training code's greedy and sampled continuations), model.gguf (unless --no-export), summary.json,
//      loss.svg, report.md.
//
// Run folder: metrics.jsonl, summary.json, samples.json, loss.svg, report.md, model.gguf, checkpoints/.

import Foundation
import Formats
import Infer

public enum TrainSession {
    /// The tokens of `text` as the run's tokenizer encodes them (special-token text parsed, no BOS/EOS).
    public static func encode(_ text: String, tokenizer: any Tokenizer) -> [Int32] {
        tokenizer.encode(text, addSpecial: false, parseSpecial: true).map(Int32.init)
    }

    public static func run(_ setup: TrainSetup, progress: ProgressBar, log: (String) -> Void) throws -> TrainOutcome {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: setup.run, withIntermediateDirectories: true) } catch {
            throw FinetuneError.data(file: setup.run, message: "cannot create the run folder: \(error.localizedDescription)")
        }
        try setup.options.validate()

        // The checkpoint to resume from, if any.
        let resumeFrom = try Checkpoint.resumePoint(run: setup.run, resume: setup.resume, log: log) { try Checkpoint.readState($0) }
        let tokenizerInfo: TokenizerInfo
        if let r = resumeFrom {
            tokenizerInfo = r.state.tokenizer
        } else {
            guard let t = setup.tokenizer else { throw FinetuneError.config("no tokenizer for a fresh run") }
            tokenizerInfo = t
        }
        let tokenizer: any Tokenizer
        do { tokenizer = try Tokenizers.load(metadata: try tokenizerInfo.metadata()) } catch {
            throw FinetuneError.config("tokenizer: \(error)")
        }
        var config = setup.model
        config.vocabularySize = tokenizer.vocabularySize
        try config.validate()

        let tokens = encode(setup.text, tokenizer: tokenizer)
        let split = try TokenSplit(tokens: tokens, context: config.contextLength, file: setup.dataFile)
        let valChars = tokenizer.decode(split.validationTokens.map(Int.init), special: true).unicodeScalars.count
        let data = DataInfo(file: setup.dataFile, sha256: setup.dataSHA256, characters: setup.text.unicodeScalars.count, tokens: tokens.count,
                            trainTokens: split.trainCount, validationTokens: split.valCount, validationCharacters: valChars)

        var rng = TrainRNG(seed: setup.options.seed)
        let threads = pool(threads: setup.options.threads)
        let model = try makeModel(config: config, rng: &rng, pool: threads)
        let optimizer = try makeOptimizer(model.parameters, options: setup.options, pool: threads)
        var state = TrainState(step: 0, rng: rng, model: config, options: setup.options, optimizerStep: 0, learningRate: 0,
                               tokenizer: tokenizerInfo, data: data)
        if let r = resumeFrom {
            let file = r.path + "/state.json"
            guard r.state.data.sha256 == setup.dataSHA256 else {
                throw FinetuneError.checkpoint(file: file, message: "was trained on other data (\(r.state.data.file), sha256 \(r.state.data.sha256.prefix(12))…) than \(setup.dataFile) (sha256 \(setup.dataSHA256.prefix(12))…); resume with the same file or start a new run")
            }
            if let m = config.mismatch(r.state.model) { throw FinetuneError.checkpoint(file: file, message: "cannot resume: \(m)") }
            if let m = setup.options.curveMismatch(r.state.options) { throw FinetuneError.checkpoint(file: file, message: "cannot resume: \(m)") }
            try Checkpoint.restore(r.path, parameters: model.parameters, moments: optimizer.checkpointMoments)
            optimizer.stepCount = r.state.optimizerStep
            state = r.state
            state.options = setup.options  // bookkeeping options may change on resume
            state.data.file = setup.dataFile
            log("resume: from step \(r.step) (\(r.path))")
        }
        let metrics = try MetricsLog(path: setup.run + "/metrics.jsonl", keepThrough: resumeFrom?.step)
        let parameterCount = model.parameters.reduce(0) { $0 + $1.count }
        if resumeFrom == nil {
            log("train: \(tokens.count) tokens (\(split.trainCount) train, \(split.valCount) validation), vocabulary \(config.vocabularySize), \(parameterCount) parameters")
        }

        let trainer = Trainer(model: model, optimizer: optimizer, split: split, state: state, run: setup.run, progress: progress,
                              schedule: scheduleFunction(setup.options), clip: clipFunction())
        let (finished, finalVal) = try trainer.train(metrics: metrics)
        state = trainer.state
        var outcome = TrainOutcome(state: state, finished: finished, finalValLoss: finalVal, modelFile: nil, exportedStep: nil,
                                   parameterCount: parameterCount, resumedFrom: resumeFrom?.step)
        guard finished else {
            log("stopped after step \(state.step) (--stop-at); continue with --resume")
            return outcome
        }

        // The weights to publish: the best checkpoint's, else the final ones.
        var exportedStep = state.step
        if let best = state.bestStep, best != state.step,
           let c = Checkpoint.list(run: setup.run).first(where: { $0.step == best }) {
            try Checkpoint.restore(c.path, parameters: model.parameters, moments: nil)
            exportedStep = best
        }
        outcome.exportedStep = exportedStep

        let prompts = setup.samplePrompts ?? Samples.defaultPrompts(split, tokenizer: tokenizer)
        let samples = try Samples.make(model, tokenizer: tokenizer, prompts: prompts, maxTokens: setup.sampleTokens, seed: setup.options.seed)
        try writeSamples(samples, step: exportedStep, to: setup.run + "/samples.json")

        var modelBytes: Int? = nil
        if setup.export {
            let path = setup.run + "/model.gguf"
            try GGUFExport.write(to: path, config: config, name: setup.name, tokenizer: try tokenizerInfo.metadata(),
                                 parameters: model.parameters)
            outcome.modelFile = path
            modelBytes = (try? fm.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        }

        let points = MetricsLog.read(setup.run + "/metrics.jsonl")
        let rss = peakResidentBytes()
        try writeSummary(state: state, finalValLoss: finalVal, parameterCount: parameterCount, peakRSS: rss, to: setup.run + "/summary.json")
        try AtomicOutput.write(Array(LossPlot.svg(train: points.train, validation: points.validation, title: "\(setup.name): loss").utf8),
                               to: setup.run + "/loss.svg")
        let report = RunReport(name: setup.name, state: state, parameterCount: parameterCount, tokenizerVocabulary: tokenizer.vocabularySize,
                               finalValLoss: finalVal, exportedStep: exportedStep, modelFile: outcome.modelFile, modelBytes: modelBytes,
                               peakRSSBytes: rss, samples: samples, train: points.train, validation: points.validation, command: setup.command)
        try AtomicOutput.write(Array(report.markdown().utf8), to: setup.run + "/report.md")
        return outcome
    }

    static func writeSamples(_ samples: [Sample], step: Int, to path: String) throws {
        let j = JSON.object([
            ("step", .int(step)),
            ("samples", .array(samples.map { s in
                .object([("prompt", .string(s.prompt)), ("greedy", .string(s.greedy)), ("greedy_tokens", .int(s.greedyTokens)),
                         ("sampled", .string(s.sampled))])
            })),
        ])
        try AtomicOutput.write(Array((j.serialized(indent: 2) + "\n").utf8), to: path)
    }

    static func writeSummary(state: TrainState, finalValLoss: Float?, parameterCount: Int, peakRSS: Int, to path: String) throws {
        func encoded<T: Encodable>(_ v: T) throws -> JSON {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            let any = try JSON.parse(try enc.encode(v), file: path)
            return jsonValue(any)
        }
        let j = JSON.object([
            ("steps", .int(state.step)),
            ("tokens_per_s", .double((Double(state.tokensSeen) / max(state.trainingSeconds, 1e-9) * 10).rounded() / 10)),
            ("final_val_loss", finalValLoss.map(JSON.float) ?? .null),
            ("best_val_loss", state.bestValLoss.map(JSON.float) ?? .null),
            ("best_step", state.bestStep.map { .int($0) } ?? .null),
            ("parameters", .int(parameterCount)),
            ("elapsed_s", .double((state.elapsedSeconds * 1000).rounded() / 1000)),
            ("training_s", .double((state.trainingSeconds * 1000).rounded() / 1000)),
            ("tokens", .int(state.tokensSeen)),
            ("peak_rss_bytes", .int(peakRSS)),
            ("early_stopped", .bool(state.earlyStopped)),
            ("config", .object([("model", try encoded(state.model)), ("train", try encoded(state.options))])),
        ])
        try AtomicOutput.write(Array((j.serialized(indent: 2) + "\n").utf8), to: path)
    }

    /// A Foundation-parsed JSON value as Formats' JSON (keys sorted).
    static func jsonValue(_ v: Any) -> JSON {
        switch v {
        case let d as [String: Any]: return .object(d.keys.sorted().map { ($0, jsonValue(d[$0]!)) })
        case let a as [Any]: return .array(a.map(jsonValue))
        case let s as String: return .string(s)
        case is NSNull: return .null
        default:
            if let b = JSON.bool(v) { return .bool(b) }
            if let i = JSON.int(v) { return .int(i) }
            return .double(JSON.double(v) ?? 0)
        }
    }
}
