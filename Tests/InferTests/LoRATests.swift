// LoRA at inference: a matrix with adapter deltas computes x·Wᵀ + Σ s·(x·Aᵀ)·Bᵀ (checked against a dense product in
// Double on odd sizes), and the loader refuses what it cannot apply.
import Foundation
import Testing
@testable import Formats
@testable import Infer

@Suite struct LoRATests {
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed | 1
        return (0..<n).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(s % 2001) / 1000 - 1
        }
    }

    @Test(arguments: [(1, 7, 33, 1), (3, 17, 31, 2), (5, 32, 64, 8)])
    func deltasAddUp(T: Int, rows: Int, cols: Int, rank: Int) {
        let w = Self.values(rows * cols, seed: 1), x = Self.values(T * cols, seed: 2)
        let a1 = Self.values(rank * cols, seed: 3), b1 = Self.values(rows * rank, seed: 4)
        let a2 = Self.values(cols, seed: 5), b2 = Self.values(rows, seed: 6)  // a second adapter of rank 1
        let (s1, s2): (Float, Float) = (0.75, -2)
        var y = [Float](repeating: 0, count: T * rows)
        w.withUnsafeBytes { wp in
            var l = Linear(name: "w", type: .f32, data: wp.baseAddress!, rows: rows, cols: cols)
            l.deltas = [LoRADelta(rank: rank, a: a1, b: b1, scale: s1), LoRADelta(rank: 1, a: a2, b: b2, scale: s2)]
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in l(xp.baseAddress!, T, yp.baseAddress!, threads: 2) } }
        }
        var worst = 0.0
        for t in 0..<T {
            for o in 0..<rows {
                var acc = 0.0
                for i in 0..<cols {
                    var wi = Double(w[o * cols + i])
                    for r in 0..<rank { wi += Double(s1) * Double(b1[o * rank + r]) * Double(a1[r * cols + i]) }
                    wi += Double(s2) * Double(b2[o]) * Double(a2[i])
                    acc += wi * Double(x[t * cols + i])
                }
                worst = max(worst, abs(acc - Double(y[t * rows + o])) / max(1, abs(acc)))
            }
        }
        #expect(worst < 1e-5, "max relative error \(worst)")
    }

    /// A 1-block llama GGUF with F32 weights and no tokenizer (enough for Model.network).
    static func tinyLlama(_ dir: String) throws -> String {
        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        for (k, v) in [("block_count", 1), ("context_length", 64), ("embedding_length", 32), ("feed_forward_length", 64),
                       ("attention.head_count", 4), ("attention.head_count_kv", 2)] { md["llama.\(k)"] = .uint32(UInt32(v)) }
        md["llama.attention.layer_norm_rms_epsilon"] = .float32(1e-5)
        let t: [(String, [Int])] = [("token_embd.weight", [32, 50]), ("blk.0.attn_norm.weight", [32]), ("blk.0.attn_q.weight", [32, 32]),
                                    ("blk.0.attn_k.weight", [32, 16]), ("blk.0.attn_v.weight", [32, 16]), ("blk.0.attn_output.weight", [32, 32]),
                                    ("blk.0.ffn_norm.weight", [32]), ("blk.0.ffn_gate.weight", [32, 64]), ("blk.0.ffn_up.weight", [32, 64]),
                                    ("blk.0.ffn_down.weight", [64, 32]), ("output_norm.weight", [32])]
        let specs = try t.map { try GGUFTensorSpec(name: $0.0, type: .f32, dims: $0.1) }
        try GGUFWriter(metadata: md, tensors: specs).write(to: dir + "/m.gguf") { i, sink in
            try sink.write(contentsOf: Self.values(specs[i].byteCount / 4, seed: UInt64(i + 10)).map { $0 * 0.2 })
        }
        return dir + "/m.gguf"
    }

    @Test func modelAppliesAndRefusesAdapters() throws {
        let dir = NSTemporaryDirectory() + "llmkit-lora-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let g = try GGUFFile(path: try Self.tinyLlama(dir))
        let pair = LoRAAdapter.Pair(rank: 2, inFeatures: 32, outFeatures: 16, a: Self.values(64, seed: 7), b: Self.values(32, seed: 8))
        let ad = LoRAAdapter(pairs: ["blk.0.attn_v.weight": pair], alpha: 4)
        func logits(_ adapters: [(adapter: LoRAAdapter, scale: Float)]) throws -> [Float] {
            let net = try Model.network(g, adapters: adapters)
            return try net.forward([3, 9, 27], cache: net.makeCache(contextLength: 16, precision: .f32), outputs: [2], threads: 1)
        }
        let base = try logits([])
        #expect(try logits([(ad, 0)]) == base)
        let with = try logits([(ad, 1)])
        #expect(zip(with, base).map { abs($0 - $1) }.max()! > 1e-3)
        // Two halves of the update as two adapters equal the whole one.
        let half = try logits([(ad, 0.5), (ad, 0.5)])
        #expect(zip(with, half).map { abs($0 - $1) }.max()! < 1e-4)

        var wrong = ad
        wrong.pairs = ["blk.0.attn_v.weight": .init(rank: 2, inFeatures: 32, outFeatures: 32, a: pair.a, b: Self.values(64, seed: 9))]
        #expect(throws: InferError.self) { try logits([(wrong, 1)]) }
        wrong.pairs = ["token_embd.weight": .init(rank: 2, inFeatures: 32, outFeatures: 50, a: pair.a, b: Self.values(100, seed: 9))]
        #expect(throws: InferError.self) { try logits([(wrong, 1)]) }
        wrong.pairs = ["blk.1.attn_v.weight": pair]
        #expect(throws: InferError.self) { try logits([(wrong, 1)]) }
    }
}
