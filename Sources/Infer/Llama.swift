// LlamaModel: the `llama` architecture of GGUF files (Llama 2/3/3.1, SmolLM2, TinyLlama, Mistral …), computed as
// llama.cpp's llm_build_llama does, so that the same file gives the same tokens:
//
//   x = token_embd[tokens]                                              (T × dim)
//   per layer:  h = rmsnorm(x) · attn_norm
//               q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ;  rope(q), rope(k)        (ggml NORM rope: adjacent pairs)
//               cache ← k, v;  x += attention(q, cache) · Woᵀ
//               h = rmsnorm(x) · ffn_norm;  x += (silu(h·Wgateᵀ) ⊙ h·Wupᵀ) · Wdownᵀ
//   logits = (rmsnorm(x) · output_norm) · Woutᵀ                         (output = token_embd when tied)
//
// Weights stay in their block type in the memory map; each matrix product quantizes its activations as ggml
// does (MatMul). As in llama.cpp, the last layer's feed-forward runs only for the rows whose logits are wanted.
import Foundation
import Formats
import Quant

public final class LlamaModel: LanguageModel, @unchecked Sendable {
    public let architecture = "llama"
    public let vocabularySize: Int
    public let trainedContextLength: Int
    public let layerCount: Int
    public let embeddingLength: Int
    public let kvDim: Int

    let heads: Int, kvHeads: Int, headDim: Int, ffnDim: Int
    let ropeDims: Int
    let ropeBase: Float
    let ropeFreqScale: Float
    let ropeFactors: UnsafePointer<Float>?
    let eps: Float

    struct Layer {
        let attnNorm: UnsafePointer<Float>
        let wq: Linear, wk: Linear, wv: Linear, wo: Linear
        let ffnNorm: UnsafePointer<Float>
        let gate: Linear, up: Linear, down: Linear
    }
    let tokenEmbedding: Linear
    let layers: [Layer]
    let outputNorm: UnsafePointer<Float>
    let output: Linear
    /// Whether every matrix sums a row the same way in any batch (fixed at load; LanguageModel.batchInvariant).
    public let batchInvariant: Bool
    let loader: WeightLoader  // keeps the file and any widened vectors alive

    /// The model of a llama GGUF, with LoRA adapters (each with the user's multiplier) added to its matrices.
    init(_ file: GGUFFile, adapters: [(adapter: LoRAAdapter, scale: Float)] = []) throws {
        let hp: LlamaHyperparameters
        do { hp = try LlamaHyperparameters(gguf: file) } catch { throw InferError.model(file: file.path, message: "\(error)") }
        let md = file.metadata
        embeddingLength = hp.hiddenSize
        layerCount = hp.layerCount
        heads = hp.headCount
        kvHeads = hp.kvHeadCount
        headDim = hp.headDim
        ffnDim = hp.intermediateSize
        kvDim = kvHeads * headDim
        trainedContextLength = hp.contextLength
        eps = Float(hp.rmsNormEps)
        ropeBase = Float(hp.ropeTheta)
        ropeDims = md["llama.rope.dimension_count"]?.int ?? headDim
        guard ropeDims > 0, ropeDims <= headDim, ropeDims % 2 == 0 else {
            throw InferError.model(file: file.path, message: "llama.rope.dimension_count \(ropeDims) must be even and at most the head size \(headDim)")
        }
        if md["llama.rope.scaling.type"]?.string == "linear", let f = md["llama.rope.scaling.factor"]?.double, f > 0 {
            ropeFreqScale = Float(1 / f)
        } else {
            ropeFreqScale = 1
        }

        let w = WeightLoader(file)
        loader = w
        if adapters.contains(where: { $0.adapter.pairs["token_embd.weight"] != nil }) {
            throw InferError.model(file: file.path, message: "LoRA on token_embd.weight is not supported")
        }
        try w.attach(adapters)
        ropeFactors = w.has("rope_freqs.weight") ? try w.vector("rope_freqs.weight", count: ropeDims / 2) : nil
        guard let embd = file.tensor(named: "token_embd.weight"), embd.dims.count == 2 else {
            throw InferError.model(file: file.path, message: "missing tensor token_embd.weight")
        }
        vocabularySize = embd.dims[1]
        tokenEmbedding = try w.matrix("token_embd.weight", cols: embeddingLength, rows: vocabularySize)
        let qDim = hp.headCount * hp.headDim, kvd = hp.kvHeadCount * hp.headDim, ffn = hp.intermediateSize
        let ls = try (0..<layerCount).map { i in
            let p = "blk.\(i)."
            return Layer(attnNorm: try w.vector(p + "attn_norm.weight", count: hp.hiddenSize),
                         wq: try w.matrix(p + "attn_q.weight", cols: hp.hiddenSize, rows: qDim),
                         wk: try w.matrix(p + "attn_k.weight", cols: hp.hiddenSize, rows: kvd),
                         wv: try w.matrix(p + "attn_v.weight", cols: hp.hiddenSize, rows: kvd),
                         wo: try w.matrix(p + "attn_output.weight", cols: qDim, rows: hp.hiddenSize),
                         ffnNorm: try w.vector(p + "ffn_norm.weight", count: hp.hiddenSize),
                         gate: try w.matrix(p + "ffn_gate.weight", cols: hp.hiddenSize, rows: ffn),
                         up: try w.matrix(p + "ffn_up.weight", cols: hp.hiddenSize, rows: ffn),
                         down: try w.matrix(p + "ffn_down.weight", cols: ffn, rows: hp.hiddenSize))
        }
        layers = ls
        outputNorm = try w.vector("output_norm.weight", count: hp.hiddenSize)
        let out = w.has("output.weight") ? try w.matrix("output.weight", cols: hp.hiddenSize, rows: vocabularySize) : tokenEmbedding
        output = out
        batchInvariant = out.sumsLikeOneRow && ls.allSatisfy { L in
            [L.wq, L.wk, L.wv, L.wo, L.gate, L.up, L.down].allSatisfy(\.sumsLikeOneRow)
        }
        if let name = w.pendingDeltas.keys.sorted().first {
            throw InferError.model(file: file.path, message: "adapter targets \(name), which is not a matrix llmkit multiplies")
        }
    }

