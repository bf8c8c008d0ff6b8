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

    /// A run of query rows of one sequence: rows row..<row+count of q/out, at positions start..<start+count of
    /// `cache` (whose keys/values for them are already stored).
    struct Segment {
        let cache: KVCache
        let row: Int, count: Int, start: Int
    }

    /// out (rows × heads·headDim) = attention of q (RoPE applied) for each segment over its own cache layer
    /// `layer`, positions 0..<start+count. All segments' (KV head, 16-query chunk) tasks share one pool dispatch.
    static func forward(segments: [Segment], layer: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        heads: Int, kvHeads: Int, headDim: Int, threads: Int) {
        let group = heads / kvHeads
        let qDim = heads * headDim
        let scale = 1 / Float(headDim).squareRoot()
        let (qv, ov) = (UncheckedBox(q), UncheckedBox(out))
        let chunk = 16
        // Tasks: segment-major, then chunk, then KV head (the query heads sharing it go together: a decode row reads
        // each key and value row once for all of them); firstTask[i] = first task of segment i.
        var firstTask = [0]
        for sg in segments { firstTask.append(firstTask.last! + kvHeads * ((sg.count + chunk - 1) / chunk)) }
        let tasks = firstTask.last!
        guard tasks > 0 else { return }
        let maxWidth = segments.map { (($0.start + $0.count + pad - 1) / pad) * pad }.max()!
        ThreadPool.shared.run(ranges: tasks, parts: min(threads, tasks)) { range in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: group * maxWidth)
            let q16 = UnsafeMutablePointer<UInt16>.allocate(capacity: group * max(headDim, 16))
            let p16 = UnsafeMutablePointer<UInt16>.allocate(capacity: group * maxWidth)
            defer { s.deallocate(); q16.deallocate(); p16.deallocate() }
            var i = 0
            for task in range {
                while task >= firstTask[i + 1] { i += 1 }
                let sg = segments[i], local = task - firstTask[i]
                let kh = local % kvHeads, c = local / kvHeads
                for t in (c * chunk)..<min(sg.count, (c + 1) * chunk) {
                    let r = sg.row + t
                    if sg.count == 1 && sg.cache.precision == .f16 {
                        decode(cache: sg.cache, layer: layer, q: qv.value + r * qDim, out: ov.value + r * qDim, pos: sg.start + t,
                               kvHead: kh, group: group, headDim: headDim, scale: scale, width: maxWidth, scores: s, q16: q16, p16: p16)
                        continue
                    }
                    for h in (kh * group)..<((kh + 1) * group) {
                        head(cache: sg.cache, layer: layer, q: qv.value + r * qDim + h * headDim,
                             out: ov.value + r * qDim + h * headDim,
                             pos: sg.start + t, kvHead: kh, headDim: headDim, scale: scale,
                             scores: s, q16: q16, p16: p16)
                    }
                }
            }
        }
    }

    /// One decode query (F16 cache) for the `group` query heads of KV head `kvHead`: what `head` computes for each
    /// (vec_dot order), with every key and value row read once for the group. q/out: the row's heads·headDim floats;
    /// scratch `group` × `width` (scores, p16) and `group` × headDim (q16).
    private static func decode(cache: KVCache, layer: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                               pos: Int, kvHead: Int, group: Int, headDim: Int, scale: Float, width maxWidth: Int,
                               scores s: UnsafeMutablePointer<Float>, q16: UnsafeMutablePointer<UInt16>,
                               p16: UnsafeMutablePointer<UInt16>) {
        let n = pos + 1, h0 = kvHead * group
        for g in 0..<group { convertFloatToHalf(q + (h0 + g) * headDim, q16 + g * headDim, headDim) }
        let k0 = (cache.keyRow(layer, 0) + kvHead * headDim * cache.elementSize).assumingMemoryBound(to: UInt16.self)
        llk_dot_f16_vec_multi(Int32(headDim), k0, cache.kvDim, Int32(n), q16, headDim, Int32(group), s, maxWidth)
        // p rounded to F16, zero beyond n up to the padded width (llama.cpp's masked columns).
        let width = ((n + pad - 1) / pad) * pad
        for g in 0..<group {
            Ops.softmax(s + g * maxWidth, n: n, scale: scale)
            convertFloatToHalf(s + g * maxWidth, p16 + g * maxWidth, n)
            for j in n..<width { p16[g * maxWidth + j] = 0 }
        }
        let v0 = cache.valueRow(layer, kvHead * headDim).assumingMemoryBound(to: UInt16.self)
        llk_dot_f16_vec_multi(Int32(width), v0, cache.capacity, Int32(headDim), p16, maxWidth, Int32(group), out + h0 * headDim,
                              headDim)
    }

    /// One query at position `pos` of one head, in llama.cpp's prompt (tinyBLAS) summation order (a decode row of
    /// an F16 cache goes to `decode`); or, with an F32 cache, plain F32 dots.
    private static func head(cache: KVCache, layer: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                             pos: Int, kvHead: Int, headDim: Int, scale: Float,
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
        if blasK {
            for j in 0..<n {
                s[j] = llk_dot_f16_blas(Int32(headDim), (cache.keyRow(layer, j) + kOff).assumingMemoryBound(to: UInt16.self), q16)
            }
        } else {  // tinyBLAS cannot take this width: ggml's vec_dot
            llk_dot_f16_vec_multi(Int32(headDim), (cache.keyRow(layer, 0) + kOff).assumingMemoryBound(to: UInt16.self),
                                  cache.kvDim, Int32(n), q16, headDim, 1, s, n)
        }
        Ops.softmax(s, n: n, scale: scale)
        // p rounded to F16, zero beyond n up to the padded width (llama.cpp's masked columns).
        let width = ((n + pad - 1) / pad) * pad
        convertFloatToHalf(s, p16, n)
        for j in n..<width { p16[j] = 0 }
        let v0 = cache.valueRow(layer, kvHead * headDim).assumingMemoryBound(to: UInt16.self)
        for d in 0..<headDim { out[d] = llk_dot_f16_blas(Int32(width), v0 + d * cache.capacity, p16) }
    }
}
