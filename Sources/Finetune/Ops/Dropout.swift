// Inverted dropout: y = x·m with m = 0 (probability p) or 1/(1 − p); backward dx = dy·m.
// The mask is drawn from the run's TrainRNG, one uniform per element in memory order (u < p → dropped), so a run
// is reproducible and resumable; the C kernel runs xoshiro256** on a copy of the state and writes it back (the
// same stream TrainRNG.next() gives). Drawing is sequential by nature; applying the mask is not.

import CKernels
import Quant

public enum Dropout {
    /// x *= mask in place, mask (count) written for the backward.
    public static func forward(_ x: FloatPointer, mask: FloatPointer, count: Int, rate p: Float, rng: inout TrainRNG) {
        var s: (UInt64, UInt64, UInt64, UInt64) = (rng.state[0], rng.state[1], rng.state[2], rng.state[3])
        withUnsafeMutableBytes(of: &s) { raw in
            llk_train_dropout(raw.baseAddress!.assumingMemoryBound(to: UInt64.self), p, mask, x, count)
        }
        rng.state = [s.0, s.1, s.2, s.3]
    }

    /// dx = dy·mask (dx may be dy).
    public static func backward(dx: FloatPointer, dy: UnsafePointer<Float>, mask: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        let parts = Chunks.count(count / 128)
        pool.run(parts) { k in
            for i in Chunks.range(k, parts, count) { dx[i] = dy[i] * mask[i] }
        }
    }
}
