// Attention: causal multi-head attention with grouped-query heads over the KV cache, computed exactly as
// llama.cpp's CPU backend does without flash attention (F16 cache):
//   scores = K·q       q rounded to F16 (ggml converts the F32 operand of an F16 mul_mat), dot products in F32
//   p = softmax(scores · 1/√headDim) over positions 0...pos (ggml_soft_max_ext: masked = −∞)
//   out = Vᵀ·p         p rounded to F16, V stored transposed
// Query head h reads KV head h / (heads / kvHeads). The dot products follow llama.cpp's summation order: a
// single token (decode) goes through ggml_vec_dot_f16, a batch (prompt) through llamafile's tinyBLAS — two
// different orders, each reproduced by a C kernel (CKernels ops.c). Rows are zero-padded to the kernels' vector
// width exactly where llama.cpp's padded KV view has zeros, so every float matches. The F32 cache option uses
// the plain F32 dot kernel (no F16 rounding; not bit-matched).
import CKernels
import Foundation
import Formats
import Quant

enum Attention {
    /// Positions are padded to this many for the value sums (a multiple of every kernel's vector step).
    static let pad = 64

    /// out (T × heads·headDim) = attention of q (T × heads·headDim, positions start..<start+T, RoPE applied)
    /// over cache layer `layer` positions 0..<start+T (the batch's own keys/values already stored).
    static func forward(cache: KVCache, layer: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        T: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int, threads: Int) {
        let group = heads / kvHeads
        let qDim = heads * headDim
        let scale = 1 / Float(headDim).squareRoot()
        let (qv, ov) = (UncheckedBox(q), UncheckedBox(out))
        let n = start + T
        let width = ((n + pad - 1) / pad) * pad
        // Tasks: (head, chunk of up to 16 queries); each task keeps its scratch for its whole range.
        let chunk = 16
        let chunks = (T + chunk - 1) / chunk
        let tasks = heads * chunks
        ThreadPool.shared.run(ranges: tasks, parts: min(threads, tasks)) { range in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: width)
            let q16 = UnsafeMutablePointer<UInt16>.allocate(capacity: max(headDim, 16))
            let p16 = UnsafeMutablePointer<UInt16>.allocate(capacity: width)
            defer { s.deallocate(); q16.deallocate(); p16.deallocate() }
            for task in range {
                let h = task % heads, c = task / heads
                for t in (c * chunk)..<min(T, (c + 1) * chunk) {
                    head(cache: cache, layer: layer, q: qv.value + t * qDim + h * headDim,
                         out: ov.value + t * qDim + h * headDim,
                         pos: start + t, batch: T > 1, kvHead: h / group, headDim: headDim, scale: scale,
                         scores: s, q16: q16, p16: p16)
                }
            }
        }
    }

    /// One query at position `pos` of one head. `batch` selects llama.cpp's prompt (tinyBLAS) or decode
    /// (vec_dot) summation order.
    private static func head(cache: KVCache, layer: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                             pos: Int, batch: Bool, kvHead: Int, headDim: Int, scale: Float,
                             scores s: UnsafeMutablePointer<Float>, q16: UnsafeMutablePointer<UInt16>,
                             p16: UnsafeMutablePointer<UInt16>) {
        let n = pos + 1
        let kOff = kvHead * headDim * cache.elementSize
        if cache.precision == .f32 {
            let dot = Dot.kernel(for: .f32)
            func dotp(_ len: Int, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Float {
                dot.map { $0(Int32(len), a, b) } ?? Dot.reference(.f32, len, a, b)
            }
            for j in 0..<n { s[j] = dotp(headDim, cache.keyRow(layer, j) + kOff, q) }
            Ops.softmax(s, n: n, scale: scale)
            for d in 0..<headDim { out[d] = dotp(n, cache.valueRow(layer, kvHead * headDim + d), s) }
            return
        }
        convertFloatToHalf(q, q16, headDim)
        let blasK = headDim % Int(llk_dot_f16_blas_width()) == 0
        for j in 0..<n {
            let k = (cache.keyRow(layer, j) + kOff).assumingMemoryBound(to: UInt16.self)
            s[j] = batch && blasK ? llk_dot_f16_blas(Int32(headDim), k, q16) : llk_dot_f16_vec(Int32(headDim), k, q16)
        }
        Ops.softmax(s, n: n, scale: scale)
        // p rounded to F16, zero beyond n up to the padded width (llama.cpp's masked columns).
        let width = ((n + pad - 1) / pad) * pad
        convertFloatToHalf(s, p16, n)
        for j in n..<width { p16[j] = 0 }
        for d in 0..<headDim {
            let v = cache.valueRow(layer, kvHead * headDim + d).assumingMemoryBound(to: UInt16.self)
            out[d] = batch ? llk_dot_f16_blas(Int32(width), v, p16) : llk_dot_f16_vec(Int32(width), v, p16)
        }
    }
}
