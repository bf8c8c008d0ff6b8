// llmkit bench: prompt processing and generation speed, measured the way llama-bench measures them — pp: N random
// tokens through the model as one batch (in ubatches) from an empty cache; tg: N tokens one at a time — repeated
// -r times after a warm-up run, reported as mean ± standard deviation of tokens/s in llama-bench's table or JSON.
// --parallel N adds llama-batched-bench's generation test: N sequences decoding together, one token each per
// forward pass (one pass over the weights per step, as `llmkit serve --parallel N` runs them); t/s is the aggregate.
import ArgumentParser
import Foundation
import Formats
import Infer

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure prompt (pp) and generation (tg) speed, like llama-bench.")

    @Argument(help: "GGUF model file.") var model: String
    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens (0 to skip).") var nPrompt = 512
    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens (0 to skip).") var nGen = 128
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Repetitions.") var repetitions = 3
    @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Tokens per forward pass in pp (llama-bench's ubatch).") var batchSize = 512
    @Option(name: [.customShort("o"), .customLong("output")], help: "md (table) or json.") var output = "md"
    @Option(name: .customLong("parallel"), help: "Also generate with N sequences at once (aggregate t/s).") var parallel = 1

    func validate() throws {
        guard nPrompt >= 0, nGen >= 0, nPrompt + nGen > 0 else { throw ValidationError("-p and -n must be ≥ 0, not both 0") }
        guard threads > 0, repetitions > 0, batchSize > 0, parallel > 0 else {
            throw ValidationError("-t, -r, -b and --parallel must be positive")
        }
        guard output == "md" || output == "json" else { throw ValidationError("-o must be md or json") }
    }

    func run() throws {
        let m = loadModel(model)
        let net = m.network
        let ctx = max(nPrompt, nGen) + 1
        guard ctx <= net.trainedContextLength else {
            fail(ValidationError("-p/-n exceed the model's context length \(net.trainedContextLength)"))
        }
        let cache = net.makeCache(contextLength: ctx)
        let caches = parallel > 1 && nGen > 0 ? (0..<parallel).map { _ in net.makeCache(contextLength: nGen + 1) } : []
        var rng = SeededRandom(seed: 42)
        let vocab = m.tokenizer.vocabularySize

        func runPrompt() throws {
            cache.truncate(to: 0)
            let tokens = (0..<nPrompt).map { _ in Int(rng.next() % UInt64(vocab)) }
            var i = 0
            while i < tokens.count {
                let n = min(batchSize, tokens.count - i)
                _ = try net.forward(Array(tokens[i..<(i + n)]), cache: cache, outputs: i + n == tokens.count ? [n - 1] : [],
                                    threads: threads)
                i += n
            }
        }
        func runGen() throws {
            cache.truncate(to: 0)
            var tok = m.tokenizer.bos ?? 0
            for _ in 0..<nGen {
                _ = try net.forward([tok], cache: cache, outputs: [0], threads: threads)
                tok = Int(rng.next() % UInt64(vocab))
            }
        }
        func runParallelGen() throws {
            for c in caches { c.truncate(to: 0) }
            var toks = [Int](repeating: m.tokenizer.bos ?? 0, count: parallel)
            for _ in 0..<nGen {
                _ = try net.forward(zip(toks, caches).map { SequenceInput(tokens: [$0], cache: $1, outputs: [0]) }, emit: .logits,
                                    threads: threads)
                toks = toks.map { _ in Int(rng.next() % UInt64(vocab)) }
            }
        }

        var records: [(name: String, nPrompt: Int, nGen: Int, samples: [UInt64])] = []
        do {
            let tests: [(String, Int, Int, () throws -> Void)] = [("pp\(nPrompt)", nPrompt, 0, runPrompt), ("tg\(nGen)", 0, nGen, runGen)]
                + (caches.isEmpty ? [] : [("tg\(nGen) x\(parallel)", 0, nGen * parallel, runParallelGen)])
            for (name, np, ng, body) in tests {
                if np + ng == 0 { continue }
                try body()  // warm-up
                var samples: [UInt64] = []
                for _ in 0..<repetitions {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try body()
                    samples.append(DispatchTime.now().uptimeNanoseconds - t0)
                }
                records.append((name, np, ng, samples))
            }
        } catch { fail(error) }

        let fileSize = (try? FileManager.default.attributesOfItem(atPath: model)[.size] as? Int) ?? 0
        let params = m.file.tensors.reduce(0) { $0 + $1.elementCount }
        let ftype = m.file.metadata["general.file_type"]?.int.flatMap { LlamaFileTypeName.name($0) } ?? "?"
        let desc = "\(net.architecture) \(sizeLabel(params)) \(ftype)"
        func stats(_ r: (name: String, nPrompt: Int, nGen: Int, samples: [UInt64])) -> (Double, Double) {
            let ts = r.samples.map { Double(r.nPrompt + r.nGen) / (Double($0) / 1e9) }
            let mean = ts.reduce(0, +) / Double(ts.count)
            let sd = ts.count > 1 ? (ts.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(ts.count - 1)).squareRoot() : 0
            return (mean, sd)
        }
        if output == "json" {
            let rows: [JSON] = records.map { r in
                let (mean, sd) = stats(r)
                let ns = r.samples.map(Double.init)
                let avgNs = ns.reduce(0, +) / Double(ns.count)
                let sdNs = ns.count > 1 ? (ns.map { ($0 - avgNs) * ($0 - avgNs) }.reduce(0, +) / Double(ns.count - 1)).squareRoot() : 0
                return .object([
                    ("build_commit", .string("llmkit")), ("model_filename", .string(model)), ("model_type", .string(desc)),
                    ("model_size", .int(fileSize)), ("model_n_params", .int(params)), ("n_batch", .int(batchSize)),
                    ("n_ubatch", .int(batchSize)), ("n_threads", .int(threads)), ("type_k", .string("f16")),
                    ("type_v", .string("f16")), ("n_prompt", .int(r.nPrompt)), ("n_gen", .int(r.nGen)),
                    ("n_parallel", .int(r.name.hasSuffix(" x\(parallel)") ? parallel : 1)),
                    ("avg_ns", .int(Int(avgNs))), ("stddev_ns", .int(Int(sdNs))),
                    ("avg_ts", .double(mean)), ("stddev_ts", .double(sd)),
                    ("samples_ns", .array(r.samples.map { .int(Int($0)) })),
                    ("samples_ts", .array(r.samples.map { .double(Double(r.nPrompt + r.nGen) / (Double($0) / 1e9)) })),
                ])
            }
            print(JSON.array(rows).serialized(indent: 2))
            return
        }
        let header = ["model", "size", "params", "backend", "threads", "test", "t/s"]
        var lines = [header]
        for r in records {
            let (mean, sd) = stats(r)
            lines.append([desc, String(format: "%.2f MiB", Double(fileSize) / 1048576), sizeLabelM(params), "CPU", String(threads),
                          r.name, String(format: "%.2f ± %.2f", mean, sd)])
        }
        let widths = (0..<header.count).map { c in lines.map { $0[c].count }.max()! }
        let right: Set<Int> = [1, 2, 4, 5, 6]
        func row(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { c, s in
                let pad = String(repeating: " ", count: widths[c] - s.count)
                return right.contains(c) ? pad + s : s + pad
            }.joined(separator: " | ") + " |"
        }
        print(row(header))
        print("| " + widths.enumerated().map { c, w in
            right.contains(c) ? String(repeating: "-", count: w - 1) + ":" : String(repeating: "-", count: w)
        }.joined(separator: " | ") + " |")
        for l in lines.dropFirst() { print(row(l)) }
    }

    func sizeLabel(_ n: Int) -> String { n >= 1_000_000_000 ? String(format: "%.0fB", Double(n) / 1e9) : String(format: "%.0fM", Double(n) / 1e6) }
    func sizeLabelM(_ n: Int) -> String { n >= 1_000_000_000 ? String(format: "%.2f B", Double(n) / 1e9) : String(format: "%.2f M", Double(n) / 1e6) }
}

/// llama.cpp's short names of `general.file_type` values (llama_model_ftype_name).
enum LlamaFileTypeName {
    static func name(_ ftype: Int) -> String? {
        [0: "all F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K - Medium",
         11: "Q3_K - Small", 12: "Q3_K - Medium", 13: "Q3_K - Large", 14: "Q4_K - Small", 15: "Q4_K - Medium",
         16: "Q5_K - Small", 17: "Q5_K - Medium", 18: "Q6_K", 32: "BF16"][ftype]
    }
}
