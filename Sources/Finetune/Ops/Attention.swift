// Causal multi-head attention with grouped key/value heads (GQA), and RoPE.
//
// Attention, per sequence b and query head h (kv head g = h / (H / KVH)), scale = 1/sqrt(hd):
//   S = q·kᵀ (T×T, causal: query t sees keys 0...t),  P = softmax(scale·S),  o = P·v.
// Backward, with D[t] = Σ do[t]·o[t]:
//   dP = do·vᵀ,  dS = P∘(dP − D)·scale,  dq = dS·k,  dk += dSᵀ·q,  dv += Pᵀ·do.
// Computed flash-attention style, one query row at a time (C kernels llk_attn_fwd/bwd): its scores against only
// the keys it can see (the upper triangle is never computed), 16 at a time against a transposed copy of the
// sequence's K block, softmax fused in, P never stored: the forward keeps lse = logsumexp(scale·S) per (b, h, t)
// and the backward recomputes P = exp(scale·S − lse). Head sizes are small (16 in the tiny models), which BLAS
// handles poorly, hence the kernels. One task per (b, g) — it owns that group's dk and dv — spread over the pool
// in fixed contiguous ranges; each task's arithmetic is the same whoever runs it.
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

    /// Scratch floats one part needs for sequences of up to `maxLength` (transposed K and V blocks, score rows).
    public static func scratchPerPart(maxLength: Int, headDim hd: Int) -> Int {
        let ldt = (maxLength + 15) / 16 * 16
        return 5 * hd * ldt + 8 * ldt + 4 * hd  // the backward's; the forward needs less
    }
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
        let per = scratchPerPart(maxLength: T, headDim: hd)
        forParts(s.batch * s.kvHeads, pool: pool) { part, tasks in
            for task in tasks {
                let b = task / s.kvHeads, g = task % s.kvHeads, h0 = g * rep
                llk_attn_fwd(out + b * T * ldo + h0 * hd, ldo, q + b * T * ldq + h0 * hd, ldq, k + b * T * ldk + g * hd, ldk,
                             v + b * T * ldv + g * hd, ldv, lse + (b * s.heads + h0) * T, T, hd, rep, scale, scratch + part * per)
            }
        }
    }

    /// dq (overwritten), dk and dv (overwritten for every (b, g) block) from dOut; out and lse from the forward.
    /// dq, dk, dv have the row strides of q, k, v.
    public static func backward(dq: FloatPointer, dk: FloatPointer, dv: FloatPointer, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                ldo: Int, q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>,
                                ldv: Int, lse: UnsafePointer<Float>, shape s: Shape, scratch: FloatPointer, pool: ThreadPool) {
        let T = s.length, hd = s.headDim, rep = s.heads / s.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let per = scratchPerPart(maxLength: T, headDim: hd)
        forParts(s.batch * s.kvHeads, pool: pool) { part, tasks in
            for task in tasks {
                let b = task / s.kvHeads, g = task % s.kvHeads, h0 = g * rep
                let qo = b * T * ldq + h0 * hd, ko = b * T * ldk + g * hd, vo = b * T * ldv + g * hd, oo = b * T * ldo + h0 * hd
                llk_attn_bwd(dq + qo, dk + ko, dv + vo, dOut + oo, out + oo, ldo, q + qo, ldq, k + ko, ldk, v + vo, ldv,
                             lse + (b * s.heads + h0) * T, T, hd, rep, scale, scratch + part * per)
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
