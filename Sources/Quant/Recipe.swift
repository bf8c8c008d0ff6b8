// Recipe: which type each tensor gets for a quantization mix, as llama.cpp's llama-quantize decides it
// (src/llama-quant.cpp: tensor_allows_quantization, llama_tensor_get_type, tensor_type_fallback) for the
// llama architecture: 1-D and norm tensors keep their type, output/tied embeddings get Q6_K, the _M
// mixes give more bits to some attn_v / ffn_down layers, rows that are not a whole number of blocks
// fall back to a smaller block type.
import Formats

/// llama.cpp's `general.file_type` values (LLAMA_FTYPE_*), for the mixes llmkit writes.
public enum LlamaFileType: UInt32, CaseIterable, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 7, q5_0 = 8, q5_1 = 9
    case q2_K = 10, q3_K_S = 11, q3_K_M = 12, q3_K_L = 13, q4_K_S = 14, q4_K_M = 15, q5_K_S = 16, q5_K_M = 17, q6_K = 18
    case bf16 = 32

    /// The name llama-quantize takes on its command line (case-insensitive there and here).
    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q2_K: "Q2_K"
        case .q3_K_S: "Q3_K_S"
        case .q3_K_M: "Q3_K_M"
        case .q3_K_L: "Q3_K_L"
        case .q4_K_S: "Q4_K_S"
        case .q4_K_M: "Q4_K_M"
        case .q5_K_S: "Q5_K_S"
        case .q5_K_M: "Q5_K_M"
        case .q6_K: "Q6_K"
        }
    }

    public init?(name: String) {
        let n = name.uppercased()
        guard let t = LlamaFileType.allCases.first(where: { $0.name == n || ($0 == .q4_K_M && n == "Q4_K") || ($0 == .q5_K_M && n == "Q5_K") || ($0 == .q3_K_M && n == "Q3_K") }) else { return nil }
        self = t
    }

    /// The tensor type most tensors get.
    public var defaultType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q5_0: .q5_0
        case .q5_1: .q5_1
        case .q8_0: .q8_0
        case .q2_K: .q2_K
        case .q3_K_S, .q3_K_M, .q3_K_L: .q3_K
        case .q4_K_S, .q4_K_M: .q4_K
        case .q5_K_S, .q5_K_M: .q5_K
        case .q6_K: .q6_K
        }
    }
}

public struct QuantRecipe {
    public let fileType: LlamaFileType
    /// Keep `output.weight` as it is (--leave-output-tensor).
    public var leaveOutputTensor = false
    /// Every quantizable tensor gets the default type (--pure); shape fallbacks still apply.
    public var pure = false

    // Model facts the recipe depends on.
    let layerCount: Int
    let gqa: Int
    let expertCount: Int
    let hasOutputTensor: Bool
    let is70B: Bool
    // Running counters, in llama.cpp's tensor order (see `order`).
    var attnVTotal = 0
    var attnV = 0, ffnDown = 0

    public init(fileType: LlamaFileType, metadata: GGUFMetadata, tensors: [GGUFTensorInfo]) {
        self.fileType = fileType
        let arch = metadata["general.architecture"]?.string ?? "llama"
        let md = { (k: String) in metadata["\(arch).\(k)"]?.int }
        layerCount = md("block_count") ?? 0
        let heads = md("attention.head_count") ?? 1, kv = md("attention.head_count_kv") ?? heads
        gqa = kv > 0 ? heads / kv : 1
        expertCount = md("expert_count") ?? 0
        hasOutputTensor = tensors.contains { $0.name == "output.weight" }
        is70B = arch == "llama" && layerCount == 80
        attnVTotal = tensors.filter { [.attnV, .attnQKV].contains(QuantRecipe.category($0.name)) }.count
    }

    /// llama.cpp's tensor order (its loader's weight map): tensors outside blocks first, then block by
    /// block; by name within each. The recipe's layer counters advance in this order.
    public static func order(_ tensors: [GGUFTensorInfo]) -> [GGUFTensorInfo] {
        func layer(_ n: String) -> Int {
            guard n.hasPrefix("blk.") else { return -1 }
            return Int(n.dropFirst(4).prefix { $0.isNumber }) ?? -1
        }
        return tensors.sorted { (layer($0.name), $0.name) < (layer($1.name), $1.name) }
    }

    enum Category { case tokenEmbd, attnQ, attnK, attnV, attnQKV, attnOutput, ffnUp, ffnGate, ffnDown, output, other }

