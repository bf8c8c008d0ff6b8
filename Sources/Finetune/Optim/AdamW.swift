// AdamW (Loshchilov & Hutter), PyTorch's formulation, on a model's parameter list:
//   θ ← θ − lr·wd·θ                      (decoupled decay, only parameters with decay == true)
//   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
//   θ ← θ − (lr / (1 − β1ᵗ))·m / (sqrt(v) / sqrt(1 − β2ᵗ) + eps)
// Defaults β = (0.9, 0.95), eps 1e-8, wd 0.1. The moments are F32 buffers per parameter, exposed by name for
// checkpoints; `step` counts the updates applied (t above after the update). Elementwise, so the split across
// threads cannot change a bit.

import CKernels
import Foundation
import Quant

public final class AdamW {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    public let parameters: [Parameter]
    /// Updates applied so far.
    public var step: Int = 0
    /// The threads the update runs on.
    public var pool: ThreadPool = .shared
    private let m: [UnsafeMutableBufferPointer<Float>]
    private let v: [UnsafeMutableBufferPointer<Float>]
    /// (parameter, first element, count) work items of at most 64 Ki elements.
    private let items: [(Int, Int, Int)]

    public init(parameters: [Parameter], beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.parameters = parameters
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        func zeros(_ n: Int) -> UnsafeMutableBufferPointer<Float> {
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(n, 1))
            b.initialize(repeating: 0)
            return UnsafeMutableBufferPointer(rebasing: b[0..<n])
        }
        m = parameters.map { zeros($0.count) }
        v = parameters.map { zeros($0.count) }
        var its: [(Int, Int, Int)] = []
        for (i, p) in parameters.enumerated() {
            var o = 0
            while o < p.count { its.append((i, o, min(65536, p.count - o))); o += 65536 }
        }
        items = its
    }

    deinit {
        for b in m { b.baseAddress?.deallocate() }
        for b in v { b.baseAddress?.deallocate() }
    }

    /// The optimizer state by parameter name, in parameter order (read to save, write to restore).
    public var moments: [(name: String, m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>)] {
        parameters.indices.map { (parameters[$0].name, m[$0], v[$0]) }
    }

    /// Applies one update with learning rate `lr` from the parameters' current grads (grads are left as they are).
    public func step(lr: Float) {
        step += 1
        let bc1 = 1 - Float(pow(Double(beta1), Double(step)))
        let bc2 = 1 - Float(pow(Double(beta2), Double(step)))
        let (b1, b2, e, wd) = (beta1, beta2, eps, weightDecay)
        pool.run(items.count) { k in
            let (i, o, n) = items[k]
            let p = parameters[i]
            llk_adamw(p.value.baseAddress! + o, p.grad.baseAddress! + o, m[i].baseAddress! + o, v[i].baseAddress! + o, n, lr, b1, b2, e,
                      p.decay ? wd : 0, bc1, bc2)
        }
    }

    /// Zeroes every parameter's gradient.
    public func zeroGrad() {
        pool.run(items.count) { k in
            let (i, o, n) = items[k]
            (parameters[i].grad.baseAddress! + o).update(repeating: 0, count: n)
        }
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm` (PyTorch's clip_grad_norm_: factor
/// maxNorm / (norm + 1e-6) when below 1); returns the norm before clipping. The sum of squares runs in double,
/// parameter by parameter in order.
@discardableResult
public func clipGradients(_ params: [Parameter], maxNorm: Float) -> Float {
    var sum = 0.0
    for p in params { sum += llk_sumsq(p.grad.baseAddress!, p.count) }
    let norm = Float(sum.squareRoot())
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        for p in params { llk_scale(p.grad.baseAddress!, p.count, coef) }
    }
    return norm
}

/// Zeroes every parameter's gradient.
public func zeroGradients(_ params: [Parameter]) {
    for p in params { p.zeroGrad() }
}
