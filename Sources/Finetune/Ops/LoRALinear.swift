// The low-rank half of a LoRA-adapted linear layer (the frozen half is FrozenLinear), PEFT's arithmetic:
//   forward:   xd = dropout(x) (inverted, on the adapter's input only),  h = xd·Aᵀ,  y += s·h·Bᵀ
//   backward:  g = s·dy·B,  dB += s·dyᵀ·h,  dA += gᵀ·xd,  dx += (g·A)∘mask
// with s = alpha/rank (alpha/√rank for rsLoRA). Shapes: x, xd, dx (N, in) with row strides; A (r, in); B (out, r);
// h, g (N, r) dense; y, dy (N, out) with row strides; mask (N, in) dense, m ∈ {0, 1/(1−p)}, nil without dropout.
// Parallel in fixed chunks (rows of N for h, y, g and dx; rows of B for dB; columns of A for dA), so results do not
// depend on the thread count.

import Quant

public enum LoRALinear {
    /// h = xd·Aᵀ and y += s·h·Bᵀ. `xd` is the (already dropped-out) input.
    public static func forward(_ y: FloatPointer, ldy: Int, h: FloatPointer, _ xd: UnsafePointer<Float>, ldx: Int,
                               a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale s: Float, n: Int, inDim: Int,
                               outDim: Int, rank r: Int, pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let rows = Chunks.range(k, parts, n)
            if rows.isEmpty { return }
            let h0 = h + rows.lowerBound * r
            BLAS.sgemm(transB: true, m: rows.count, n: r, k: inDim, xd + rows.lowerBound * ldx, lda: ldx, a, ldb: inDim, h0, ldc: r)
            BLAS.sgemm(transB: true, m: rows.count, n: outDim, k: r, alpha: s, h0, lda: r, b, ldb: r, beta: 1,
                       y + rows.lowerBound * ldy, ldc: ldy)
        }
    }

    /// Gradients of A and B (accumulated) and dx += (s·dy·B·A)∘mask. `g` (N, r) and, with a mask, `tmp` (N, in)
    /// are scratch.
    public static func backward(dx: FloatPointer, lddx: Int, dA: FloatPointer, dB: FloatPointer, dy: UnsafePointer<Float>,
                                lddy: Int, h: UnsafePointer<Float>, xd: UnsafePointer<Float>, ldx: Int,
                                mask: UnsafePointer<Float>?, a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale s: Float,
                                n: Int, inDim: Int, outDim: Int, rank r: Int, g: FloatPointer, tmp: FloatPointer?,
                                pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let rows = Chunks.range(k, parts, n)
            if rows.isEmpty { return }
            let g0 = g + rows.lowerBound * r
            BLAS.sgemm(m: rows.count, n: r, k: outDim, alpha: s, dy + rows.lowerBound * lddy, lda: lddy, b, ldb: r, g0, ldc: r)
        }
        let bParts = max(1, min(Chunks.max, outDim / 64)), aParts = max(1, min(Chunks.max, inDim / 64))
        pool.run(bParts + aParts + parts) { task in
            if task < bParts {
                let o = Chunks.range(task, bParts, outDim)
                if o.isEmpty { return }
                BLAS.sgemm(transA: true, m: o.count, n: r, k: n, alpha: s, dy + o.lowerBound, lda: lddy, h, ldb: r, beta: 1,
                           dB + o.lowerBound * r, ldc: r)
            } else if task < bParts + aParts {
                let c = Chunks.range(task - bParts, aParts, inDim)
                if c.isEmpty { return }
                BLAS.sgemm(transA: true, m: r, n: c.count, k: n, g, lda: r, xd + c.lowerBound, ldb: ldx, beta: 1,
                           dA + c.lowerBound, ldc: inDim)
            } else {
                let k = task - bParts - aParts
                let rows = Chunks.range(k, parts, n)
                if rows.isEmpty { return }
                let g0 = g + rows.lowerBound * r
                if let mask, let tmp {
                    let t0 = tmp + rows.lowerBound * inDim
                    BLAS.sgemm(m: rows.count, n: inDim, k: r, g0, lda: r, a, ldb: inDim, t0, ldc: inDim)
                    for i in rows {
                        let d = dx + i * lddx, t = tmp + i * inDim, m = mask + i * inDim
                        for j in 0..<inDim { d[j] += t[j] * m[j] }
                    }
                } else {
                    BLAS.sgemm(m: rows.count, n: inDim, k: r, g0, lda: r, a, ldb: inDim, beta: 1, dx + rows.lowerBound * lddx, ldc: lddx)
                }
            }
        }
    }
}
