// llmkit dev generate: greedy continuation of given token ids, printed as JSON with the per-step top-1 minus
// top-2 logit margins — the shape of the llama.cpp references in ../shared/reference/greedy-*.json.
import ArgumentParser
import Foundation
import Formats
import Infer

struct DevGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Greedy continuation of token ids (JSON: ids, margins, first-step top 5).")

    @Argument(help: "GGUF model.") var model: String
    @Option(help: "Prompt token ids, comma-separated.") var ids: String
    @Option(name: .shortAndLong, help: "Tokens to generate.") var n = 64
    @Option(name: .shortAndLong, help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Context length.") var ctx = 1024
    @Option(help: "KV cache type: f16 or f32.") var cacheType = "f16"
    @Option(help: "Write the logits of every prompt position here (raw little-endian F32, positions × vocabulary).")
    var logitsOut: String?

    func run() throws {
        do {
            let prompt = try ids.split(separator: ",").map { s -> Int in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad id '\(s)'") }
                return v
            }
            guard let precision = KVCache.Precision(rawValue: cacheType) else { throw ValidationError("--cache-type must be f16 or f32") }
            let net = try Model.network(try GGUFFile(path: model))
            let cache = net.makeCache(contextLength: ctx, precision: precision)
            if let logitsOut {
                let all = try net.forward(prompt, cache: cache, outputs: Array(prompt.indices), threads: threads)
                try all.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: logitsOut)) }
                cache.truncate(to: 0)
            }
            var logits = try net.forward(prompt, cache: cache, outputs: [prompt.count - 1], threads: threads)
            let top5 = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5).map { i in
                JSON.object([("id", .int(i)), ("logit", JSON.float(logits[i]))])
            }
            var out: [Int] = [], margins: [Float] = []
            for step in 0..<n {
                var best = 0, a = -Float.infinity, b = -Float.infinity
                for (i, v) in logits.enumerated() {
                    if v > a { b = a; a = v; best = i } else if v > b { b = v }
                }
                out.append(best)
                margins.append(a - b)
                if step + 1 < n { logits = try net.forward([best], cache: cache, outputs: [0], threads: threads) }
            }
            let json = JSON.object([("ids", .array(out.map { .int($0) })), ("margins", .array(margins.map { JSON.float($0) })),
                                    ("first_step_top5", .array(top5))])
            print(json.serialized())
        } catch let e as ValidationError {
            throw e
        } catch {
            fail(error)
        }
    }
}
