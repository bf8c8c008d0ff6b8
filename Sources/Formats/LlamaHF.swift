// LlamaHF: the one place that knows how a Hugging Face LlamaForCausalLM checkpoint maps onto llama.cpp's
// GGUF layout: config.json ⇄ `llama.*` keys, tensor names, the q/k row permutation llama.cpp's
// converter applies for its rope layout, and Llama 3.1 rope scaling as the `rope_freqs.weight` tensor.

import Foundation

/// The hyperparameters of a Llama checkpoint, from HF config.json or GGUF `llama.*` keys.
public struct LlamaHyperparameters: Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    /// True when config.json stated head_dim (then llama.cpp writes key/value_length).
    public var explicitHeadDim: Bool
    public var contextLength: Int
    public var vocabSize: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var tieWordEmbeddings: Bool
    public var ropeScaling: RopeScaling?
    public var bosTokenID: Int?
    /// One or several ids (Llama 3.1 lists three).
    public var eosTokenIDs: [Int]
    public var padTokenID: Int?
    public var torchDtype: String?
    public var name: String?

    public enum RopeScaling: Sendable, Equatable {
        /// Llama 3.x: per-frequency factors (stored in GGUF as `rope_freqs.weight`).
        case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalContext: Int)
        case linear(factor: Double)
    }

    /// Parses and validates a Hugging Face config.json of a LlamaForCausalLM.
    public init(configPath path: String) throws {
        guard let c = try JSON.parseFile(path) as? [String: Any] else {
            throw FormatError.json(file: path, message: "config.json must be an object")
        }
        func int(_ k: String) throws -> Int {
            guard let v = JSON.int(c[k]) else { throw FormatError.missing(file: path, field: k) }
            guard v > 0 else { throw FormatError.invalid(file: path, field: k, value: String(v), reason: "must be positive") }
            return v
        }
        func optInt(_ k: String) -> Int? { JSON.int(c[k]) }
        if let arch = (c["architectures"] as? [Any])?.first as? String, arch != "LlamaForCausalLM" {
            throw FormatError.unsupported(file: path, what: "architecture \(arch) (llmkit converts LlamaForCausalLM)")
        }
        hiddenSize = try int("hidden_size")
        intermediateSize = try int("intermediate_size")
        layerCount = try int("num_hidden_layers")
        headCount = try int("num_attention_heads")
        kvHeadCount = optInt("num_key_value_heads") ?? headCount
        explicitHeadDim = optInt("head_dim") != nil
        headDim = optInt("head_dim") ?? hiddenSize / headCount
        contextLength = try int("max_position_embeddings")
        vocabSize = try int("vocab_size")
        rmsNormEps = JSON.double(c["rms_norm_eps"]) ?? 1e-6
        ropeTheta = JSON.double(c["rope_theta"]) ?? 10000
        tieWordEmbeddings = JSON.bool(c["tie_word_embeddings"]) ?? false
        bosTokenID = optInt("bos_token_id")
        if let e = c["eos_token_id"] as? [Any] { eosTokenIDs = e.compactMap { JSON.int($0) } }
        else { eosTokenIDs = optInt("eos_token_id").map { [$0] } ?? [] }
        padTokenID = optInt("pad_token_id")
        torchDtype = (c["torch_dtype"] ?? c["dtype"]) as? String
        name = nil
        guard kvHeadCount > 0, headCount % kvHeadCount == 0 else {
            throw FormatError.invalid(file: path, field: "num_key_value_heads", value: String(kvHeadCount),
                                      reason: "must divide num_attention_heads (\(headCount))")
        }
        guard headDim > 0, headDim % 2 == 0 else {
            throw FormatError.invalid(file: path, field: "head_dim", value: String(headDim), reason: "must be even and positive")
        }
        if let rs = c["rope_scaling"] as? [String: Any] {
            let type = ((rs["rope_type"] ?? rs["type"]) as? String ?? "").lowercased()
            let factor = JSON.double(rs["factor"]) ?? 8.0
            switch type {
            case "llama3":
                // llama.cpp's converter reads original_max_position_embeddings from the top level
                // (default 8192); real Llama 3.x configs put 8192 inside rope_scaling, same value.
                let old = optInt("original_max_position_embeddings") ?? JSON.int(rs["original_max_position_embeddings"]) ?? 8192
                ropeScaling = .llama3(factor: factor, lowFreqFactor: JSON.double(rs["low_freq_factor"]) ?? 1,
                                      highFreqFactor: JSON.double(rs["high_freq_factor"]) ?? 4, originalContext: old)
            case "linear":
                ropeScaling = .linear(factor: factor)
            case "", "default":
                ropeScaling = nil
            default:
                throw FormatError.unsupported(file: path, what: "rope_scaling type \(type)")
            }
        } else {
            ropeScaling = nil
        }
    }

    /// Reads the hyperparameters back from GGUF `llama.*` keys (and the `rope_freqs.weight` tensor).
    public init(gguf g: GGUFFile) throws {
        let md = g.metadata
        guard let arch = md["general.architecture"]?.string else { throw FormatError.missing(file: g.path, field: "general.architecture") }
        guard arch == "llama" else {
            throw FormatError.unsupported(file: g.path, what: "architecture \(arch) (llmkit converts llama)")
        }
        func int(_ k: String) throws -> Int {
            guard let v = md["llama." + k]?.int, v > 0 else { throw FormatError.missing(file: g.path, field: "llama." + k) }
            return v
        }
        hiddenSize = try int("embedding_length")
        intermediateSize = try int("feed_forward_length")
        layerCount = try int("block_count")
        headCount = try int("attention.head_count")
        kvHeadCount = md["llama.attention.head_count_kv"]?.int ?? headCount
        let kl = md["llama.attention.key_length"]?.int
        headDim = kl ?? md["llama.rope.dimension_count"]?.int ?? hiddenSize / headCount
        explicitHeadDim = kl != nil
        contextLength = try int("context_length")
        let tokens = md["tokenizer.ggml.tokens"]?.array?.count
        vocabSize = md["llama.vocab_size"]?.int ?? tokens ?? g.tensor(named: "token_embd.weight")?.dims.last ?? 0
        rmsNormEps = md["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-5
        ropeTheta = md["llama.rope.freq_base"]?.double ?? 10000
        tieWordEmbeddings = g.tensor(named: "output.weight") == nil
        bosTokenID = md["tokenizer.ggml.bos_token_id"]?.int
        eosTokenIDs = md["tokenizer.ggml.eos_token_id"]?.int.map { [$0] } ?? []
        padTokenID = md["tokenizer.ggml.padding_token_id"]?.int
        torchDtype = nil
        name = md["general.name"]?.string
        guard kvHeadCount > 0, headCount % kvHeadCount == 0, headDim % 2 == 0 else {
            throw FormatError.invalid(file: g.path, field: "llama.attention.head_count_kv", value: String(kvHeadCount),
                                      reason: "must divide head_count (\(headCount)) with an even head size")
        }
        ropeScaling = nil
        if md["llama.rope.scaling.type"]?.string == "linear", let f = md["llama.rope.scaling.factor"]?.double {
            ropeScaling = .linear(factor: f)
        }
        if let t = g.tensor(named: "rope_freqs.weight") {
            guard t.type == .f32, t.elementCount == headDim / 2 else {
                throw FormatError.invalid(file: g.path, field: "rope_freqs.weight", value: "\(t.type) \(t.dims)",
                                          reason: "expected F32 [\(headDim / 2)]")
            }
            let factors = Array(g.data(of: t).bindMemory(to: Float.self))
            ropeScaling = LlamaHF.fitLlama3Scaling(factors: factors, base: ropeTheta, dim: headDim)
        }
    }

    /// The `llama.*` GGUF keys llama.cpp's converter writes for this model, in its order.
    public func ggufKeys() -> [(String, GGUFValue)] {
        var kv: [(String, GGUFValue)] = [
            ("llama.block_count", .uint32(UInt32(layerCount))),
            ("llama.context_length", .uint32(UInt32(contextLength))),
            ("llama.embedding_length", .uint32(UInt32(hiddenSize))),
            ("llama.feed_forward_length", .uint32(UInt32(intermediateSize))),
            ("llama.attention.head_count", .uint32(UInt32(headCount))),
            ("llama.attention.head_count_kv", .uint32(UInt32(kvHeadCount))),
            ("llama.rope.freq_base", .float32(Float(ropeTheta))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(Float(rmsNormEps))),
        ]
        if explicitHeadDim {
            kv.append(("llama.attention.key_length", .uint32(UInt32(headDim))))
            kv.append(("llama.attention.value_length", .uint32(UInt32(headDim))))
        }
        kv.append(("llama.vocab_size", .uint32(UInt32(vocabSize))))
        kv.append(("llama.rope.dimension_count", .uint32(UInt32(headDim))))
        if case let .linear(f) = ropeScaling {
            kv.append(("llama.rope.scaling.type", .string("linear")))
            kv.append(("llama.rope.scaling.factor", .float32(Float(f))))
        }
        return kv
    }

    /// config.json for transformers' LlamaForCausalLM.
    public func configJSON(torchDtype: String) -> JSON {
        var rope: JSON = .null
        switch ropeScaling {
        case let .llama3(f, lo, hi, old)?:
            rope = .object([("factor", .double(f)), ("high_freq_factor", .double(hi)), ("low_freq_factor", .double(lo)),
                            ("original_max_position_embeddings", .int(old)), ("rope_type", .string("llama3"))])
        case let .linear(f)?:
            rope = .object([("factor", .double(f)), ("rope_type", .string("linear")), ("type", .string("linear"))])
        case nil: break
        }
        let eos: JSON = eosTokenIDs.count == 1 ? .int(eosTokenIDs[0]) : eosTokenIDs.isEmpty ? .null : .array(eosTokenIDs.map { .int($0) })
        return .object([
            ("architectures", .array([.string("LlamaForCausalLM")])),
            ("attention_bias", .bool(false)),
            ("attention_dropout", .double(0)),
            ("bos_token_id", bosTokenID.map { .int($0) } ?? .null),
            ("eos_token_id", eos),
            ("head_dim", .int(headDim)),
            ("hidden_act", .string("silu")),
            ("hidden_size", .int(hiddenSize)),
            ("initializer_range", .double(0.02)),
            ("intermediate_size", .int(intermediateSize)),
            ("max_position_embeddings", .int(contextLength)),
            ("mlp_bias", .bool(false)),
            ("model_type", .string("llama")),
            ("num_attention_heads", .int(headCount)),
            ("num_hidden_layers", .int(layerCount)),
            ("num_key_value_heads", .int(kvHeadCount)),
            ("pad_token_id", padTokenID.map { .int($0) } ?? .null),
            ("pretraining_tp", .int(1)),
            ("rms_norm_eps", JSON.float(Float(rmsNormEps))),
            ("rope_scaling", rope),
            ("rope_theta", JSON.float(Float(ropeTheta))),
            ("tie_word_embeddings", .bool(tieWordEmbeddings)),
            ("torch_dtype", .string(torchDtype)),
            ("use_cache", .bool(true)),
            ("vocab_size", .int(vocabSize)),
        ])
    }
}

