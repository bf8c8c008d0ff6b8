// llmkit dev generate: greedy continuation of given token ids, printed as JSON with the per-step top-1 minus
// top-2 logit margins — the shape of the llama.cpp references in ../shared/reference/greedy-*.json. Several
// --ids prompts are prefilled one by one and then decoded together, one batched forward pass per step (the
// server's continuous batching); one JSON line per prompt, in order.
import ArgumentParser
import Foundation
import Formats
import Infer

struct DevGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Greedy continuation of token ids (JSON: ids, margins, first-step top 5).")

    @Argument(help: "GGUF model.") var model: String
    @Option(help: "Prompt token ids, comma-separated (repeat for several prompts decoded as one batch).") var ids: [String]
    @Option(name: .shortAndLong, help: "Tokens to generate.") var n = 64
    @Option(name: .shortAndLong, help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Context length.") var ctx = 1024
    @Option(help: "KV cache type: f16 or f32.") var cacheType = "f16"
    @Option(help: "Write the logits of every prompt position here, then those of each decode step after the first (raw little-endian F32, rows × vocabulary).")
    var logitsOut: String?
    @OptionGroup var adapterOptions: AdapterOptions

    func run() throws {
        do {
            let prompts = try ids.map { list in
                try list.split(separator: ",").map { s -> Int in
                    guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad id '\(s)'") }
                    return v
                }
            }
            guard !prompts.isEmpty, prompts.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("--ids needs at least one id") }
            guard logitsOut == nil || prompts.count == 1 else { throw ValidationError("--logits-out takes a single --ids prompt") }
            guard let precision = KVCache.Precision(rawValue: cacheType) else { throw ValidationError("--cache-type must be f16 or f32") }
            let g = try GGUFFile(path: model)
            let adapters = try adapterOptions.files.map { (adapter: try LoRAAdapter.read(path: $0.path, base: g), scale: $0.scale) }
            let net = try Model.network(g, adapters: adapters)
            let caches = prompts.map { _ in net.makeCache(contextLength: ctx, precision: precision) }
            var rows: [Float] = []
            if logitsOut != nil {
                rows = try net.forward(prompts[0], cache: caches[0], outputs: Array(prompts[0].indices), threads: threads)
                caches[0].truncate(to: 0)
            }
            var logits = try zip(prompts, caches).map { p, c in try net.forward(p, cache: c, outputs: [p.count - 1], threads: threads) }
            let top5 = logits.map { l in
                l.indices.sorted { l[$0] > l[$1] }.prefix(5).map { i in JSON.object([("id", .int(i)), ("logit", JSON.float(l[i]))]) }
            }
            var out = prompts.map { _ in [Int]() }, margins = prompts.map { _ in [Float]() }
            for step in 0..<n {
                for (s, l) in logits.enumerated() {
                    var best = 0, a = -Float.infinity, b = -Float.infinity
                    for (i, v) in l.enumerated() {
                        if v > a { b = a; a = v; best = i } else if v > b { b = v }
                    }
                    out[s].append(best)
                    margins[s].append(a - b)
                }
                if step + 1 < n {
                    let inputs = caches.indices.map { SequenceInput(tokens: [out[$0].last!], cache: caches[$0], outputs: [0]) }
                    logits = try net.forward(inputs, emit: .logits, threads: threads)
                    if logitsOut != nil { rows += logits[0] }  // the decode path's own logits (the server's)
                }
            }
            if let logitsOut { try rows.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: logitsOut)) } }
            for s in prompts.indices {
                let json = JSON.object([("ids", .array(out[s].map { .int($0) })), ("margins", .array(margins[s].map { JSON.float($0) })),
                                        ("first_step_top5", .array(top5[s]))])
                print(json.serialized())
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            fail(error)
        }
    }
}
