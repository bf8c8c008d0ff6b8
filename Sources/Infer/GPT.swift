// GPTModel: the GPT-2 architecture (`general.architecture = gpt2`, llama.cpp's tensor and key names), which is
// what our tiny trained model exports as, so llama.cpp can read it too:
//
//   x = token_embd[tokens] + position_embd[positions]                    (T × dim)
//   per layer:  h = layernorm(x) · attn_norm + b
//               q, k, v = h·Wqkvᵀ + b (fused, split in that order) or three separate projections
//               cache ← k, v;  x += attention(q, cache) · Woᵀ + b           (causal, no RoPE)
//               h = layernorm(x) · ffn_norm + b;  x += gelu(h·Wupᵀ + b) · Wdownᵀ + b
//   logits = (layernorm(x) · output_norm + b) · Woutᵀ                   (output = token_embd when tied)
//
// Keys: gpt2.{context_length, embedding_length, feed_forward_length, block_count, attention.head_count,
// attention.layer_norm_epsilon}. GELU is the tanh approximation.
import Foundation
import Formats
import Quant

public final class GPTModel: LanguageModel, @unchecked Sendable {
    public let architecture = "gpt2"
    public let vocabularySize: Int
    public let trainedContextLength: Int
    public let layerCount: Int
    public let embeddingLength: Int
    public let kvDim: Int
    let heads: Int, headDim: Int, ffnDim: Int
    let eps: Float

    struct Norm { let w: UnsafePointer<Float>; let b: UnsafePointer<Float>? }
    struct Layer {
        let attnNorm: Norm
        let qkv: Linear?            // fused (3·dim outputs: q, k, v)
        let wq: Linear?, wk: Linear?, wv: Linear?
        let wo: Linear
        let ffnNorm: Norm
        let up: Linear, down: Linear
    }
    let tokenEmbedding: Linear
    let positionEmbedding: Linear
    let layers: [Layer]
    let outputNorm: Norm
    let output: Linear
    let loader: WeightLoader

    init(_ file: GGUFFile) throws {
        let md = file.metadata
        func key(_ k: String) throws -> Int {
            guard let v = md["gpt2." + k]?.int, v > 0 else { throw InferError.model(file: file.path, message: "missing or invalid gpt2.\(k)") }
            return v
        }
        embeddingLength = try key("embedding_length")
        layerCount = try key("block_count")
        heads = try key("attention.head_count")
        ffnDim = try key("feed_forward_length")
        trainedContextLength = try key("context_length")
        eps = Float(md["gpt2.attention.layer_norm_epsilon"]?.double ?? 1e-5)
        guard embeddingLength % heads == 0 else {
            throw InferError.model(file: file.path, message: "embedding_length \(embeddingLength) is not a multiple of head_count \(heads)")
        }
        headDim = embeddingLength / heads
        kvDim = embeddingLength
        let w = WeightLoader(file)
        loader = w
        guard let embd = file.tensor(named: "token_embd.weight"), embd.dims.count == 2 else {
            throw InferError.model(file: file.path, message: "missing tensor token_embd.weight")
        }
        vocabularySize = embd.dims[1]
        let dim = embeddingLength, ffn = ffnDim
        tokenEmbedding = try w.matrix("token_embd.weight", cols: dim, rows: vocabularySize)
        positionEmbedding = try w.matrix("position_embd.weight", cols: dim, rows: trainedContextLength)
        func norm(_ n: String) throws -> Norm {
            Norm(w: try w.vector(n + ".weight", count: dim), b: w.has(n + ".bias") ? try w.vector(n + ".bias", count: dim) : nil)
        }
        func lin(_ n: String, cols: Int, rows: Int) throws -> Linear {
            try w.matrix(n + ".weight", cols: cols, rows: rows, bias: w.has(n + ".bias") ? n + ".bias" : nil)
        }
        layers = try (0..<layerCount).map { i in
            let p = "blk.\(i)."
            let fused = w.has(p + "attn_qkv.weight")
            return Layer(attnNorm: try norm(p + "attn_norm"),
                         qkv: fused ? try lin(p + "attn_qkv", cols: dim, rows: 3 * dim) : nil,
                         wq: fused ? nil : try lin(p + "attn_q", cols: dim, rows: dim),
                         wk: fused ? nil : try lin(p + "attn_k", cols: dim, rows: dim),
                         wv: fused ? nil : try lin(p + "attn_v", cols: dim, rows: dim),
                         wo: try lin(p + "attn_output", cols: dim, rows: dim),
                         ffnNorm: try norm(p + "ffn_norm"),
                         up: try lin(p + "ffn_up", cols: dim, rows: ffn),
                         down: try lin(p + "ffn_down", cols: ffn, rows: dim))
        }
        outputNorm = try norm("output_norm")
        output = w.has("output.weight") ? try lin("output", cols: dim, rows: vocabularySize) : tokenEmbedding
    }

