// Softmax cross-entropy over the vocabulary: for a scored row (target ≥ 0), loss = logsumexp(z) − z[target]; the
// mean is over scored rows. Backward (fused into the same pass over the logits): dz = (softmax(z) − onehot)·scale
// with scale = gradScale / scored rows; ignored rows (target < 0) get loss 0 and gradient 0.
// Shapes: logits (N, V) — replaced by dz when `grad`; losses (N).

import CKernels
import Quant

public enum CrossEntropy {
    /// Returns the mean loss over scored rows (0 when none); per-row losses in `losses`.
    public static func forwardBackward(logits: FloatPointer, losses: FloatPointer, targets: UnsafePointer<Int32>, n: Int,
                                       vocabulary v: Int, gradScale: Float, grad: Bool, pool: ThreadPool) -> Float {
        var scored = 0
        for r in 0..<n where targets[r] >= 0 { scored += 1 }
        let scale = scored > 0 ? gradScale / Float(scored) : 0
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            let r = Chunks.range(k, parts, n)
            if r.isEmpty { return }
            llk_xent(logits + r.lowerBound * v, losses + r.lowerBound, targets + r.lowerBound, r.count, v, scale, grad ? 1 : 0)
        }
        var sum = 0.0
        for r in 0..<n { sum += Double(losses[r]) }
        return scored > 0 ? Float(sum / Double(scored)) : 0
    }
}
