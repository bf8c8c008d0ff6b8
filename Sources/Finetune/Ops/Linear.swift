// Linear layer through BLAS: forward y = x·Wᵀ + b; backward dx = dy·W, dW += dyᵀ·x, db += Σ_rows dy.
// Shapes: x (N, in) with row stride ldx, W (out, in) dense, b (out), y/dy (N, out) with row strides ldy/lddy, so q, k
// and v can live side by side in one (N, q+k+v) buffer. Parallel: rows of x/y in fixed chunks for the forward and
// for dx; rows of W (output features) in fixed chunks for dW and db (each chunk sums over all N rows in order).

import CKernels
import Quant

public enum Linear {
    /// y = x·Wᵀ (+ b).
    public static func forward(_ y: FloatPointer, ldy: Int, _ x: UnsafePointer<Float>, ldx: Int, weight w: UnsafePointer<Float>,
                               bias b: UnsafePointer<Float>?, n: Int, inDim: Int, outDim: Int, pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let rows = Chunks.range(k, parts, n)
            if rows.isEmpty { return }
            if let b {
                for r in rows { (y + r * ldy).update(from: b, count: outDim) }
            }
            BLAS.sgemm(transB: true, m: rows.count, n: outDim, k: inDim, x + rows.lowerBound * ldx, lda: ldx, w, ldb: inDim,
                       beta: b == nil ? 0 : 1, y + rows.lowerBound * ldy, ldc: ldy)
        }
    }

    /// dx = dy·W (or += when accumulateDx; dx nil skips it), dW += dyᵀ·x, db += Σ dy.
    public static func backward(dx: FloatPointer?, lddx: Int, accumulateDx: Bool = false, dWeight dw: FloatPointer,
                                dBias db: FloatPointer?, dy: UnsafePointer<Float>, lddy: Int, x: UnsafePointer<Float>, ldx: Int,
                                weight w: UnsafePointer<Float>, n: Int, inDim: Int, outDim: Int, pool: ThreadPool) {
        let rowParts = dx == nil ? 0 : Chunks.count(n)
        let wParts = max(1, min(Chunks.max, outDim / 32))
        pool.run(rowParts + wParts) { task in
            if task < rowParts {
                let rows = Chunks.range(task, rowParts, n)
                if rows.isEmpty { return }
                BLAS.sgemm(m: rows.count, n: inDim, k: outDim, dy + rows.lowerBound * lddy, lda: lddy, w, ldb: inDim,
                           beta: accumulateDx ? 1 : 0, dx! + rows.lowerBound * lddx, ldc: lddx)
            } else {
                let o = Chunks.range(task - rowParts, wParts, outDim)
                if o.isEmpty { return }
                BLAS.sgemm(transA: true, m: o.count, n: inDim, k: n, dy + o.lowerBound, lda: lddy, x, ldb: ldx, beta: 1,
                           dw + o.lowerBound * inDim, ldc: inDim)
                if let db { llk_colsum(db + o.lowerBound, dy + o.lowerBound, lddy, n, o.count) }
            }
        }
    }
}
