// llmkit eval: loss (nats/token), perplexity, bits per character and bits per byte of a model on a text file,
// scored in non-overlapping windows of --ctx tokens (see Sources/Finetune/Eval/Evaluation.swift).
import ArgumentParser
import Finetune
import Foundation
import Infer

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate a model on a text: loss, perplexity, bits per character/byte.",
        discussion: """
            The text is tokenized with the model's tokenizer (BOS first if the model adds one) and cut into \
            non-overlapping windows of --ctx tokens, each run from an empty cache; every token but a window's \
            first is scored.
            """)

    @Argument(help: "GGUF model (llama or gpt2 architecture).") var model: String
    @Option(help: "UTF-8 text file to score.") var data: String
    @Option(help: "Tokens per window (default: the model's context, at most 512).") var ctx: Int?
    @Option(help: "Tokens per forward pass.") var batch = 512
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() throws {
        guard let bytes = FileManager.default.contents(atPath: data) else { fail(FinetuneError.data(file: data, message: "cannot read the file")) }
        guard let text = String(validating: bytes, as: UTF8.self) else { fail(FinetuneError.data(file: data, message: "not valid UTF-8")) }
        guard !text.isEmpty else { fail(FinetuneError.data(file: data, message: "the file is empty")) }
        let m: Model
        do { m = try Model(path: model) } catch { fail(error) }
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
