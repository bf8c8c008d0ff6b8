// LayerNorm (weight and bias) and RMSNorm (weight) over the last dimension C of (N, C) rows.
//   LayerNorm: x̂ = (x − μ)·rstd, rstd = 1/sqrt(var + eps), y = x̂·w + b.
//     dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·w;  dw += Σ dy·x̂;  db += Σ dy.
//   RMSNorm: rstd = 1/sqrt(mean(x²) + eps), y = x·rstd·w.
//     dx = rstd·(dx̂ − x̂·mean(dx̂·x̂)) with x̂ = x·rstd, dx̂ = dy·w;  dw += Σ dy·x̂.
// dx is accumulated (+=): the norms sit on the residual stream, whose gradient they add to. The row loops are C
// kernels (llk_layernorm_*, llk_rmsnorm_*); dw/db partial sums per fixed row chunk live in `scratch`
// (≥ Chunks.max·2·C floats) and are added in chunk order.

import CKernels
import Quant

public enum LayerNorm {
    /// y (N, C), mean and rstd (N) for the backward.
    public static func forward(_ y: FloatPointer, mean: FloatPointer, rstd: FloatPointer, _ x: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, n: Int, dim c: Int, eps: Float, pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            llk_layernorm_fwd(y + r.lowerBound * c, mean + r.lowerBound, rstd + r.lowerBound, x + r.lowerBound * c, weight, bias,
                              r.count, c, eps)
        }
    }

    public static func backward(dx: FloatPointer, dWeight: FloatPointer, dBias: FloatPointer, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                weight: UnsafePointer<Float>, n: Int, dim c: Int, scratch: FloatPointer, pool: ThreadPool) {
        let parts = Chunks.count(n)
        scratch.update(repeating: 0, count: parts * 2 * c)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            let o = r.lowerBound
            llk_layernorm_bwd(dx + o * c, scratch + k * 2 * c, scratch + k * 2 * c + c, dy + o * c, x + o * c, mean + o,
                              rstd + o, weight, r.count, c)
        }
        for k in 0..<parts {
            let p = scratch + k * 2 * c
            for i in 0..<c { dWeight[i] += p[i]; dBias[i] += p[c + i] }
        }
    }
}

public enum RMSNorm {
    /// y (N, C), rstd (N) for the backward.
    public static func forward(_ y: FloatPointer, rstd: FloatPointer, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               n: Int, dim c: Int, eps: Float, pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            llk_rmsnorm_fwd(y + r.lowerBound * c, rstd + r.lowerBound, x + r.lowerBound * c, weight, r.count, c, eps)
        }
    }

    public static func backward(dx: FloatPointer, dWeight: FloatPointer, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>, n: Int, dim c: Int,
                                scratch: FloatPointer, pool: ThreadPool) {
        let parts = Chunks.count(n)
        scratch.update(repeating: 0, count: parts * c)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            let o = r.lowerBound
            llk_rmsnorm_bwd(dx + o * c, scratch + k * c, dy + o * c, x + o * c, rstd + o, weight, r.count, c)
        }
        for k in 0..<parts {
            let p = scratch + k * c
            for i in 0..<c { dWeight[i] += p[i] }
        }
    }
}
