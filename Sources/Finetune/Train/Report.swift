// Report: the run's `report.md`, written at the end of training — the setup (data, tokenizer, model,
// hyperparameters, machine), the results (final and best validation loss, perplexity, bits per character,
// time, speed, model size), the samples, and where the model started to overfit: the first evaluation whose
// validation loss rose while the mean training loss since the previous evaluation kept falling.

import Foundation

public struct RunReport {
    public var name: String
    public var state: TrainState
    public var parameterCount: Int
    public var tokenizerVocabulary: Int
    public var finalValLoss: Float?
    public var exportedStep: Int?
    public var modelFile: String?
    public var modelBytes: Int?
    public var peakRSSBytes: Int
    public var samples: [Sample]
    public var train: [(step: Int, loss: Double)]
    public var validation: [(step: Int, loss: Double)]
    public var command: String?

    public init(name: String, state: TrainState, parameterCount: Int, tokenizerVocabulary: Int, finalValLoss: Float?,
                exportedStep: Int?, modelFile: String?, modelBytes: Int?, peakRSSBytes: Int, samples: [Sample],
                train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)], command: String?) {
        self.name = name; self.state = state; self.parameterCount = parameterCount; self.tokenizerVocabulary = tokenizerVocabulary
        self.finalValLoss = finalValLoss; self.exportedStep = exportedStep; self.modelFile = modelFile; self.modelBytes = modelBytes
        self.peakRSSBytes = peakRSSBytes; self.samples = samples; self.train = train; self.validation = validation; self.command = command
    }

    /// Where overfitting started, in one sentence.
    public static func overfitting(train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)], steps: Int) -> String {
        func meanTrain(_ a: Int, _ b: Int) -> Double? {
            let l = train.filter { $0.step > a && $0.step <= b }.map(\.loss)
            return l.isEmpty ? nil : l.reduce(0, +) / Double(l.count)
        }
        if validation.count >= 3 {
            for i in 2..<validation.count {
                let (p0, p, c) = (validation[i - 2], validation[i - 1], validation[i])
                guard c.loss > p.loss, let before = meanTrain(p0.step, p.step), let now = meanTrain(p.step, c.step), now < before else { continue }
                return String(format: "Validation loss first rose at step %d (%.4f → %.4f) while the training loss kept falling (mean %.4f → %.4f): the model started to overfit there.",
                              c.step, p.loss, c.loss, before, now)
            }
        }
        return "No sign of overfitting within \(steps) steps (validation loss did not rise while training loss fell)."
    }

    static func bytes(_ n: Int) -> String {
        n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / Double(1 << 20)) : String(format: "%.1f KiB", Double(n) / 1024)
    }

    static func machine() -> String {
        var cpu = "unknown CPU"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        #if os(macOS)
        let os = "macOS"
        #else
        let os = "Linux"
        #endif
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(os)"
    }

    public func markdown() -> String {
        let s = state, c = s.model, o = s.options, d = s.data
        func f(_ x: Float?, _ digits: Int = 4) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "–" }
        let ln2 = log(2.0)
        func bpc(_ l: Float?) -> String {
            guard let l, d.validationCharacters > 0 else { return "–" }
            return String(format: "%.4f", Double(l) * Double(d.validationTokens) / Double(d.validationCharacters) / ln2)
        }
        func ppl(_ l: Float?) -> String { l.map { String(format: "%.3f", exp(Double($0))) } ?? "–" }
        var m = "# Training run `\(name)`\n\n"
        if let command { m += "```\n\(command)\n```\n\n" }
        m += "## Setup\n\n"
        m += "| | |\n|---|---|\n"
        m += "| data | `\((d.file as NSString).lastPathComponent)` — \(d.characters) characters (Unicode scalars), \(d.tokens) tokens (sha256 `\(d.sha256.prefix(16))…`) |\n"
        m += "| split | first 90% train: \(d.trainTokens) tokens; last 10% validation: \(d.validationTokens) tokens (\(d.validationCharacters) characters) |\n"
        m += "| tokenizer | \(s.tokenizer.kind) (\(s.tokenizer.source)), vocabulary \(tokenizerVocabulary); \(String(format: "%.2f", Double(d.characters) / Double(max(1, d.tokens)))) characters per token |\n"
        m += "| model | \(c.architecture), \(c.layers) layers, dim \(c.dim), \(c.heads) heads"
        if c.kvHeads != c.heads { m += " (\(c.kvHeads) KV heads)" }
        m += ", FFN \(c.ffnDim), context \(c.contextLength), dropout \(c.dropout), \(c.tiedOutput ? "tied" : "untied") output |\n"
        m += "| parameters | \(parameterCount) |\n"
        m += "| optimizer | AdamW β=(\(o.beta1), \(o.beta2)), ε=\(o.epsilon), weight decay \(o.weightDecay) (2-D weights only), grad clip \(o.gradClip) |\n"
        m += "| schedule | lr \(String(format: "%g", o.learningRate)), warmup \(o.warmupSteps) steps, cosine to \(String(format: "%g", o.finalLearningRate)) at step \(o.steps) |\n"
        m += "| batch | \(o.batch) × \(c.contextLength) tokens × \(o.gradAccum) accumulation = \(o.batch * c.contextLength * o.gradAccum) tokens per step |\n"
        m += "| steps | \(s.step) of \(o.steps)\(s.earlyStopped ? " (stopped early: no improvement in \(o.patience ?? 0) evaluations)" : "") |\n"
        m += "| evaluation | every \(o.evalEvery) steps on \(o.evalWindows) validation windows at most |\n"
        m += "| seed, threads | \(o.seed), \(o.threads) |\n"
        m += "| machine | \(RunReport.machine()) |\n\n"
        m += "## Results\n\n"
        m += "| | loss (nats/token) | perplexity | bits per character |\n|---|---|---|---|\n"
        m += "| final validation (step \(s.step)) | \(f(finalValLoss)) | \(ppl(finalValLoss)) | \(bpc(finalValLoss)) |\n"
        m += "| best validation (step \(s.bestStep.map(String.init) ?? "–")) | \(f(s.bestValLoss)) | \(ppl(s.bestValLoss)) | \(bpc(s.bestValLoss)) |\n"
        if let last = train.last { m += "| last training loss (step \(last.step)) | \(String(format: "%.4f", last.loss)) | | |\n" }
        m += "\n"
        m += "- Wall time \(String(format: "%.1f", s.elapsedSeconds)) s, of which training steps \(String(format: "%.1f", s.trainingSeconds)) s: "
        m += "\(String(format: "%.0f", Double(s.tokensSeen) / max(s.trainingSeconds, 1e-9))) training tokens/s.\n"
        m += "- Peak resident memory \(RunReport.bytes(peakRSSBytes)).\n"
        if let modelFile, let modelBytes {
            m += "- Exported model `\((modelFile as NSString).lastPathComponent)` (weights of step \(exportedStep.map(String.init) ?? "–"), F32): \(RunReport.bytes(modelBytes)).\n"
        }
        m += "- \(RunReport.overfitting(train: train, validation: validation, steps: s.step))\n\n"
        m += "![loss curve](loss.svg)\n\n"
        if !samples.isEmpty {
            m += "## Samples\n\nGenerated by the training code from the weights of step \(exportedStep.map(String.init) ?? String(s.step)); greedy (temperature 0) and sampled (temperature 0.8, top-k 40).\n\n"
            for smp in samples {
                m += "**Prompt** `\(smp.prompt.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "`", with: "ˋ"))`\n\n"
                m += "greedy:\n\n```text\n\(smp.prompt)\(smp.greedy)\n```\n\nsampled:\n\n```text\n\(smp.prompt)\(smp.sampled)\n```\n\n"
            }
        }
        return m
    }
}
