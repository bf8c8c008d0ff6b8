// Finite-difference gradient checks. Each op (and each whole model) is treated as a function of its inputs; the
// scalar L = Σ (r·y + ½y²) (r a fixed random projection, the square so the gradient dy = r + y is correlated with
// the output, as a real loss's is; for the models, the loss itself) is differentiated along a random
// direction u of one input at a time: (L(x + h·u) − L(x − h·u)) / 2h against Σ grad·u from the backward. One check
// per input tensor, so a wrong formula for any single gradient shows (it would have to be orthogonal to a random
// direction to hide). The forward runs in Float, L is summed in Double.
import CKernels
import Foundation
import Quant
import XCTest
@testable import Finetune

final class GradCheckTests: XCTestCase {
    /// Checks d/du of Σ (r·y + ½y²), y = forward(), against Σ grads[j]·u for every input j (backward gets dy = r + y).
    /// The tolerance adds the Float rounding of L itself (ε·Σ|r·y| per evaluation, divided by 2h).
    func check(_ what: String, inputs: [TBuf], outputs: Int, h: Float = 1e-2, rtol: Double = 2e-3, atol: Double = 1e-4,
               forward: () -> [Float], backward: (TBuf) -> [TBuf], file: StaticString = #filePath, line: UInt = #line) {
        var rng = TrainRNG(seed: 99)
        let r = TBuf.random(outputs, &rng)
        func L() -> Double { zip(forward(), r.array).reduce(0) { $0 + Double($1.0) * Double($1.1) + 0.5 * Double($1.0) * Double($1.0) } }
        let y0 = forward()
        let noise = 1.2e-7 * zip(y0, r.array).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) + Double($1.0) * Double($1.0) } / Double(h)
        let grads = backward(TBuf(zip(y0, r.array).map { $0 + $1 }))
        for (j, x) in inputs.enumerated() {
            let u = TBuf.random(x.count, &rng)
            let orig = x.array
            for i in 0..<x.count { x.p[i] = orig[i] + h * u.p[i] }
            let lp = L()
            for i in 0..<x.count { x.p[i] = orig[i] - h * u.p[i] }
            let lm = L()
            for i in 0..<x.count { x.p[i] = orig[i] }
            let numeric = (lp - lm) / (2 * Double(h))
            let analytic = (0..<x.count).reduce(0.0) { $0 + Double(grads[j].p[$1]) * Double(u.p[$1]) }
            XCTAssert(abs(numeric - analytic) <= rtol * max(abs(numeric), abs(analytic)) + atol + noise,
                      "\(what) input \(j): numeric \(numeric), analytic \(analytic)", file: file, line: line)
        }
    }

    func testLayerNorm() {
        var rng = TrainRNG(seed: 1)
        let n = 6, c = 21
        let x = TBuf.random(n * c, &rng, scale: 2), w = TBuf.random(c, &rng, offset: 1), b = TBuf.random(c, &rng)
        let y = TBuf(n * c), mean = TBuf(n), rstd = TBuf(n), scratch = TBuf(Chunks.max * 2 * c)
        check("layernorm", inputs: [x, w, b], outputs: n * c, forward: {
            LayerNorm.forward(y.p, mean: mean.p, rstd: rstd.p, x.p, weight: w.p, bias: b.p, n: n, dim: c, eps: 1e-5, pool: .shared)
            return y.array
        }, backward: { dy in
            let dx = TBuf(n * c), dw = TBuf(c), db = TBuf(c)
            LayerNorm.backward(dx: dx.p, dWeight: dw.p, dBias: db.p, dy: dy.p, x: x.p, mean: mean.p, rstd: rstd.p, weight: w.p, n: n, dim: c,
                               scratch: scratch.p, pool: .shared)
            return [dx, dw, db]
        })
    }

    func testRMSNorm() {
        var rng = TrainRNG(seed: 2)
        let n = 6, c = 21
        let x = TBuf.random(n * c, &rng, scale: 2), w = TBuf.random(c, &rng, offset: 1)
        let y = TBuf(n * c), rstd = TBuf(n), scratch = TBuf(Chunks.max * c)
        check("rmsnorm", inputs: [x, w], outputs: n * c, forward: {
            RMSNorm.forward(y.p, rstd: rstd.p, x.p, weight: w.p, n: n, dim: c, eps: 1e-5, pool: .shared)
            return y.array
        }, backward: { dy in
            let dx = TBuf(n * c), dw = TBuf(c)
            RMSNorm.backward(dx: dx.p, dWeight: dw.p, dy: dy.p, x: x.p, rstd: rstd.p, weight: w.p, n: n, dim: c, scratch: scratch.p, pool: .shared)
            return [dx, dw]
        })
    }

    func testGELUWithBias() {
        var rng = TrainRNG(seed: 3)
        let n = 4, c = 19
        let h = TBuf.random(n * c, &rng, scale: 2), bias = TBuf.random(c, &rng)
        let pre = TBuf(n * c), y = TBuf(n * c)
        check("gelu", inputs: [h, bias], outputs: n * c, forward: {
            for i in 0..<(n * c) { pre.p[i] = h.p[i] }
            GELU.forward(y.p, preActivation: pre.p, bias: bias.p, n: n, dim: c, pool: .shared)
            return y.array
        }, backward: { dy in
            let dh = TBuf(n * c), db = TBuf(c)
            GELU.backward(dh: dh.p, h: pre.p, dy: dy.p, n: n, dim: c, pool: .shared)
            for r in 0..<n { for i in 0..<c { db.p[i] += dh.p[r * c + i] } }
            return [dh, db]
        })
    }

    func testSwiGLU() {
        var rng = TrainRNG(seed: 4)
        let n = 4, c = 19
        let g = TBuf.random(n * c, &rng, scale: 2), u = TBuf.random(n * c, &rng), y = TBuf(n * c)
        check("swiglu", inputs: [g, u], outputs: n * c, forward: {
            SwiGLU.forward(y.p, gate: g.p, up: u.p, n: n, dim: c, pool: .shared)
            return y.array
        }, backward: { dy in
            let dg = TBuf(n * c), du = TBuf(n * c)
            SwiGLU.backward(dGate: dg.p, dUp: du.p, dy: dy.p, gate: g.p, up: u.p, n: n, dim: c, pool: .shared)
            return [dg, du]
        })
    }

    func testLinearWithStrides() {
        var rng = TrainRNG(seed: 5)
        let n = 260, inD = 13, outD = 9, ldx = 15, ldy = 12
        let x = TBuf.random(n * ldx, &rng), w = TBuf.random(outD * inD, &rng), b = TBuf.random(outD, &rng), y = TBuf(n * ldy)
        check("linear", inputs: [x, w, b], outputs: n * ldy, forward: {
            Linear.forward(y.p, ldy: ldy, x.p, ldx: ldx, weight: w.p, bias: b.p, n: n, inDim: inD, outDim: outD, pool: .shared)
            return y.array
        }, backward: { dy in
            // Only the first outD columns of y are outputs; the rest stay 0 and so contribute nothing.
            let dx = TBuf(n * ldx), dw = TBuf(outD * inD), db = TBuf(outD)
            Linear.backward(dx: dx.p, lddx: ldx, dWeight: dw.p, dBias: db.p, dy: dy.p, lddy: ldy, x: x.p, ldx: ldx, weight: w.p, n: n,
                            inDim: inD, outDim: outD, pool: .shared)
            // columns of x beyond inD are not read: their gradient is 0 (dx rows hold garbage there only if written).
            for r in 0..<n { for i in inD..<ldx { dx.p[r * ldx + i] = 0 } }
            return [dx, dw, db]
        })
    }

    func testAttentionWithGQAAndRoPE() {
        for hd in [4, 16] { attention(hd: hd) }  // the scalar and the 16-lane paths over the head dimension
    }

    func attention(hd: Int) {
        var rng = TrainRNG(seed: 6)
        let B = 2, T = 67, H = 4, KVH = 2
        let C = H * hd, kvd = KVH * hd, W = C + 2 * kvd
        let qkvIn = TBuf.random(B * T * W, &rng)
        let qkv = TBuf(B * T * W), out = TBuf(B * T * C), lse = TBuf(B * H * T)
        let shape = Attention.Shape(batch: B, length: T, heads: H, kvHeads: KVH, headDim: hd)
        let scratch = TBuf(Attention.maxParts * Attention.scratchPerPart(maxLength: T, headDim: hd))
        let table = RoPE.table(length: T, headDim: hd, base: 100)
        check("attention+rope hd \(hd)", inputs: [qkvIn], outputs: B * T * C, forward: {
            for i in 0..<qkv.count { qkv.p[i] = qkvIn.p[i] }
            table.withUnsafeBufferPointer {
                RoPE.apply(qkv.p, ld: W, batch: B, length: T, heads: H, headDim: hd, table: $0.baseAddress!, inverse: false, pool: .shared)
                RoPE.apply(qkv.p + C, ld: W, batch: B, length: T, heads: KVH, headDim: hd, table: $0.baseAddress!, inverse: false, pool: .shared)
            }
            Attention.forward(out: out.p, ldo: C, q: qkv.p, ldq: W, k: qkv.p + C, ldk: W, v: qkv.p + C + kvd, ldv: W, lse: lse.p,
                              shape: shape, scratch: scratch.p, pool: .shared)
            return out.array
        }, backward: { dy in
            let d = TBuf(B * T * W)
            Attention.backward(dq: d.p, dk: d.p + C, dv: d.p + C + kvd, dOut: dy.p, out: out.p, ldo: C, q: qkv.p, ldq: W, k: qkv.p + C, ldk: W,
                               v: qkv.p + C + kvd, ldv: W, lse: lse.p, shape: shape, scratch: scratch.p, pool: .shared)
            table.withUnsafeBufferPointer {
                RoPE.apply(d.p, ld: W, batch: B, length: T, heads: H, headDim: hd, table: $0.baseAddress!, inverse: true, pool: .shared)
                RoPE.apply(d.p + C, ld: W, batch: B, length: T, heads: KVH, headDim: hd, table: $0.baseAddress!, inverse: true, pool: .shared)
            }
            return [d]
        })
    }

    func testCrossEntropy() {
        var rng = TrainRNG(seed: 7)
        let n = 8, v = 17
        let z = TBuf.random(n * v, &rng, scale: 2), work = TBuf(n * v), losses = TBuf(n)
        let targets: [Int32] = (0..<n).map { $0 == 2 ? -1 : Int32(rng.below(v)) }
        check("cross-entropy", inputs: [z], outputs: 1, forward: {
            for i in 0..<(n * v) { work.p[i] = z.p[i] }
            let l = targets.withUnsafeBufferPointer {
                CrossEntropy.forwardBackward(logits: work.p, losses: losses.p, targets: $0.baseAddress!, n: n, vocabulary: v, gradScale: 1, grad: false, pool: .shared)
            }
            return [l]
        }, backward: { dy in
            for i in 0..<(n * v) { work.p[i] = z.p[i] }
            _ = targets.withUnsafeBufferPointer {
                CrossEntropy.forwardBackward(logits: work.p, losses: losses.p, targets: $0.baseAddress!, n: n, vocabulary: v, gradScale: dy.p[0], grad: true, pool: .shared)
            }
            return [work.copy()]
        })
    }

    func testEmbedding() {
        var rng = TrainRNG(seed: 8)
        let V = 7, C = 6, B = 2, T = 5
        let wte = TBuf.random(V * C, &rng), wpe = TBuf.random(T * C, &rng), x = TBuf(B * T * C)
        let tokens: [Int32] = (0..<(B * T)).map { _ in Int32(rng.below(V)) }
        check("embedding", inputs: [wte, wpe], outputs: B * T * C, forward: {
            tokens.withUnsafeBufferPointer { Embedding.forward(x.p, tokens: $0.baseAddress!, tokenTable: wte.p, positionTable: wpe.p, batch: B, length: T, dim: C, pool: .shared) }
            return x.array
        }, backward: { dy in
            let dwte = TBuf(V * C), dwpe = TBuf(T * C)
            tokens.withUnsafeBufferPointer { Embedding.backward(dTokenTable: dwte.p, dPositionTable: dwpe.p, dx: dy.p, tokens: $0.baseAddress!, batch: B, length: T, dim: C) }
            return [dwte, dwpe]
        })
    }

    // MARK: whole models

    /// Per-parameter directional derivatives of model.loss against forwardBackward's gradients (dropout off).
    func checkModel(_ cfg: ModelConfig, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = TrainRNG(seed: 21)
        let model = try makeTrainModel(config: cfg, rng: &rng)
        // Larger weights than the init so attention is far from uniform and every path carries gradient.
        for p in model.parameters {
            let isNorm = p.name.hasSuffix("_norm.weight")
            for i in 0..<p.count { p.value[i] = (isNorm ? 1 : 0) + rng.normal() * (isNorm ? 0.2 : 0.35) }
        }
        let B = 2, T = 9
        let (inp, tgt) = ModelTestData.batch(cfg, batch: B, length: T, rng: &rng)
        _ = try model.forwardBackward(inputs: inp, targets: tgt, batch: B, length: T, gradScale: 1, rng: &rng)
        let h: Float = 1e-3
        for p in model.parameters {
            let u = (0..<p.count).map { _ in rng.normal() }
            let orig = Array(p.value)
            for i in 0..<p.count { p.value[i] = orig[i] + h * u[i] }
            let lp = Double(try model.loss(inputs: inp, targets: tgt, batch: B, length: T))
            for i in 0..<p.count { p.value[i] = orig[i] - h * u[i] }
            let lm = Double(try model.loss(inputs: inp, targets: tgt, batch: B, length: T))
            for i in 0..<p.count { p.value[i] = orig[i] }
            let numeric = (lp - lm) / (2 * Double(h))
            let analytic = (0..<p.count).reduce(0.0) { $0 + Double(p.grad[$1]) * Double(u[$1]) }
            XCTAssert(abs(numeric - analytic) <= 1e-2 * max(abs(numeric), abs(analytic)) + 2e-3,
                      "\(cfg.architecture) \(p.name): numeric \(numeric), analytic \(analytic)", file: file, line: line)
        }
    }

    func testGPTTiedModelGradients() throws {
        try checkModel(ModelConfig(architecture: "gpt2", vocabularySize: 23, contextLength: 12, layers: 2, dim: 16, heads: 4, ffnDim: 40,
                                   dropout: 0, tiedOutput: true))
    }

    func testGPTUntiedModelGradients() throws {
        try checkModel(ModelConfig(architecture: "gpt2", vocabularySize: 23, contextLength: 12, layers: 2, dim: 16, heads: 2, ffnDim: 24,
                                   dropout: 0, tiedOutput: false))
    }

    func testLlamaGQAModelGradients() throws {
        try checkModel(ModelConfig(architecture: "llama", vocabularySize: 23, contextLength: 12, layers: 2, dim: 16, heads: 4, kvHeads: 2,
                                   ffnDim: 40, dropout: 0, ropeTheta: 100, tiedOutput: false))
    }

    func testLlamaTiedModelGradients() throws {
        try checkModel(ModelConfig(architecture: "llama", vocabularySize: 23, contextLength: 12, layers: 1, dim: 16, heads: 2, kvHeads: 1,
                                   ffnDim: 24, dropout: 0, ropeTheta: 10000, tiedOutput: true))
    }
}
