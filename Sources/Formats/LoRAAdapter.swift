// LoRAAdapter: a low-rank adapter in llmkit's one canonical form, whatever file it came from or goes to.
//
//   ΔW = scale · B·A          A: [rank, in]   B: [out, rank]   (row-major F32, PyTorch's order)
//   y  = x·Wᵀ + scale · (x·Aᵀ)·Bᵀ,   scale = alpha / rank   (alpha / √rank with rsLoRA)
//
// Conventions (converted at the file boundary, never inside):
//   - Keys are the GGUF names of the base matrices the pairs adapt (`blk.3.attn_q.weight`), as llama.cpp's
//     loader looks them up. PEFT keys (`base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`) and GGUF
//     LoRA tensor names (`blk.3.attn_q.weight.lora_a`) are mapped on read/write.
//   - Rows of B are in the base GGUF's row order. For attn_q / attn_k, llama.cpp's converter permuted the base rows
//     (LlamaHF.hfRow / ggufRow); B's rows are permuted the same way, A is not. A PEFT file holds B in HF order.
//   - A GGUF LoRA stores A with ggml dims [in, rank] and B with [rank, out] — the same bytes as row-major
//     [rank, in] and [out, rank].
import Foundation

public struct LoRAAdapter: Sendable {
    /// One adapted matrix.
    public struct Pair: Sendable, Equatable {
        public var rank: Int
        public var inFeatures: Int
        public var outFeatures: Int
        /// [rank, inFeatures], row-major.
        public var a: [Float]
        /// [outFeatures, rank], row-major, rows in the base GGUF's order.
        public var b: [Float]
        /// This pair's own alpha (PEFT's `alpha_pattern`); nil: the adapter's `alpha`.
        public var alpha: Float?

        public init(rank: Int, inFeatures: Int, outFeatures: Int, a: [Float], b: [Float], alpha: Float? = nil) {
            self.rank = rank
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures
            self.a = a
            self.b = b
            self.alpha = alpha
        }
    }

    /// Base GGUF tensor name (`blk.N.attn_q.weight`) → its pair.
    public var pairs: [String: Pair]
    /// PEFT's `lora_alpha` / GGUF's `adapter.lora.alpha`.
    public var alpha: Float
    /// PEFT's `use_rslora`: scale alpha/√rank instead of alpha/rank.
    public var useRSLoRA: Bool
    /// `general.architecture` of the base ("llama").
    public var architecture: String
    /// PEFT's `base_model_name_or_path` (or the base GGUF's `general.name`), when known.
    public var baseModel: String?
    /// Training-time dropout on the adapter's input (metadata only: inference applies none).
    public var dropout: Float

    public init(pairs: [String: Pair], alpha: Float, useRSLoRA: Bool = false, architecture: String = "llama",
                baseModel: String? = nil, dropout: Float = 0) {
        self.pairs = pairs
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.architecture = architecture
        self.baseModel = baseModel
        self.dropout = dropout
    }

    /// The multiplier of B·A for a pair of this rank.
    public func scale(rank: Int) -> Float {
        useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
    }

    /// The multiplier of one pair's B·A: its own alpha (if any) over its rank (√rank with rsLoRA).
    public func scale(of pair: Pair) -> Float {
        let a = pair.alpha ?? alpha
        return useRSLoRA ? a / Float(pair.rank).squareRoot() : a / Float(pair.rank)
    }
}

/// The matrices LoRA may adapt in a llama block: PEFT's module names and the GGUF names of the same matrices.
public enum LoRATargets {
    public static let moduleToGGUF: [(peft: String, gguf: String)] = [
        ("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v"), ("o_proj", "attn_output"),
        ("gate_proj", "ffn_gate"), ("up_proj", "ffn_up"), ("down_proj", "ffn_down"),
    ]

    /// `q_proj,v_proj`, `all-linear`, or GGUF short names (`attn_q,attn_v`) → GGUF short names in block order.
    public static func parse(_ spec: String) throws -> [String] {
        let s = spec.trimmingCharacters(in: .whitespaces)
        if s == "all-linear" || s == "all" { return moduleToGGUF.map(\.gguf) }
        var chosen = Set<String>()
        for raw in s.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces)
            guard let m = moduleToGGUF.first(where: { $0.peft == name || $0.gguf == name }) else {
                throw FormatError.invalid(file: "LoRA targets", field: "target", value: name,
                                          reason: "use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (or attn_q … ffn_down) or all-linear")
            }
            chosen.insert(m.gguf)
        }
        guard !chosen.isEmpty else { throw FormatError.missing(file: "LoRA targets", field: "a target module") }
        return moduleToGGUF.map(\.gguf).filter(chosen.contains)
    }

    public static func peftName(ofGGUF short: String) -> String? { moduleToGGUF.first { $0.gguf == short }?.peft }
}
