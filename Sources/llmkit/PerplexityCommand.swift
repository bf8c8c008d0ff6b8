// llmkit perplexity: perplexity of a model on a text file, computed as llama-perplexity computes it, so the figures
// compare: the text is tokenized (BOS where the model adds one), cut into chunks of -c tokens, each chunk run from
// an empty cache (its first token replaced by BOS when the model adds BOS), and only the second half of each chunk
// scored (every token there has at least c/2 tokens of context). Prints the running estimate per chunk and
// `Final estimate: PPL = X +/- Y`.
import ArgumentParser
import Foundation
import Infer

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity", abstract: "Perplexity of a model on a text file (as llama-perplexity).")

    @Argument(help: "GGUF model file.") var model: String
    @Argument(help: "UTF-8 text file.") var file: String
    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Tokens per chunk.") var ctx = 512
    @Option(help: "Chunks to score (default: all).") var chunks: Int?
    @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Tokens per forward pass.") var batchSize = 512
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var adapterOptions: AdapterOptions

    func validate() throws {
        guard ctx >= 4, ctx % 2 == 0 else { throw ValidationError("-c must be an even number ≥ 4") }
        guard batchSize > 0, threads > 0 else { throw ValidationError("-b and -t must be positive") }
    }

    func run() throws {
        let m = loadModel(model, adapters: adapterOptions)
        guard let data = FileManager.default.contents(atPath: file) else { fail(ValidationError("cannot read \(file)")) }
        let text = String(decoding: data, as: UTF8.self)
        let tok = m.tokenizer
        var tokens = tok.encode(text, addSpecial: true, parseSpecial: false)
        let addBOS = tok.addsBOS && tok.bos != nil
        let nChunkMax = tokens.count / ctx
        guard nChunkMax > 0 else {
            fail(ValidationError("\(file) has \(tokens.count) tokens; need at least \(ctx) (-c)"))
        }
        let nChunk = min(chunks ?? nChunkMax, nChunkMax)
        printErr("perplexity: \(tokens.count) tokens, \(nChunk) chunks of \(ctx), scoring the second half of each")
        let net = m.network
        let vocab = net.vocabularySize
        let cache = net.makeCache(contextLength: ctx)
        let first = ctx / 2
        var nll = 0.0, nll2 = 0.0, count = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            for i in 0..<nChunk {
                let start = i * ctx
                cache.truncate(to: 0)
                let saved = tokens[start]
                if addBOS { tokens[start] = tok.bos! }
                var logits: [Float] = []
                var j = 0
                while j < ctx {
                    let n = min(batchSize, ctx - j)
                    let outputs = (0..<n).filter { j + $0 >= first }
                    logits += try net.forward(Array(tokens[(start + j)..<(start + j + n)]), cache: cache, outputs: outputs, threads: threads)
                    j += n
                }
                tokens[start] = saved
                // logits row r ↔ position first + r, predicting token start + first + r + 1.
                logits.withUnsafeBufferPointer { lp in
                    for r in 0..<(ctx - 1 - first) {
                        let row = UnsafeBufferPointer(rebasing: lp[(r * vocab)..<((r + 1) * vocab)])
                        let v = PerplexityCommand.logSoftmax(row, tokens[start + first + r + 1])
                        nll -= v
                        nll2 += v * v
                    }
                }
                count += ctx - 1 - first
                FileHandle.standardOutput.write(Data(String(format: "[%d]%.4f,", i + 1, exp(nll / Double(count))).utf8))
                if i == 0 {
                    let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                    printErr(String(format: "perplexity: %.2f seconds per pass - ETA %.1f minutes", secs, secs * Double(nChunk) / 60))
                }
            }
        } catch { fail(error) }
        print()
        let mean = nll / Double(count)
        let ppl = exp(mean)
        let variance = nll2 / Double(count) - mean * mean
        if variance > 0 {
            let err = (variance / Double(count - 1)).squareRoot() * ppl
            print(String(format: "Final estimate: PPL = %.4f +/- %.5f", ppl, err))
        } else {
            print(String(format: "Final estimate: PPL = %.4f", ppl))
        }
    }

    /// log p(tok) under softmax(logits), as llama-perplexity's log_softmax: max-shifted, exponentials (expf) summed
    /// in double.
    static func logSoftmax(_ logits: UnsafeBufferPointer<Float>, _ tok: Int) -> Double {
        var mx = logits[0]
        for v in logits { mx = max(mx, v) }
        var sum = 0.0
        for v in logits { sum += Double(expf(v - mx)) }
        return Double(logits[tok] - mx) - log(sum)
    }
}
