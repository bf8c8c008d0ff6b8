// Activations of the feed-forward block.
//   GELU (tanh form, GPT-2's): y = ½x(1 + tanh(k(x + 0.044715x³))), k = sqrt(2/π);
//     dy/dx = ½(1 + t) + ½x(1 − t²)·k(1 + 3·0.044715x²), t the tanh above. The forward adds the ffn_up bias first
//     (h += b, kept as the pre-activation the backward needs).
//   SwiGLU (Llama's): y = silu(g)·u, silu(g) = g·σ(g); dg = dy·u·σ(g)(1 + g(1 − σ(g))), du = dy·silu(g).
// Elementwise C kernels (llk_gelu_*, llk_swiglu_*) over fixed row chunks.

import CKernels
import Quant

public enum GELU {
    /// h (N, C) += bias; y = gelu(h).
    public static func forward(_ y: FloatPointer, preActivation h: FloatPointer, bias: UnsafePointer<Float>?, n: Int, dim c: Int,
                               pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            llk_gelu_fwd(y + r.lowerBound * c, h + r.lowerBound * c, bias, r.count, c)
        }
    }

    /// dh = dy·gelu'(h) (dh may be dy).
    public static func backward(dh: FloatPointer, h: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int, dim c: Int, pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            let o = r.lowerBound * c
            llk_gelu_bwd(dh + o, h + o, dy + o, r.count * c)
        }
    }
}

public enum SwiGLU {
    /// y = silu(g)·u, all (N, F).
    public static func forward(_ y: FloatPointer, gate g: UnsafePointer<Float>, up u: UnsafePointer<Float>, n: Int, dim c: Int,
                               pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            let o = r.lowerBound * c
            llk_swiglu_fwd(y + o, g + o, u + o, r.count * c)
        }
    }

    /// dg, du from dy.
    public static func backward(dGate dg: FloatPointer, dUp du: FloatPointer, dy: UnsafePointer<Float>, gate g: UnsafePointer<Float>,
                                up u: UnsafePointer<Float>, n: Int, dim c: Int, pool: ThreadPool) {
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            let o = r.lowerBound * c
            llk_swiglu_bwd(dg + o, du + o, dy + o, g + o, u + o, r.count * c)
        }
    }
}