    static func category(_ n: String) -> Category {
        if n == "output.weight" { return .output }
        if n == "token_embd.weight" || n == "per_layer_token_embd.weight" { return .tokenEmbd }
        if n.contains("attn_qkv.weight") { return .attnQKV }
        if n.contains("attn_kv_b.weight") || n.contains("attn_v.weight") { return .attnV }
        if n.contains("attn_k.weight") { return .attnK }
        if n.contains("attn_q.weight") { return .attnQ }
        if n.contains("attn_output.weight") { return .attnOutput }
        if n.contains("ffn_up") { return .ffnUp }
        if n.contains("ffn_gate") { return .ffnGate }
        if n.contains("ffn_down") { return .ffnDown }
        return .other
    }

    /// Whether llama-quantize would convert this tensor at all.
    func allowsQuantization(_ t: GGUFTensorInfo) -> Bool {
        let n = t.name
        // ggml_n_dims: trailing dimensions of 1 do not count
        let nDims = (t.dims.indices.dropFirst().last { t.dims[$0] != 1 } ?? 0) + 1
        guard nDims >= 2 else { return false }
        guard n.hasSuffix("weight"), !n.contains("_norm.weight") else { return false }
        if leaveOutputTensor && n == "output.weight" { return false }
        for skip in ["ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d", "attn_rel_b.weight",
                     "position_embd", "token_types.weight"] where n.contains(skip) { return false }
        return true
    }

    /// The type tensor `t` gets. Call once per tensor, in `order(_:)` order (the counters advance).
    public mutating func type(for t: GGUFTensorInfo) -> GGMLType {
        guard allowsQuantization(t) else { return t.type }
        var type = fileType.defaultType
        guard type.isQuantized else { return type }
        if !pure { type = mixType(t, type) }
        return fallback(t, type)
    }

    private func useMoreBits(_ i: Int, _ n: Int) -> Bool { i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2 }

    private mutating func mixType(_ t: GGUFTensorInfo, _ defaultType: GGMLType) -> GGMLType {
        var type = defaultType
        let cat = QuantRecipe.category(t.name)
        let ft = fileType
        if cat == .output || (!hasOutputTensor && cat == .tokenEmbd) {
            if t.rowLength % type.blockSize != 0 { type = .q8_0 }
            else if type != .q8_0 { type = .q6_K }
        } else if cat == .tokenEmbd {
            // keeps the default type
        } else if cat == .attnV || cat == .attnQKV {  // llama.cpp's category_is_attn_v
            switch ft {
            case .q2_K: type = gqa >= 4 ? .q4_K : .q3_K
            case .q3_K_M: type = attnV < 2 ? .q5_K : .q4_K
            case .q3_K_L: type = .q5_K
            case .q4_K_M, .q5_K_M: if useMoreBits(attnV, attnVTotal) { type = .q6_K }
            case .q4_K_S: if attnV < 4 { type = .q5_K }
            default: break
            }
            if is70B && (type == .q3_K || type == .q4_K) { type = .q5_K }
            if expertCount == 8 { type = .q8_0 }
            attnV += 1
        } else if cat == .attnK {
            if expertCount == 8 { type = .q8_0 }
        } else if cat == .ffnDown {
            let i = ffnDown, n = layerCount
            switch ft {
            case .q2_K: type = .q3_K
            case .q3_K_M: type = i < n / 16 ? .q5_K : .q4_K
            case .q3_K_L: type = .q5_K
            case .q4_K_M: if useMoreBits(i, n) { type = .q6_K }
            case .q5_K_M: if useMoreBits(i, n) { type = .q6_K }
            case .q4_K_S: if i < n / 8 { type = .q5_K }
            default: break
            }
            ffnDown += 1
        } else if cat == .attnOutput {
            if expertCount == 8 {
                if [.q2_K, .q3_K_S, .q3_K_M, .q4_K_S, .q4_K_M].contains(ft) { type = .q5_K }
            } else {
                switch ft {
                case .q2_K: type = .q3_K
                case .q3_K_M: type = .q4_K
                case .q3_K_L: type = .q5_K
                default: break
                }
            }
        }
        return type
    }

    /// Rows that are not a whole number of blocks of `type` get a smaller block type (or F16).
    func fallback(_ t: GGUFTensorInfo, _ type: GGMLType) -> GGMLType {
        guard t.rowLength % type.blockSize != 0 else { return type }
        let smaller: GGMLType = switch type {
        case .q2_K, .q3_K: .q4_0
        case .q4_K: .q5_0
        case .q5_K: .q5_1
        case .q6_K: .q8_0
        default: .f16
        }
        return t.rowLength % smaller.blockSize == 0 ? smaller : .f16
    }
}
