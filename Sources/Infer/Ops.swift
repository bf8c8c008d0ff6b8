// Ops: the elementwise and row-wise operations of a transformer forward pass (RMSNorm, LayerNorm, RoPE, softmax,
// SwiGLU, GELU, residual add), over flat row-major F32 buffers. Not here: matrix products (Quant's MatMul)
// and attention (Attention.swift).
//
// The arithmetic follows ggml's CPU backend bit for bit where llama.cpp's output depends on it, so that greedy
// decoding picks the same tokens: RMSNorm sums squares in double, in order; RoPE builds its angles by repeated
// float multiplication (ggml_rope_cache_init) and rotates with fused multiply-adds; softmax and SwiGLU run
// ggml's own vector exp (C kernels in CKernels/ops.c).
import CKernels
import Foundation

public enum Ops {
    // MARK: - normalization

    /// out[i] = x[i] · (1 / sqrt(mean(x²) + eps)) · w[i] for one row of n (ggml_rms_norm then ggml_mul).
    @inline(__always)
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                               n: Int, eps: Float) {
        var sum = 0.0
        for i in 0..<n { sum += Double(x[i] * x[i]) }
        let mean = Float(sum / Double(n))
        let scale = 1 / (mean + eps).squareRoot()
        for j in 0..<n { out[j] = (x[j] * scale) * w[j] }
    }

    /// out[i] = (x[i] − mean) / sqrt(var + eps) · w[i] + b[i] for one row of n (ggml_norm, then mul and add).
    public static func layerNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?,
                                 _ out: UnsafeMutablePointer<Float>, n: Int, eps: Float) {
        var sum = 0.0
        for i in 0..<n { sum += Double(x[i]) }
        let mean = Float(sum / Double(n))
        var sq = 0.0
        for i in 0..<n { let d = x[i] - mean; sq += Double(d * d) }
        let variance = Float(sq / Double(n))
        let scale = 1 / (variance + eps).squareRoot()
        for i in 0..<n {
            let y = ((x[i] - mean) * scale) * w[i]
            out[i] = b.map { y + $0[i] } ?? y
        }
    }

    // MARK: - rotary position embedding

    /// cos/sin pairs for position `pos` (out: nDims floats, [cos θ0, sin θ0, cos θ1, sin θ1 …]), as ggml's
    /// rope cache: θ starts at pos and is multiplied by base^(−2/nDims) per pair; per-pair `freqFactors`
    /// (Llama 3.1's rope_freqs) divide θ; `freqScale` is linear scaling (1 / factor).
    public static func ropeAngles(pos: Int, nDims: Int, base: Float, freqScale: Float, freqFactors: UnsafePointer<Float>?,
                                  _ out: UnsafeMutablePointer<Float>) {
        let thetaScale = powf(base, -2.0 / Float(nDims))
        var theta = Float(pos)
        var i0 = 0
        while i0 < nDims {
            let ff: Float = freqFactors.map { $0[i0 / 2] } ?? 1
            let t = freqScale * (theta / ff)
            out[i0] = cosf(t)
            out[i0 + 1] = sinf(t)
            theta *= thetaScale
            i0 += 2
        }
    }

    /// Rotates adjacent pairs (x[2i], x[2i+1]) of each of `heads` head vectors of `headDim` by the angles from
    /// `ropeAngles` (ggml's NORM mode, the layout of llama GGUF files whose q/k rows were permuted at conversion).
    /// Only the first `nDims` elements of each head rotate. Fused multiply-adds as in llama.cpp (CKernels ops.c).
    @inline(__always)
    public static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, nDims: Int, angles: UnsafePointer<Float>) {
        llk_rope_norm(x, Int32(heads), Int32(headDim), Int32(nDims), angles)
    }

    // MARK: - exp, softmax, activations

    /// Lanes the softmax kernel works in: callers pad rows to a multiple of this (see `softmax`).
    public static let softmaxPad = 16

    /// In place: p[j] = exp(x[j]·scale − max) / Σ over j in 0..<n, as ggml_soft_max_ext computes a row whose
    /// masked entries are −∞ (they contribute exp(−∞) = 0). `x` must have room for n rounded up to `softmaxPad`:
    /// the padding is set to −∞ and then 0, so that the exponentials are grouped into vectors exactly as in
    /// llama.cpp's padded rows. Exponentials summed in double; the row scaled by Float(1/Σ).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int, scale: Float) {
        let padded = (n + softmaxPad - 1) / softmaxPad * softmaxPad
        var mx = -Float.infinity
        for j in 0..<n { x[j] *= scale; mx = max(mx, x[j]) }
        for j in n..<padded { x[j] = -.infinity }
        let sum = llk_soft_max(Int32(padded), x, x, mx)
        let inv = Float(1.0 / sum)
        for k in 0..<padded { x[k] *= inv }
    }

    /// out[i] = silu(gate[i]) · up[i], silu(x) = x / (1 + exp(−x)) (ggml_vec_swiglu_f32, CKernels ops.c).
    public static func swiglu(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, n: Int) {
        llk_swiglu(Int32(n), out, gate, up)
    }

    /// GELU, tanh approximation (GPT-2's): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in place.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, n: Int) {
        let c: Float = 0.7978845608028654
        for i in 0..<n {
            let v = x[i]
            x[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
        }
    }

    /// y[i] += x[i].
    @inline(__always)
    public static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }
}
