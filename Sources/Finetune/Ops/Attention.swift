// Causal multi-head attention with grouped key/value heads (GQA), and RoPE.
//
// Attention, per sequence b and query head h (kv head g = h / (H / KVH)), scale = 1/sqrt(hd):
//   S = q·kᵀ (T×T, causal: query t sees keys 0...t),  P = softmax(scale·S),  o = P·v.
// Backward, with D[t] = Σ do[t]·o[t]:
//   dP = do·vᵀ,  dS = P∘(dP − D)·scale,  dq = dS·k,  dk += dSᵀ·q,  dv += Pᵀ·do.
// Computed flash-attention style in query tiles of 64 rows: a tile's scores against only the keys it can see (its
// causal prefix, so the upper triangle beyond the tile's diagonal block is never computed), softmax fused with
// the mask, P never stored: the forward keeps lse = logsumexp(scale·S) per (b, h, t) and the backward recomputes
// P = exp(scale·S − lse). The products are BLAS calls on the tile. One task per (b, g) — it owns that group's dk
// and dv — spread over the pool in fixed contiguous ranges; each task's arithmetic is the same whoever runs it.
//
// Layout: q, k, v rows are token rows (b·T + t) of any row stride (the fused qkv buffer), head h's slice at
// column h·hd; out/do likewise; lse (B, H, T).
//
// RoPE (ggml NORM mode): pairs (x[2i], x[2i+1]) of every head rotated by angle pos·θ_i, θ_i = base^(−2i/hd):
//   x0' = x0·cos − x1·sin, x1' = x0·sin + x1·cos; the backward rotates the gradient by −angle.

import CKernels
import Foundation
import Quant

public enum Attention {
    public struct Shape: Sendable {
        public var batch: Int, length: Int, heads: Int, kvHeads: Int, headDim: Int
        public init(batch: Int, length: Int, heads: Int, kvHeads: Int, headDim: Int) {
            self.batch = batch; self.length = length; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
        }
    }

    static let tile = 64

    /// Scratch floats one part needs for sequences of up to `maxLength` (two tiles of scores and a D vector).
    public static func scratchPerPart(maxLength: Int) -> Int { 2 * tile * maxLength + tile }
    /// Parts the scratch must be sized for.
    public static let maxParts = Chunks.max

    @inline(__always) private static func forParts(_ tasks: Int, pool: ThreadPool, _ body: (Int, Range<Int>) -> Void) {
        let parts = max(1, min(pool.size, tasks, maxParts))
        pool.run(parts) { k in body(k, Chunks.range(k, parts, tasks)) }
    }

    public static func forward(out: FloatPointer, ldo: Int, q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                               v: UnsafePointer<Float>, ldv: Int, lse: FloatPointer, shape s: Shape, scratch: FloatPointer, pool: ThreadPool) {
        let T = s.length, hd = s.headDim, rep = s.heads / s.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let per = scratchPerPart(maxLength: T)
        forParts(s.batch * s.kvHeads, pool: pool) { part, tasks in
            let S = scratch + part * per
            for task in tasks {
                let b = task / s.kvHeads, g = task % s.kvHeads
                let kb = k + b * T * ldk + g * hd, vb = v + b * T * ldv + g * hd
                for h in (g * rep)..<((g + 1) * rep) {
                    let qb = q + b * T * ldq + h * hd, ob = out + b * T * ldo + h * hd
                    let lseb = lse + (b * s.heads + h) * T
                    var t0 = 0
                    while t0 < T {
                        let rows = min(tile, T - t0), cols = t0 + rows
                        BLAS.sgemm(transB: true, m: rows, n: cols, k: hd, qb + t0 * ldq, lda: ldq, kb, ldb: ldk, S, ldc: T)
                        llk_attn_softmax(S, T, rows, t0, cols, scale, lseb + t0)
                        BLAS.sgemm(m: rows, n: hd, k: cols, S, lda: T, vb, ldb: ldv, ob + t0 * ldo, ldc: ldo)
                        t0 += rows
                    }
                }
            }
        }
    }

