// Context shift (KVCache.shift) on a small random llama with Llama 3 rope_freqs: moved keys equal the keys the model
// computes at their new positions (within F16 rounding) and a float64 rotation by −discard rounded to F16; values
// move exactly; the next token's logits over a shifted cache equal those over a cache built fresh from the kept
// tokens; GPT-2 (learned positions) has no RoPE and the Generator stops at a full context instead.
import Foundation
import Testing
@testable import Formats
@testable import Infer
import Quant

@Suite struct ContextShiftTests {
    static let dim = 32, heads = 4, kvHeads = 2, headDim = 8
    static let factors: [Float] = [1, 1.5, 4, 8]  // per rotating pair, as Llama 3.1's rope_freqs.weight

    /// A llama GGUF of `layers` blocks with F32 weights, rope base 500000 and rope_freqs; no tokenizer.
    static func model(_ dir: String, layers: Int) throws -> any LanguageModel {
        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        for (k, v) in [("block_count", layers), ("context_length", 256), ("embedding_length", dim), ("feed_forward_length", 64),
                       ("attention.head_count", heads), ("attention.head_count_kv", kvHeads)] { md["llama.\(k)"] = .uint32(UInt32(v)) }
        md["llama.attention.layer_norm_rms_epsilon"] = .float32(1e-5)
        md["llama.rope.freq_base"] = .float32(500000)
        var t: [(String, [Int])] = [("token_embd.weight", [dim, 50]), ("output_norm.weight", [dim]), ("rope_freqs.weight", [headDim / 2])]
        for l in 0..<layers {
            let p = "blk.\(l)."
            t += [(p + "attn_norm.weight", [dim]), (p + "attn_q.weight", [dim, dim]), (p + "attn_k.weight", [dim, kvHeads * headDim]),
                  (p + "attn_v.weight", [dim, kvHeads * headDim]), (p + "attn_output.weight", [dim, dim]), (p + "ffn_norm.weight", [dim]),
                  (p + "ffn_gate.weight", [dim, 64]), (p + "ffn_up.weight", [dim, 64]), (p + "ffn_down.weight", [64, dim])]
        }
        let specs = try t.map { try GGUFTensorSpec(name: $0.0, type: .f32, dims: $0.1) }
        let path = dir + "/m\(layers).gguf"
        try GGUFWriter(metadata: md, tensors: specs).write(to: path) { i, sink in
            if specs[i].name == "rope_freqs.weight" { try sink.write(contentsOf: factors); return }
            try sink.write(contentsOf: LoRATests.values(specs[i].byteCount / 4, seed: UInt64(i + 3)).map { $0 * 0.5 })
        }
        return try Model.network(try GGUFFile(path: path))
    }