    /// The keys' rotation, with the parameters `forward` uses (for KVCache.shift).
    public var rope: RoPE? {
        RoPE(kvHeads: kvHeads, headDim: headDim, nDims: ropeDims, base: ropeBase, freqScale: ropeFreqScale,
             freqFactors: ropeFactors.map { Array(UnsafeBufferPointer(start: $0, count: ropeDims / 2)) })
    }

    public func forward(_ sequences: [SequenceInput], emit: ForwardOutput, threads: Int) throws -> [[Float]] {
        let batch = try BatchLayout(sequences, vocabularySize: vocabularySize, limit: { $0.contextLength })
        let T = batch.rows
        guard T > 0 else { return sequences.map { _ in [] } }
        let dim = embeddingLength, qDim = heads * headDim

        // Scratch, one row per token: the residual stream and what each block computes from it.
        let x = Buffer(T * dim), h = Buffer(T * dim), att = Buffer(T * qDim), o = Buffer(T * dim)
        let q = Buffer(T * qDim), k = Buffer(T * kvDim), v = Buffer(T * kvDim)
        let g = Buffer(T * ffnDim), u = Buffer(T * ffnDim)
        let angles = Buffer(T * ropeDims)
        for (s, seq) in sequences.enumerated() {
            for (t, tok) in seq.tokens.enumerated() { tokenEmbedding.row(tok, into: x.p + (batch.first[s] + t) * dim) }
        }
        batch.forEachRow { row, pos in
            Ops.ropeAngles(pos: pos, nDims: ropeDims, base: ropeBase, freqScale: ropeFreqScale,
                           freqFactors: ropeFactors, angles.p + row * ropeDims)
        }
        let segments = batch.segments
        let outputs = batch.outputRows

        for (l, L) in layers.enumerated() {
            for t in 0..<T { Ops.rmsNorm(x.p + t * dim, L.attnNorm, h.p + t * dim, n: dim, eps: eps) }
            Linear.apply([L.wq, L.wk, L.wv], h.p, T, [q.p, k.p, v.p], threads: threads)
            for t in 0..<T {
                Ops.rope(q.p + t * qDim, heads: heads, headDim: headDim, nDims: ropeDims, angles: angles.p + t * ropeDims)
                Ops.rope(k.p + t * kvDim, heads: kvHeads, headDim: headDim, nDims: ropeDims, angles: angles.p + t * ropeDims)
            }
            batch.store(layer: l, k: k.p, v: v.p, width: kvDim)
            Attention.forward(segments: segments, layer: l, q: q.p, out: att.p,
                              heads: heads, kvHeads: kvHeads, headDim: headDim, threads: threads)
            L.wo(att.p, T, o.p, threads: threads)

            // The last layer's feed-forward only for the output rows (llama.cpp's inp_out_ids).
            var rows = T
            if l == layerCount - 1 {
                for (i, r) in outputs.enumerated() {
                    (x.p + i * dim).update(from: x.p + r * dim, count: dim)
                    (h.p + i * dim).update(from: o.p + r * dim, count: dim)
                }
                (o.p).update(from: h.p, count: outputs.count * dim)
                rows = outputs.count
                if rows == 0 { break }
            }
            for t in 0..<rows {
                Ops.add(x.p + t * dim, o.p + t * dim, n: dim)
                Ops.rmsNorm(x.p + t * dim, L.ffnNorm, h.p + t * dim, n: dim, eps: eps)
            }
            Linear.apply([L.gate, L.up], h.p, rows, [g.p, u.p], threads: threads)
            for t in 0..<rows { Ops.swiglu(g.p + t * ffnDim, u.p + t * ffnDim, g.p + t * ffnDim, n: ffnDim) }
            L.down(g.p, rows, o.p, threads: threads)
            for t in 0..<rows { Ops.add(x.p + t * dim, o.p + t * dim, n: dim) }
        }
        batch.commit()

        let n = outputs.count
        guard n > 0 else { return sequences.map { _ in [] } }
        for t in 0..<n { Ops.rmsNorm(x.p + t * dim, outputNorm, h.p + t * dim, n: dim, eps: eps) }
        if emit == .hidden { return batch.split(h.p, width: dim) }
        return batch.outputs(width: vocabularySize) { output(h.p, n, $0, threads: threads) }
    }
}

/// A scratch F32 buffer freed with its owner.
final class Buffer {
    let p: UnsafeMutablePointer<Float>
    init(_ count: Int) {
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { p.deallocate() }
}
