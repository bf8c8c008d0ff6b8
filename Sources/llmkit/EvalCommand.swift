// llmkit eval: loss (nats/token), perplexity, bits per character and bits per byte of a model on a text file,
// scored in non-overlapping windows of --ctx tokens (see Sources/Finetune/Eval/Evaluation.swift); or, for a .jsonl /
// .json data file of instruction examples, held-out response loss and greedy generations scored with ROUGE-L, exact
// match and code parsing (Sources/Finetune/Eval/GenerationEval.swift).
import ArgumentParser
import Finetune
import Formats
import Foundation
import Infer

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate a model on a text (loss, perplexity) or on held-out examples (+ generation metrics).",
        discussion: """
            A text file is tokenized with the model's tokenizer (BOS first if the model adds one) and cut into \
            non-overlapping windows of --ctx tokens, each run from an empty cache; every token but a window's \
            first is scored.
            A .jsonl/.json file of examples (alpaca, chat or completion, as `finetune` reads them) is rendered with the \
            model's chat template; each response is scored (held-out loss/perplexity on response tokens) and a greedy \
            generation from its prompt is compared with it: ROUGE-L F1 (as rouge-score), exact match, and for code \
            the share that parses (gofmt -e, swiftc -parse, python3 -m py_compile, by the line's "lang").
            """)

    @Argument(help: "GGUF model (llama or gpt2 architecture).") var model: String
    @Option(help: "UTF-8 text file to score.") var data: String
    @Option(help: "Tokens per window (default: the model's context, at most 512).") var ctx: Int?
    @Option(help: "Tokens per forward pass.") var batch = 512
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Print the result as one JSON object.") var json = false
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(help: "Examples: generate at most this many tokens per example.") var maxNewTokens = 256
    @Option(help: "Examples: use only the first N.") var limit: Int?
    @Option(help: "Examples: also write the full result (figures and every sample) to this JSON file.") var jsonOut: String?

    func run() throws {
        if data.hasSuffix(".jsonl") || data.hasSuffix(".json") {
            let m = loadModel(model, adapters: adapterOptions)
            let adapterNames = adapterOptions.adapters.map { ($0 as NSString).lastPathComponent }
            let r = evaluateExamples(name: ([m.name] + adapterNames).joined(separator: " + "), model: m, data: data, limit: limit, maxNewTokens: maxNewTokens,
                                     threads: threads, quiet: json)
            let report = r.json(extra: [("path", .string(model)), ("adapters", .array(adapterOptions.adapters.map { .string($0) })), ("data", .string(data))])
            if let jsonOut { do { try AtomicOutput.write(Array((report.serialized(indent: 2) + "\n").utf8), to: jsonOut) } catch { fail(error) } }
            if json { print(report.serialized()); return }
            print(describe(r))
            return
        }
        guard let bytes = FileManager.default.contents(atPath: data) else { fail(FinetuneError.data(file: data, message: "cannot read the file")) }
        guard let text = String(validating: bytes, as: UTF8.self) else { fail(FinetuneError.data(file: data, message: "not valid UTF-8")) }
        guard !text.isEmpty else { fail(FinetuneError.data(file: data, message: "the file is empty")) }
        let m: Model
        do { m = try Model(path: model, adapterFiles: adapterOptions.files) } catch { fail(error) }
        let context = ctx ?? min(512, m.network.trainedContextLength)
        let tokens = Evaluation.tokens(of: text, tokenizer: m.tokenizer)
        let t0 = Date()
        let r: EvalResult
        do {
            r = try Evaluation.evaluate(network: m.network, tokenizer: m.tokenizer, tokens: tokens, context: context,
                                        batch: batch, threads: threads) { done, total in
                if !json { FileHandle.standardError.write(Data("\reval: window \(done)/\(total)".utf8)) }
            }
        } catch { fail(error) }
        let secs = Date().timeIntervalSince(t0)
        if json {
            print(r.json())
            return
        }
        printErr("")
        print("model: \(m.name) (\(m.network.architecture)), data: \(data)")
        print("tokens: \(r.tokens) in \(r.windows) window(s) of \(r.context); scored \(r.scoredTokens) (each window's first token has no context)")
        print("scored text: \(r.characters) characters, \(r.bytes) bytes")
        print(String(format: "loss: %.4f nats/token", r.loss))
        print(String(format: "perplexity: %.4f", r.perplexity))
        print(String(format: "bits per character: %.4f", r.bitsPerCharacter))
        print(String(format: "bits per byte: %.4f", r.bitsPerByte))
        print(String(format: "time: %.1f s (%.0f tokens/s)", secs, Double(r.tokens) / max(secs, 1e-9)))
    }
}

/// Runs GenerationEval on a data file's first `limit` records, with a progress line on stderr unless `quiet`.
func evaluateExamples(name: String, model m: Model, data: String, limit: Int?, maxNewTokens: Int, threads: Int,
                      quiet: Bool) -> GenerationEvalResult {
    do {
        var records = try SFTData.load(path: data)
        var langs = try GenerationEval.languages(path: data)
        if langs.count != records.count { langs = Array(repeating: nil, count: records.count) }
        if let limit {
            guard limit >= 1 else { throw FinetuneError.config("--limit must be at least 1") }
            records = Array(records.prefix(limit))
            langs = Array(langs.prefix(limit))
        }
        guard !records.isEmpty else { throw FinetuneError.data(file: data, message: "no examples") }
        let prompt = try SFTPrompt(tokenizer: m.tokenizer, chatTemplate: m.chatTemplate)
        let r = try GenerationEval.evaluate(name: name, network: m.network, prompt: prompt, records: records, languages: langs,
                                            maxNewTokens: maxNewTokens, threads: threads) { done, total in
            if !quiet { FileHandle.standardError.write(Data("\r\(name): example \(done)/\(total)".utf8)) }
        }
        if !quiet { printErr("") }
        return r
    } catch { fail(error) }
}

/// A few lines of figures.
func describe(_ r: GenerationEvalResult) -> String {
    var out = "model: \(r.model): \(r.samples.count) examples" + (r.cutPrompts > 0 ? " (\(r.cutPrompts) prompts cut to the model's context)" : "") + "\n"
    out += String(format: "held-out loss: %.4f nats/token over %d response tokens, perplexity: %.4f, %.4f bits/byte\n",
                  r.loss, r.responseTokens, r.perplexity, r.bitsPerByte)
    out += String(format: "ROUGE-L F1: %.4f, exact match: %.4f\n", r.rougeL, r.exactMatch)
    let c = r.parseCounts
    let by = c.byLanguage.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.parsed)/\($0.value.checked)" }.joined(separator: ", ")
    let skipped = c.skipped.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
    out += "code that parses: " + (r.parseShare.map { String(format: "%.4f (%@)", $0, by) } ?? "none checked")
    if !skipped.isEmpty { out += " — skipped: \(skipped)" }
    out += String(format: "\ngeneration: %d tokens, %.1f tokens/s; total %.1f s", r.generatedTokens, r.tokensPerSecond, r.seconds)
    return out
}

/// Opens a GGUF model, with a LoRA adapter (PEFT folder or GGUF LoRA) applied at scale 1 when one is given.
func loadModel(_ path: String, adapter: String?) -> Model {
    let files: [(path: String, scale: Float)] = adapter.map { [(path: $0, scale: Float(1))] } ?? []
    do { return try Model(path: path, adapterFiles: files) } catch { fail(error) }
}