    /// Learned absolute positions: keys carry no rotation to undo, so no context shift (llama.cpp refuses it too).
    public var rope: RoPE? { nil }

    public func forward(_ sequences: [SequenceInput], emit: ForwardOutput, threads: Int) throws -> [[Float]] {
        let batch = try BatchLayout(sequences, vocabularySize: vocabularySize,
                                    limit: { [trainedContextLength] in min($0.contextLength, trainedContextLength) })
        let T = batch.rows
        guard T > 0 else { return sequences.map { _ in [] } }
        let dim = embeddingLength
        let x = Buffer(T * dim), h = Buffer(T * dim), att = Buffer(T * dim), o = Buffer(T * dim)
        let q = Buffer(T * dim), k = Buffer(T * dim), v = Buffer(T * dim), qkv = Buffer(T * 3 * dim)
        let f = Buffer(T * ffnDim), pe = Buffer(dim)
        for (s, seq) in sequences.enumerated() {
            for (t, tok) in seq.tokens.enumerated() { tokenEmbedding.row(tok, into: x.p + (batch.first[s] + t) * dim) }
        }
        batch.forEachRow { row, pos in
            positionEmbedding.row(pos, into: pe.p)
            Ops.add(x.p + row * dim, pe.p, n: dim)
        }
        let segments = batch.segments
        for (l, L) in layers.enumerated() {
            for t in 0..<T { Ops.layerNorm(x.p + t * dim, L.attnNorm.w, L.attnNorm.b, h.p + t * dim, n: dim, eps: eps) }
            if let fused = L.qkv {
                fused(h.p, T, qkv.p, threads: threads)
                for t in 0..<T {
                    let r = qkv.p + t * 3 * dim
                    (q.p + t * dim).update(from: r, count: dim)
                    (k.p + t * dim).update(from: r + dim, count: dim)
                    (v.p + t * dim).update(from: r + 2 * dim, count: dim)
                }
            } else {
                L.wq!(h.p, T, q.p, threads: threads)
                L.wk!(h.p, T, k.p, threads: threads)
                L.wv!(h.p, T, v.p, threads: threads)
            }
            batch.store(layer: l, k: k.p, v: v.p, width: dim)
            Attention.forward(segments: segments, layer: l, q: q.p, out: att.p,
                              heads: heads, kvHeads: heads, headDim: headDim, threads: threads)
            L.wo(att.p, T, o.p, threads: threads)
            for t in 0..<T {
                Ops.add(x.p + t * dim, o.p + t * dim, n: dim)
                Ops.layerNorm(x.p + t * dim, L.ffnNorm.w, L.ffnNorm.b, h.p + t * dim, n: dim, eps: eps)
            }
            L.up(h.p, T, f.p, threads: threads)
            Ops.gelu(f.p, n: T * ffnDim)
            L.down(f.p, T, o.p, threads: threads)
            for t in 0..<T { Ops.add(x.p + t * dim, o.p + t * dim, n: dim) }
        }
        batch.commit()
        let outputs = batch.outputRows, n = outputs.count
        guard n > 0 else { return sequences.map { _ in [] } }
        for (i, r) in outputs.enumerated() {
            Ops.layerNorm(x.p + r * dim, outputNorm.w, outputNorm.b, h.p + i * dim, n: dim, eps: eps)
        }
        if emit == .hidden { return batch.split(h.p, width: dim) }
        return batch.outputs(width: vocabularySize) { output(h.p, n, $0, threads: threads) }
    }
}