    /// dq (overwritten), dk and dv (overwritten for every (b, g) block) from dOut; out and lse from the forward.
    public static func backward(dq: FloatPointer, dk: FloatPointer, dv: FloatPointer, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                ldo: Int, q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>,
                                ldv: Int, lse: UnsafePointer<Float>, shape s: Shape, scratch: FloatPointer, pool: ThreadPool) {
        let T = s.length, hd = s.headDim, rep = s.heads / s.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let per = scratchPerPart(maxLength: T)
        forParts(s.batch * s.kvHeads, pool: pool) { part, tasks in
            let S = scratch + part * per, dP = S + tile * T, D = dP + tile * T
            for task in tasks {
                let b = task / s.kvHeads, g = task % s.kvHeads
                let kb = k + b * T * ldk + g * hd, vb = v + b * T * ldv + g * hd
                let dkb = dk + b * T * ldk + g * hd, dvb = dv + b * T * ldv + g * hd
                for t in 0..<T {
                    (dkb + t * ldk).update(repeating: 0, count: hd)
                    (dvb + t * ldv).update(repeating: 0, count: hd)
                }
                for h in (g * rep)..<((g + 1) * rep) {
                    let qb = q + b * T * ldq + h * hd, dqb = dq + b * T * ldq + h * hd
                    let ob = out + b * T * ldo + h * hd, dob = dOut + b * T * ldo + h * hd
                    let lseb = lse + (b * s.heads + h) * T
                    var t0 = 0
                    while t0 < T {
                        let rows = min(tile, T - t0), cols = t0 + rows
                        for r in 0..<rows {
                            let o = ob + (t0 + r) * ldo, d = dob + (t0 + r) * ldo
                            var acc: Float = 0
                            for i in 0..<hd { acc += o[i] * d[i] }
                            D[r] = acc
                        }
                        BLAS.sgemm(transB: true, m: rows, n: cols, k: hd, qb + t0 * ldq, lda: ldq, kb, ldb: ldk, S, ldc: T)
                        BLAS.sgemm(transB: true, m: rows, n: cols, k: hd, dob + t0 * ldo, lda: ldo, vb, ldb: ldv, dP, ldc: T)
                        llk_attn_softmax_bwd(S, dP, T, rows, t0, cols, scale, lseb + t0, D)
                        BLAS.sgemm(m: rows, n: hd, k: cols, dP, lda: T, kb, ldb: ldk, dqb + t0 * ldq, ldc: ldq)
                        BLAS.sgemm(transA: true, m: cols, n: hd, k: rows, dP, lda: T, qb + t0 * ldq, ldb: ldq, beta: 1, dkb, ldc: ldk)
                        BLAS.sgemm(transA: true, m: cols, n: hd, k: rows, S, lda: T, dob + t0 * ldo, ldb: ldo, beta: 1, dvb, ldc: ldv)
                        t0 += rows
                    }
                }
            }
        }
    }
}

public enum RoPE {
    /// cos/sin of every (position, pair): table[pos·hd + 2i] = cos(pos·θ_i), [.. + 2i + 1] = sin(pos·θ_i).
    public static func table(length: Int, headDim hd: Int, base: Float) -> [Float] {
        var t = [Float](repeating: 0, count: length * hd)
        for p in 0..<length {
            for i in 0..<(hd / 2) {
                let angle = Double(p) * pow(Double(base), -2 * Double(i) / Double(hd))
                t[p * hd + 2 * i] = Float(cos(angle))
                t[p * hd + 2 * i + 1] = Float(sin(angle))
            }
        }
        return t
    }

    /// Rotates `heads` head vectors of every token row in place (inverse: the backward's rotation by −angle).
    public static func apply(_ x: FloatPointer, ld: Int, batch: Int, length: Int, heads: Int, headDim: Int,
                             table: UnsafePointer<Float>, inverse: Bool, pool: ThreadPool) {
        pool.run(batch) { b in
            llk_rope(x + b * length * ld, ld, length, 0, heads, headDim, table, inverse ? 1 : 0)
        }
    }
}