public enum LlamaHF {
    /// What a GGUF tensor is, in HF terms.
    public enum Role: Sendable, Equatable { case q, k, other }

    static let blockMap: [(hf: String, gguf: String)] = [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"),
        ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.v_proj.weight", "attn_v.weight"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("self_attn.q_proj.bias", "attn_q.bias"),
        ("self_attn.k_proj.bias", "attn_k.bias"),
        ("self_attn.v_proj.bias", "attn_v.bias"),
        ("self_attn.o_proj.bias", "attn_output.bias"),
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ]
    static let globalMap: [(hf: String, gguf: String)] = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ]
    static let hfToGGUFBlock = Dictionary(uniqueKeysWithValues: blockMap.map { ($0.hf, $0.gguf) })
    static let ggufToHFBlock = Dictionary(uniqueKeysWithValues: blockMap.map { ($0.gguf, $0.hf) })

    /// HF tensor name → GGUF name; nil for names llama.cpp drops (rotary inv_freq); throws for unknown names.
    public static func ggufName(_ hf: String, file: String) throws -> String? {
        if hf.hasSuffix("rotary_emb.inv_freq") { return nil }
        if let g = globalMap.first(where: { $0.hf == hf }) { return g.gguf }
        let parts = hf.split(separator: ".", maxSplits: 3)
        if parts.count == 4, parts[0] == "model", parts[1] == "layers", let n = Int(parts[2]), n >= 0,
           let suffix = hfToGGUFBlock[String(parts[3])] {
            return "blk.\(n).\(suffix)"
        }
        throw FormatError.unsupported(file: file, what: "tensor \(hf) has no llama.cpp name")
    }

    /// GGUF name → HF name; nil for `rope_freqs.weight` (it goes into config.json).
    public static func hfName(_ gguf: String, file: String) throws -> String? {
        if gguf == "rope_freqs.weight" { return nil }
        if let g = globalMap.first(where: { $0.gguf == gguf }) { return g.hf }
        let parts = gguf.split(separator: ".", maxSplits: 2)
        if parts.count == 3, parts[0] == "blk", let n = Int(parts[1]), n >= 0, let suffix = ggufToHFBlock[String(parts[2])] {
            return "model.layers.\(n).\(suffix)"
        }
        throw FormatError.unsupported(file: file, what: "tensor \(gguf) has no Hugging Face Llama name")
    }

    /// Whether a GGUF tensor's rows are permuted (attn_q / attn_k weights and biases).
    public static func role(ofGGUF name: String) -> Role {
        if name.hasSuffix(".attn_q.weight") || name.hasSuffix(".attn_q.bias") { return .q }
        if name.hasSuffix(".attn_k.weight") || name.hasSuffix(".attn_k.bias") { return .k }
        return .other
    }

    /// llama.cpp's converter permutes q/k rows from HF's rotate-half layout to interleaved pairs:
    /// `W.reshape(nHead, 2, D/2, cols).swapaxes(1, 2)`. Row `o` of the GGUF tensor is HF row
    /// `hfRow(forGGUFRow: o)`, with D = rows / nHead.
    @inline(__always)
    public static func hfRow(forGGUFRow o: Int, rows: Int, heads: Int) -> Int {
        let d = rows / heads, h = o / d, r = o % d
        return h * d + (r % 2) * (d / 2) + r / 2
    }

    /// The inverse: row `p` of the HF tensor is GGUF row `ggufRow(forHFRow: p)`.
    @inline(__always)
    public static func ggufRow(forHFRow p: Int, rows: Int, heads: Int) -> Int {
        let d = rows / heads, h = p / d, r = p % d
        return h * d + (r % (d / 2)) * 2 + r / (d / 2)
    }

    /// Llama 3 per-frequency rope factors, computed in Float32 as llama.cpp's converter does with torch.
    public static func llama3RopeFactors(base: Double, dim: Int, factor: Double, lowFreqFactor: Double,
                                         highFreqFactor: Double, originalContext: Int) -> [Float] {
        let old = Float(originalContext), lo = Float(lowFreqFactor), hi = Float(highFreqFactor), f = Float(factor)
        let lowWavelen = old / lo, highWavelen = old / hi
        return stride(from: 0, to: dim, by: 2).map { i -> Float in
            let freq = 1 / powf(Float(base), Float(i) / Float(dim))
            let wavelen = Float(2 * Double.pi) / freq
            if wavelen < highWavelen { return 1 }
            if wavelen > lowWavelen { return f }
            let smooth = (old / wavelen - lo) / (hi - lo)
            return 1 / ((1 - smooth) / f + smooth)
        }
    }

    /// Recovers Llama 3 rope-scaling parameters from the factors stored in `rope_freqs.weight`:
    /// factor is the largest value; low/high frequency factors are solved from the smooth region for
    /// the usual original contexts, and kept only if they reproduce every factor.
    static func fitLlama3Scaling(factors: [Float], base: Double, dim: Int) -> LlamaHyperparameters.RopeScaling? {
        guard let maxF = factors.max(), maxF > 1 else { return nil }
        let factor = Double(maxF)
        let freqs = stride(from: 0, to: dim, by: 2).map { 1 / pow(base, Double($0) / Double(dim)) }
        func matches(_ lo: Double, _ hi: Double, _ old: Int) -> Bool {
            let f = llama3RopeFactors(base: base, dim: dim, factor: factor, lowFreqFactor: lo, highFreqFactor: hi, originalContext: old)
            return zip(f, factors).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }
        }
        for old in [8192, 4096, 16384, 32768, 2048, 65536, 131072] {
            // smooth_i = (1/f_i − 1/factor) / (1 − 1/factor) = (old·u_i − lo)/(hi − lo), u_i = freq_i / 2π
            var pts: [(Double, Double)] = []
            for (fi, fr) in zip(factors, freqs) where Double(fi) > 1 + 1e-6 && Double(fi) < factor - 1e-6 {
                let s = (1 / Double(fi) - 1 / factor) / (1 - 1 / factor)
                pts.append((Double(old) * fr / (2 * Double.pi), s))
            }
            var candidates: [(Double, Double)] = [(1, 4)]
            if pts.count >= 2 {
                let (x0, y0) = pts.first!, (x1, y1) = pts.last!
                let slope = (y1 - y0) / (x1 - x0)  // 1 / (hi − lo)
                if slope.isFinite && slope > 0 {
                    let lo = x0 - y0 / slope, hi = lo + 1 / slope
                    let round = { (v: Double) in (v * 1000).rounded() / 1000 }
                    candidates.insert((round(lo), round(hi)), at: 0)
                }
            }
            for (lo, hi) in candidates where hi > lo && matches(lo, hi, old) {
                return .llama3(factor: factor, lowFreqFactor: lo, highFreqFactor: hi, originalContext: old)
            }
        }
        // Factors we cannot explain: keep the scale and the usual defaults (approximate).
        return .llama3(factor: factor, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192)
    }
}