    static func withDir<T>(_ body: (String) throws -> T) throws -> T {
        let dir = NSTemporaryDirectory() + "llmkit-shift-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }

    static let tokens = (0..<23).map { ($0 * 17 + 5) % 50 }

    /// A cache holding `tokens` run through `net`, in one prompt batch then one token at a time.
    static func filled(_ net: any LanguageModel, _ tokens: [Int], _ precision: KVCache.Precision, ctx: Int = 24) throws -> KVCache {
        let c = net.makeCache(contextLength: ctx, precision: precision)
        _ = try net.forward(Array(tokens.prefix(5)), cache: c, outputs: [], threads: 2)
        for t in tokens.dropFirst(5) { _ = try net.forward([t], cache: c, outputs: [0], threads: 2) }
        return c
    }

    static func key(_ c: KVCache, _ l: Int, _ pos: Int) -> [Float] {
        (0..<c.kvDim).map { d in
            c.precision == .f16 ? halfToFloat(c.keyRow(l, pos).load(fromByteOffset: 2 * d, as: UInt16.self))
                                : c.keyRow(l, pos).load(fromByteOffset: 4 * d, as: Float.self)
        }
    }

    static func value(_ c: KVCache, _ l: Int, _ pos: Int) -> [Float] {
        (0..<c.kvDim).map { d in
            c.precision == .f16 ? halfToFloat(c.valueRow(l, d).load(fromByteOffset: 2 * pos, as: UInt16.self))
                                : c.valueRow(l, d).load(fromByteOffset: 4 * pos, as: Float.self)
        }
    }

    /// One F16 ulp at |x| (normal range).
    static func ulp(_ x: Float) -> Float {
        let h = floatToHalf(abs(x))
        return halfToFloat(h + 1) - halfToFloat(h)
    }

    @Test(arguments: [KVCache.Precision.f16, .f32])
    func shiftedKeysEqualKeysAtTheNewPositions(precision: KVCache.Precision) throws {
        try Self.withDir { dir in
            let net = try Self.model(dir, layers: 2)
            let (keep, discard) = (3, 7)
            let a = try Self.filled(net, Self.tokens, precision)
            let before = (0..<2).map { l in (0..<a.count).map { Self.key(a, l, $0) } }
            let valuesBefore = (0..<2).map { l in (0..<a.count).map { Self.value(a, l, $0) } }
            a.shift(keep: keep, discard: discard, rope: net.rope!)
            #expect(a.count == Self.tokens.count - discard)
            let kept = Array(Self.tokens.prefix(keep)) + Array(Self.tokens[(keep + discard)...])
            let fresh = try Self.filled(net, kept, precision)
            // Layer 0's keys and values depend on the token alone: the shifted keys are the keys at the new
            // positions up to F16 rounding (twice rounded vs once), the values are the same bits.
            var worst: Float = 0
            for p in 0..<a.count {
                let (k, f) = (Self.key(a, 0, p), Self.key(fresh, 0, p))
                for i in 0..<k.count {
                    let pairMax = max(abs(f[i & ~1]), abs(f[i | 1]))
                    let unit = precision == .f16 ? Self.ulp(pairMax) : pairMax * 1e-6 + 1e-30
                    worst = max(worst, abs(k[i] - f[i]) / unit)
                }
                #expect(Self.value(a, 0, p) == Self.value(fresh, 0, p), "value row \(p)")
            }
            #expect(worst <= 2, "layer 0 keys: \(worst) ulps from the keys computed at the new positions")
            // Every layer: kept rows untouched, moved rows = float64 rotation of the old key by −discard positions,
            // rounded to the cache's type; values moved as they are; the freed tail zeroed.
            let rope = net.rope!
            var off = 0, exact = 0, total = 0
            for l in 0..<2 {
                for p in 0..<keep { #expect(Self.key(a, l, p) == before[l][p]) }
                for p in keep..<a.count {
                    let old = before[l][p + discard], got = Self.key(a, l, p)
                    for h in 0..<rope.kvHeads {
                        for i in stride(from: 0, to: rope.nDims, by: 2) {
                            let theta = Double(-discard) * pow(Double(rope.base), -Double(i) / Double(rope.nDims))
                                / Double(Self.factors[i / 2])
                            let (x0, x1) = (Double(old[h * rope.headDim + i]), Double(old[h * rope.headDim + i + 1]))
                            let want = [x0 * cos(theta) - x1 * sin(theta), x0 * sin(theta) + x1 * cos(theta)].map {
                                precision == .f16 ? halfToFloat(floatToHalf(Float($0))) : Float($0)
                            }
                            // F16: one ulp of the answer (the F32 arithmetic may round the other way); F32: the
                            // float angles and fused multiply-adds, relative to the pair's size.
                            let pairMax = max(abs(x0), abs(x1))
                            for j in 0..<2 {
                                let g = got[h * rope.headDim + i + j]
                                total += 1
                                if g == want[j] { exact += 1; continue }
                                let unit = precision == .f16 ? Self.ulp(want[j]) : Float(pairMax) * 2e-6
                                if abs(g - want[j]) > unit { off += 1 }
                            }
                        }
                    }
                    #expect(Self.value(a, l, p) == valuesBefore[l][p + discard], "layer \(l) value \(p)")
                }
                for p in a.count..<(a.count + discard) {
                    #expect(Self.key(a, l, p).allSatisfy { $0 == 0 } && Self.value(a, l, p).allSatisfy { $0 == 0 })
                }
            }
            #expect(off == 0, "\(off) of \(total) rotated elements more than one ulp from the float64 rotation")
            if precision == .f16 { #expect(Double(exact) >= 0.9 * Double(total), "only \(exact) of \(total) exact") }
        }
    }

    @Test func logitsOverAShiftedCacheEqualAFreshCache() throws {
        try Self.withDir { dir in
            // One layer: every key/value depends on its token alone, so a fresh cache of the kept tokens is the
            // exact reference (with more layers the kept tokens' deeper keys remember what was dropped).
            let net = try Self.model(dir, layers: 1)
            for (keep, discard) in [(0, 11), (4, 9), (1, 1)] {
                let a = try Self.filled(net, Self.tokens, .f16, ctx: 32)
                a.shift(keep: keep, discard: discard, rope: net.rope!)
                let kept = Array(Self.tokens.prefix(keep)) + Array(Self.tokens[(keep + discard)...])
                let fresh = try Self.filled(net, kept, .f16, ctx: 32)
                var la: [Float] = [], lf: [Float] = []
                for t in [7, 31, 2] {  // three more tokens decoded after the shift
                    la = try net.forward([t], cache: a, outputs: [0], threads: 2)
                    lf = try net.forward([t], cache: fresh, outputs: [0], threads: 2)
                }
                let diff = zip(la, lf).map { abs($0 - $1) }.max()!, scale = lf.map(abs).max()!
                #expect(diff <= 2e-3 * scale, "keep \(keep) discard \(discard): logits differ by \(diff) (max |logit| \(scale))")
                #expect(la.indices.max { la[$0] < la[$1] } == lf.indices.max { lf[$0] < lf[$1] })
            }
        }
    }

    @Test func gptHasNoRoPEAndStopsAtAFullContext() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let m = try Model(path: root.appendingPathComponent("models/tiny.gguf").path)
        #expect(m.network.rope == nil)
        var o = GenerationOptions()
        o.sampling.temperature = 0
        o.ignoreEOS = true
        o.shiftKeep = 0
        o.threads = 2
        let cache = m.network.makeCache(contextLength: 16)
        let g = try Generator(model: m.network, tokenizer: m.tokenizer, cache: cache, prompt: m.tokenizer.encode("The ", addSpecial: true, parseSpecial: false), options: o)
        while try g.next() != nil {}
        #expect(g.finishReason == .length && g.shifts.isEmpty && cache.count == 16)
    }
}
