// llmkit train: train a small transformer from scratch on a text file (see Finetune/Train/TrainSession.swift for
// the run and its folder), then register the exported GGUF in the model store so `llmkit run` / `serve` use it.
import ArgumentParser
import Finetune
import Formats
import Foundation
import Infer
import Server

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a tiny transformer from scratch on a text file.",
        discussion: """
            The text is tokenized (char level by default), split by position (first 90% train, last 10% validation) and \
            trained on random windows. The run folder gets metrics.jsonl, checkpoints/, summary.json, loss.svg, \
            report.md, samples.json and model.gguf; the model is registered in the store (--models) as NAME:latest.
            """)

    @Option(help: "UTF-8 text to train on (e.g. from `llmkit corpus collect`).") var data: String
    @Option(help: "Run folder (runs/NAME).") var out: String
    @Option(help: "Model name in the store (default: the run folder's name).") var name: String?
    @Option(help: "Model store to register the export in.") var models = "models"
    @Flag(help: "Do not export model.gguf or register it.") var noExport = false
    @Flag(help: "Continue from the newest complete checkpoint in --out.") var resume = false

    @Option(help: "Architecture: gpt2 or llama.") var arch = "gpt2"
    @Option(help: "Transformer blocks.") var layers = 2
    @Option(help: "Embedding width.") var dim = 128
    @Option(help: "Attention heads.") var heads = 8
    @Option(help: "Key/value heads (llama; default: --heads).") var kvHeads: Int?
    @Option(help: "Feed-forward width.") var ffn = 512
    @Option(help: "Context length (tokens per window).") var context = 256
    @Option(help: "Dropout rate.") var dropout: Float = 0.1
    @Flag(help: "Separate output matrix instead of the token embedding (llama).") var untied = false

    @Option(help: "Tokenizer: char or bpe.") var tokenizer = "char"
    @Option(help: "Vocabulary size of a trained BPE tokenizer.") var vocabSize = 512
    @Option(help: "Use this tokenizer.json instead of training one.") var tokenizerFile: String?
    @Option(help: "Characters outside the char vocabulary: unk or skip.") var unknown = "unk"

    @Option(help: "Optimizer steps (default: 2000 unless --epochs).") var steps: Int?
    @Option(help: "Epochs over the training tokens instead of --steps (steps = epochs · train tokens / (batch · context · grad-accum)).") var epochs: Double?
    @Option(help: "Windows per micro-batch.") var batch = 16
    @Option(help: "Peak learning rate.") var lr: Float = 3e-4
    @Option(help: "Final learning rate of the cosine (default: lr/10).") var minLr: Float?
    @Option(help: "Warmup steps (default: min(100, steps/10)).") var warmup: Int?
    @Option(help: "AdamW weight decay (2-D weights only).") var weightDecay: Float = 0.1
    @Option(help: "Clip gradients to this global L2 norm (0: off).") var gradClip: Float = 1.0
    @Option(help: "Micro-batches per step.") var gradAccum = 1
    @Option(help: "Seed of everything random.") var seed: UInt64 = 1337
    @Option(name: [.customShort("t"), .long], help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Validate every N steps.") var evalEvery = 250
    @Option(help: "Validation windows (at most).") var evalWindows = 64
    @Option(help: "Log a metrics line every N steps.") var logEvery = 10
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 500
    @Option(help: "Checkpoints to keep (plus the best).") var keep = 3
    @Option(help: "Stop after N evaluations without improvement.") var patience: Int?
    @Option(help: "Stop after this step with a checkpoint (continue later with --resume).") var stopAt: Int?
    @Option(help: "Prompt for the report's samples (repeatable; default: beginnings of validation text).") var samples: [String] = []

    func run() throws {
        do { try train() } catch { fail(error) }
    }

    func train() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else { throw FinetuneError.data(file: data, message: "no such file") }
        guard !isDir.boolValue else { throw FinetuneError.data(file: data, message: "is a folder; give a text file (see llmkit corpus collect)") }
        guard let bytes = FileManager.default.contents(atPath: data) else { throw FinetuneError.data(file: data, message: "cannot read") }
        guard !bytes.isEmpty else { throw FinetuneError.data(file: data, message: "the file is empty") }
        guard let text = String(data: bytes, encoding: .utf8) else { throw FinetuneError.data(file: data, message: "not UTF-8 text") }
        guard ["gpt2", "llama"].contains(arch) else { throw FinetuneError.config("--arch must be gpt2 or llama, not '\(arch)'") }
        guard ["char", "bpe"].contains(tokenizer) else { throw FinetuneError.config("--tokenizer must be char or bpe, not '\(tokenizer)'") }
        guard ["unk", "skip"].contains(unknown) else { throw FinetuneError.config("--unknown must be unk or skip, not '\(unknown)'") }
        guard !(untied && arch == "gpt2") else { throw FinetuneError.config("--untied is for --arch llama (gpt2 ties its output)") }
        let runName = name ?? (out as NSString).lastPathComponent
        if !noExport { _ = try storeName(runName) }

        var config = ModelConfig(architecture: arch, vocabularySize: 1, contextLength: context, layers: layers, dim: dim,
                                 heads: heads, kvHeads: kvHeads, ffnDim: ffn, dropout: dropout, tiedOutput: !untied)
        try config.validate()

        // A fresh run's tokenizer (a resumed run uses its checkpoint's).
        var info: TokenizerInfo? = nil
        if !resume {
            guard Checkpoint.list(run: out).isEmpty else {
                throw FinetuneError.config("\(out) already holds a run with checkpoints; continue it with --resume or choose another --out")
            }
            info = try makeTokenizer(text)
            config.vocabularySize = try Tokenizers.load(metadata: try info!.metadata()).vocabularySize
        }

        var options = TrainOptions(steps: 1)
        options.batch = batch
        options.learningRate = lr
        options.minLearningRate = minLr
        options.warmup = warmup
        options.weightDecay = weightDecay
        options.gradClip = gradClip
        options.gradAccum = gradAccum
        options.seed = seed
        options.evalEvery = evalEvery
        options.evalWindows = evalWindows
        options.logEvery = logEvery
        options.checkpointEvery = checkpointEvery
        options.keep = keep
        options.patience = patience
        options.stopAt = stopAt
        options.threads = threads
        switch (steps, epochs) {
        case (nil, nil): options.steps = 2000
        case let (s?, nil): options.steps = s
        case let (nil, e?):
            guard e > 0 else { throw FinetuneError.config("--epochs must be positive, not \(e)") }
            // Steps from the training part's token count, known once the text is tokenized.
            let tok = try resume ? tokenizerOfCheckpoint() : Tokenizers.load(metadata: try info!.metadata())
            let n = TrainSession.encode(text, tokenizer: tok).count * 9 / 10
            options.steps = max(1, Int((e * Double(n) / Double(batch * context * gradAccum)).rounded()))
        default: throw FinetuneError.config("give --steps or --epochs, not both")
        }

        var digest = SHA256()
        digest.update(bytes)
        var setup = TrainSetup(run: out, name: runName, dataFile: data, dataSHA256: digest.finalizeHex(), text: text, tokenizer: info,
                               model: config, options: options, resume: resume, samplePrompts: samples.isEmpty ? nil : samples,
                               export: !noExport, command: "llmkit " + CommandLine.arguments.dropFirst().map(TrainCommand.quoted).joined(separator: " "))
        setup.sampleTokens = 40
        let progress = ProgressBar(total: options.steps, logEvery: logEvery)
        let outcome = try TrainSession.run(setup, progress: progress, log: { printErr($0) })
        guard outcome.finished else { return }
        let s = outcome.state
        printErr(String(format: "train: %d steps, final val loss %@, best %@ at step %@; %.0f tokens/s",
                        s.step, outcome.finalValLoss.map { String(format: "%.4f", $0) } ?? "–",
                        s.bestValLoss.map { String(format: "%.4f", $0) } ?? "–", s.bestStep.map(String.init) ?? "–",
                        Double(s.tokensSeen) / max(s.trainingSeconds, 1e-9)))
        if let file = outcome.modelFile {
            let registered = try register(file, name: runName)
            printErr("train: exported \(file) (step \(outcome.exportedStep ?? s.step)); registered as \(registered)")
        }
        printErr("train: report \(out)/report.md")
    }

    func tokenizerOfCheckpoint() throws -> any Tokenizer {
        guard let c = Checkpoint.list(run: out).last else {
            throw FinetuneError.checkpoint(file: Checkpoint.directory(run: out), message: "no complete checkpoint to resume from")
        }
        return try Tokenizers.load(metadata: try Checkpoint.readState(c.path).tokenizer.metadata())
    }

    /// The tokenizer of a fresh run: a given tokenizer.json, a byte-level BPE trained on the text (its tokenizer.json
    /// saved in the run folder), or the text's characters.
    func makeTokenizer(_ text: String) throws -> TokenizerInfo {
        if let tokenizerFile {
            // A tokenizer.json (or the folder holding one, with tokenizer_config.json beside it), read as Infer reads it.
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: tokenizerFile, isDirectory: &isDir) else {
                throw FinetuneError.data(file: tokenizerFile, message: "no such file")
            }
            let path = isDir.boolValue ? tokenizerFile + "/tokenizer.json" : tokenizerFile
            guard (path as NSString).lastPathComponent == "tokenizer.json" else {
                throw FinetuneError.data(file: path, message: "--tokenizer-file must name a file called tokenizer.json or its folder")
            }
            guard FileManager.default.fileExists(atPath: path) else { throw FinetuneError.data(file: tokenizerFile, message: "no tokenizer.json in this folder") }
            let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
            guard let tj = try? JSON.parseFile(path) as? [String: Any], let model = tj["model"] as? [String: Any],
                  let vocab = model["vocab"] as? [String: Any] else {
                throw FinetuneError.data(file: path, message: "not a tokenizer.json (no model.vocab)")
            }
            var maxID = vocab.values.compactMap { JSON.int($0) }.max() ?? -1
            for case let a as [String: Any] in (tj["added_tokens"] as? [Any]) ?? [] { maxID = max(maxID, JSON.int(a["id"]) ?? -1) }
            var md = GGUFMetadata()
            do {
                for (k, v) in try HFTokenizer.ggufKeys(directory: dir, vocabSize: maxID + 1, warn: { _ in }) { md[k] = v }
            } catch { throw FinetuneError.data(file: path, message: "\(error)") }
            if md["tokenizer.ggml.add_bos_token"] == nil { md["tokenizer.ggml.add_bos_token"] = .bool(false) }
            if md["tokenizer.ggml.add_eos_token"] == nil { md["tokenizer.ggml.add_eos_token"] = .bool(false) }
            return try TokenizerInfo(kind: "file", source: path, metadata: md)
        }
        if tokenizer == "bpe" {
            printErr("train: training a byte-level BPE tokenizer of \(vocabSize) tokens")
            let bpe = try BPETrainer.train(text: text, vocabSize: vocabSize)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try AtomicOutput.write(bpe.tokenizerJSON(), to: out + "/tokenizer.json")
            return try TokenizerInfo(kind: "bpe", source: "byte-level BPE trained on \((data as NSString).lastPathComponent), \(out)/tokenizer.json",
                                     metadata: bpe.ggufMetadata())
        }
        return try TokenizerInfo(kind: "char", source: "the characters of \((data as NSString).lastPathComponent), unknown: \(unknown)",
                                 metadata: CharVocabulary.metadata(corpus: text, unknown: unknown == "unk" ? .unk : .skip))
    }

    func storeName(_ n: String) throws -> ModelName {
        do { return try ModelName(n) } catch {
            throw FinetuneError.config("--name '\(n)' is not a valid model name (letters, digits, '-', '_', '.')")
        }
    }

    /// Copies (or hard-links) the GGUF into the store as NAME.gguf and writes its manifest; returns the name.
    func register(_ file: String, name: String) throws -> String {
        let mn = try storeName(name)
        let store = try ModelStore(root: models)
        let fm = FileManager.default
        let fileName = "\(mn.model.lowercased())\(mn.tag == "latest" ? "" : "-" + mn.tag.lowercased()).gguf"
        let dest = store.root + "/" + fileName
        let temp = store.root + "/.\(fileName).tmp-\(getpid())"
        try? fm.removeItem(atPath: temp)
        do {
            do { try fm.linkItem(atPath: file, toPath: temp) } catch { try fm.copyItem(atPath: file, toPath: temp) }
            guard rename(temp, dest) == 0 else { throw FinetuneError.data(file: dest, message: String(cString: strerror(errno))) }
        } catch {
            try? fm.removeItem(atPath: temp)
            throw FinetuneError.data(file: dest, message: "cannot place the model in the store: \(error)")
        }
        try store.write(mn, manifest: .object([("name", .string(mn.description)), ("file", .string(fileName)),
                                               ("adapters", .array([])), ("parameters", .object([]))]))
        return mn.description
    }

    static func quoted(_ s: String) -> String {
        s.isEmpty || s.contains(where: { " \"'$\\\n\t".contains($0) }) ? "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" : s
    }
}
