// Token embedding plus optional learned positions: x[b, t] = wte[token[b, t]] + wpe[t].
// Backward: dwte[token] += dx row, dwpe[t] += Σ_b dx[b, t] — scatter-adds done in row order on one thread (tokens
// repeat, so rows are not independent; the cost is one pass over (N, C)).
// Shapes: tokens (B·T), wte (V, C), wpe (maxT, C), x/dx (B·T, C).

import Quant

public enum Embedding {
    public static func forward(_ x: FloatPointer, tokens: UnsafePointer<Int32>, tokenTable wte: UnsafePointer<Float>,
                               positionTable wpe: UnsafePointer<Float>?, batch: Int, length: Int, dim c: Int, pool: ThreadPool) {
        let n = batch * length
        let parts = Chunks.count(n)
        pool.run(parts) { k in
            for r in Chunks.range(k, parts, n) {
                let out = x + r * c
                let e = wte + Int(tokens[r]) * c
                if let wpe {
                    let p = wpe + (r % length) * c
                    for i in 0..<c { out[i] = e[i] + p[i] }
                } else {
                    out.update(from: e, count: c)
                }
            }
        }
    }

    public static func backward(dTokenTable dwte: FloatPointer, dPositionTable dwpe: FloatPointer?, dx: UnsafePointer<Float>,
                                tokens: UnsafePointer<Int32>, batch: Int, length: Int, dim c: Int) {
        for r in 0..<(batch * length) {
            let d = dx + r * c
            let e = dwte + Int(tokens[r]) * c
            for i in 0..<c { e[i] += d[i] }
            if let dwpe {
                let p = dwpe + (r % length) * c
                for i in 0..<c { p[i] += d[i] }
            }
        }
    }
}
