// Training ops, forward: each against a plain Double implementation of its formula on odd sizes (tiles and chunks
// not multiples of anything), the AVX-512 kernels against their portable twins, and the dropout mask against
// TrainRNG's own stream. Gradients are checked in GradCheckTests.swift.
import CKernels
import Foundation
import Quant
import XCTest
@testable import Finetune

/// A test buffer of floats (freed with the object).
final class TBuf {
    let p: UnsafeMutablePointer<Float>
    let count: Int
    init(_ n: Int) { count = n; p = .allocate(capacity: max(n, 1)); p.initialize(repeating: 0, count: max(n, 1)) }
    convenience init(_ a: [Float]) { self.init(a.count); for i in a.indices { p[i] = a[i] } }
    static func random(_ n: Int, _ rng: inout TrainRNG, scale: Float = 1, offset: Float = 0) -> TBuf {
        TBuf((0..<n).map { _ in offset + scale * rng.normal() })
    }
    var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
    var doubles: [Double] { array.map(Double.init) }
    func copy() -> TBuf { TBuf(array) }
    deinit { p.deallocate() }
}

/// Fails with the largest difference and the first mismatches when got and want differ by more than tol·(1 + |want|).
func expectClose(_ got: [Float], _ want: [Double], tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
    var worst = 0.0, bad: [String] = []
    for i in 0..<min(got.count, want.count) {
        let d = abs(Double(got[i]) - want[i])
        worst = max(worst, d / (1 + abs(want[i])))
        if d > tol * (1 + abs(want[i])) && bad.count < 5 { bad.append("[\(i)] \(got[i]) vs \(want[i])") }
    }
    XCTAssert(bad.isEmpty, "\(what): max rel diff \(worst); \(bad.joined(separator: ", "))", file: file, line: line)
}

let pool1 = ThreadPool(threads: 1)

final class OpsTests: XCTestCase {
    static let fwdTol = 2e-5

    func testExpPolynomial() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let rel = abs(Double(llk_train_expf(x)) - Foundation.exp(Double(x))) / Foundation.exp(Double(x))
            worst = max(worst, rel)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 5e-7)
    }

    func testLayerNormAndRMSNormForward() {
        var rng = TrainRNG(seed: 1)
        let n = 7, c = 33
        let x = TBuf.random(n * c, &rng, scale: 2, offset: 0.5), w = TBuf.random(c, &rng, offset: 1), b = TBuf.random(c, &rng)
        let y = TBuf(n * c), mean = TBuf(n), rstd = TBuf(n)
        LayerNorm.forward(y.p, mean: mean.p, rstd: rstd.p, x.p, weight: w.p, bias: b.p, n: n, dim: c, eps: 1e-5, pool: .shared)
        var want = [Double](), wantR = [Double]()
        let xd = x.doubles
        for r in 0..<n {
            let row = Array(xd[(r * c)..<((r + 1) * c)])
            let m = row.reduce(0, +) / Double(c)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(c)
            for i in 0..<c { want.append((row[i] - m) / (v + 1e-5).squareRoot() * Double(w.p[i]) + Double(b.p[i])) }
            let ms = row.map { $0 * $0 }.reduce(0, +) / Double(c)
            for i in 0..<c { wantR.append(row[i] / (ms + 1e-5).squareRoot() * Double(w.p[i])) }
        }
        expectClose(y.array, want, tol: Self.fwdTol, "layernorm")
        RMSNorm.forward(y.p, rstd: rstd.p, x.p, weight: w.p, n: n, dim: c, eps: 1e-5, pool: .shared)
        expectClose(y.array, wantR, tol: Self.fwdTol, "rmsnorm")
    }

    func testActivationsForward() {
        var rng = TrainRNG(seed: 2)
        let n = 5, c = 37
        let h = TBuf.random(n * c, &rng, scale: 3), bias = TBuf.random(c, &rng), y = TBuf(n * c)
        let hd = h.doubles
        GELU.forward(y.p, preActivation: h.p, bias: bias.p, n: n, dim: c, pool: .shared)
        var want = [Double](), wantPre = [Double]()
        for r in 0..<n {
            for i in 0..<c {
                let x = hd[r * c + i] + Double(bias.p[i])
                wantPre.append(x)
                want.append(0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))))
            }
        }
        expectClose(h.array, wantPre, tol: 1e-6, "gelu pre-activation")
        expectClose(y.array, want, tol: Self.fwdTol, "gelu")
        let g = TBuf.random(n * c, &rng, scale: 3), u = TBuf.random(n * c, &rng)
        SwiGLU.forward(y.p, gate: g.p, up: u.p, n: n, dim: c, pool: .shared)
        let sw = (0..<(n * c)).map { i -> Double in let x = Double(g.p[i]); return x / (1 + Foundation.exp(-x)) * Double(u.p[i]) }
        expectClose(y.array, sw, tol: Self.fwdTol, "swiglu")
    }

    func testCrossEntropyForwardAndGradient() {
        var rng = TrainRNG(seed: 3)
        let n = 9, v = 29
        let z = TBuf.random(n * v, &rng, scale: 3), losses = TBuf(n)
        let targets: [Int32] = (0..<n).map { $0 % 4 == 1 ? -1 : Int32(rng.below(v)) }
        let zd = z.doubles
        let mean = targets.withUnsafeBufferPointer {
            CrossEntropy.forwardBackward(logits: z.p, losses: losses.p, targets: $0.baseAddress!, n: n, vocabulary: v, gradScale: 0.5, grad: true, pool: .shared)
        }
        let scored = targets.filter { $0 >= 0 }.count
        var total = 0.0, wantGrad = [Double](), wantLoss = [Double]()
        for r in 0..<n {
            let row = Array(zd[(r * v)..<((r + 1) * v)])
            guard targets[r] >= 0 else { wantLoss.append(0); wantGrad += [Double](repeating: 0, count: v); continue }
            let m = row.max()!
            let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            let l = lse - row[Int(targets[r])]
            total += l
            wantLoss.append(l)
            for j in 0..<v { wantGrad.append((Foundation.exp(row[j] - lse) - (j == Int(targets[r]) ? 1 : 0)) * 0.5 / Double(scored)) }
        }
        XCTAssertEqual(Double(mean), total / Double(scored), accuracy: 1e-5)
        expectClose(losses.array, wantLoss, tol: Self.fwdTol, "losses")
        expectClose(z.array, wantGrad, tol: 1e-6, "dlogits")
    }

    func testLinearForward() {
        var rng = TrainRNG(seed: 4)
        let n = 300, inD = 19, outD = 11
        let x = TBuf.random(n * inD, &rng), w = TBuf.random(outD * inD, &rng), b = TBuf.random(outD, &rng), y = TBuf(n * (outD + 3))
        Linear.forward(y.p + 2, ldy: outD + 3, x.p, ldx: inD, weight: w.p, bias: b.p, n: n, inDim: inD, outDim: outD, pool: .shared)
        for r in [0, 1, 150, 299] {
            for o in 0..<outD {
                var s = Double(b.p[o])
                for i in 0..<inD { s += Double(x.p[r * inD + i]) * Double(w.p[o * inD + i]) }
                XCTAssertEqual(Double(y.p[r * (outD + 3) + 2 + o]), s, accuracy: 1e-4)
            }
            XCTAssertEqual(y.p[r * (outD + 3)], 0)
        }
    }

    /// Naive causal attention in Double over token rows with strides; head h uses kv head h / (H / KVH).
    static func naiveAttention(q: [Double], k: [Double], v: [Double], ld: Int, qOff: Int, kOff: Int, vOff: Int,
                               B: Int, T: Int, H: Int, KVH: Int, hd: Int) -> [Double] {
        var out = [Double](repeating: 0, count: B * T * H * hd)
        let scale = 1 / Double(hd).squareRoot()
        for b in 0..<B {
            for h in 0..<H {
                let g = h / (H / KVH)
                for t in 0..<T {
                    var s = [Double]()
                    for j in 0...t {
                        var d = 0.0
                        for i in 0..<hd { d += q[(b * T + t) * ld + qOff + h * hd + i] * k[(b * T + j) * ld + kOff + g * hd + i] }
                        s.append(d * scale)
                    }
                    let m = s.max()!
                    let e = s.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for i in 0..<hd {
                        var o = 0.0
                        for j in 0...t { o += e[j] / z * v[(b * T + j) * ld + vOff + g * hd + i] }
                        out[(b * T + t) * H * hd + h * hd + i] = o
                    }
                }
            }
        }
        return out
    }

    func testAttentionForwardWithGQA() {
        // hd 6: the scalar path over d; hd 16 and 32: the 16-lane path. T = 70: score blocks of 64 and 16 plus padding.
        for hd in [6, 16, 32] { attentionForward(hd: hd) }
    }

    func attentionForward(hd: Int) {
        var rng = TrainRNG(seed: 5)
        let B = 2, T = 70, H = 4, KVH = 2
        let C = H * hd, kvd = KVH * hd, W = C + 2 * kvd
        let qkv = TBuf.random(B * T * W, &rng, scale: 1.5)
        let out = TBuf(B * T * C), lse = TBuf(B * H * T)
        let shape = Attention.Shape(batch: B, length: T, heads: H, kvHeads: KVH, headDim: hd)
        let scratch = TBuf(Attention.maxParts * Attention.scratchPerPart(maxLength: T, headDim: hd))
        Attention.forward(out: out.p, ldo: C, q: qkv.p, ldq: W, k: qkv.p + C, ldk: W, v: qkv.p + C + kvd, ldv: W, lse: lse.p,
                          shape: shape, scratch: scratch.p, pool: .shared)
        let d = qkv.doubles
        let want = Self.naiveAttention(q: d, k: d, v: d, ld: W, qOff: 0, kOff: C, vOff: C + kvd, B: B, T: T, H: H, KVH: KVH, hd: hd)
        expectClose(out.array, want, tol: 1e-5, "attention hd \(hd)")
    }

    func testRoPEMatchesRotationAndInverts() {
        var rng = TrainRNG(seed: 6)
        let B = 2, T = 5, H = 3, hd = 8, ld = H * hd + 4
        let x = TBuf.random(B * T * ld, &rng), orig = x.array
        let table = RoPE.table(length: T, headDim: hd, base: 10000)
        table.withUnsafeBufferPointer { RoPE.apply(x.p, ld: ld, batch: B, length: T, heads: H, headDim: hd, table: $0.baseAddress!, inverse: false, pool: .shared) }
        var want = orig.map(Double.init)
        for b in 0..<B {
            for t in 0..<T {
                for h in 0..<H {
                    for i in 0..<(hd / 2) {
                        let a = Double(t) * Foundation.pow(10000, -2 * Double(i) / Double(hd))
                        let o = (b * T + t) * ld + h * hd + 2 * i
                        let x0 = Double(orig[o]), x1 = Double(orig[o + 1])
                        want[o] = x0 * Foundation.cos(a) - x1 * Foundation.sin(a)
                        want[o + 1] = x0 * Foundation.sin(a) + x1 * Foundation.cos(a)
                    }
                }
            }
        }
        expectClose(x.array, want, tol: 1e-6, "rope")
        table.withUnsafeBufferPointer { RoPE.apply(x.p, ld: ld, batch: B, length: T, heads: H, headDim: hd, table: $0.baseAddress!, inverse: true, pool: .shared) }
        expectClose(x.array, orig.map(Double.init), tol: 1e-6, "rope inverse")
    }

    func testDropoutMaskFollowsTheRNGStream() {
        var rng = TrainRNG(seed: 7)
        let n = 10_001, p: Float = 0.3
        let x = TBuf.random(n, &rng), orig = x.array, mask = TBuf(n)
        var a = rng, b = rng
        Dropout.forward(x.p, mask: mask.p, count: n, rate: p, rng: &a)
        var dropped = 0
        for i in 0..<n {
            let keep = b.uniform() >= p
            XCTAssertEqual(mask.p[i], keep ? 1 / (1 - p) : 0)
            XCTAssertEqual(x.p[i], orig[i] * mask.p[i])
            if !keep { dropped += 1 }
        }
        XCTAssertEqual(a, b, "the RNG advanced by exactly one draw per element")
        XCTAssertEqual(Double(dropped) / Double(n), 0.3, accuracy: 0.02)
        // Backward multiplies by the same mask.
        let dy = TBuf.random(n, &rng), dx = TBuf(n)
        Dropout.backward(dx: dx.p, dy: dy.p, mask: mask.p, count: n, pool: .shared)
        for i in stride(from: 0, to: n, by: 97) { XCTAssertEqual(dx.p[i], dy.p[i] * mask.p[i]) }
    }

    func testEmbeddingForwardAndBackward() {
        var rng = TrainRNG(seed: 8)
        let V = 11, C = 5, B = 3, T = 4
        let wte = TBuf.random(V * C, &rng), wpe = TBuf.random(T * C, &rng), x = TBuf(B * T * C)
        let tokens: [Int32] = (0..<(B * T)).map { _ in Int32(rng.below(V)) }
        tokens.withUnsafeBufferPointer { Embedding.forward(x.p, tokens: $0.baseAddress!, tokenTable: wte.p, positionTable: wpe.p, batch: B, length: T, dim: C, pool: .shared) }
        for r in 0..<(B * T) {
            for i in 0..<C { XCTAssertEqual(x.p[r * C + i], wte.p[Int(tokens[r]) * C + i] + wpe.p[(r % T) * C + i]) }
        }
        let dx = TBuf.random(B * T * C, &rng), dwte = TBuf(V * C), dwpe = TBuf(T * C)
        tokens.withUnsafeBufferPointer { Embedding.backward(dTokenTable: dwte.p, dPositionTable: dwpe.p, dx: dx.p, tokens: $0.baseAddress!, batch: B, length: T, dim: C) }
        var wantE = [Double](repeating: 0, count: V * C), wantP = [Double](repeating: 0, count: T * C)
        for r in 0..<(B * T) {
            for i in 0..<C {
                wantE[Int(tokens[r]) * C + i] += Double(dx.p[r * C + i])
                wantP[(r % T) * C + i] += Double(dx.p[r * C + i])
            }
        }
        expectClose(dwte.array, wantE, tol: 1e-6, "dwte")
        expectClose(dwpe.array, wantP, tol: 1e-6, "dwpe")
    }

    /// Every kernel's AVX-512 build against its portable twin, through a whole model's forward and backward.
    func testSIMDKernelsMatchPortableTwins() throws {
        guard llk_train_simd() == 1 else { throw XCTSkip("no AVX-512 on this CPU") }
        for arch in ["gpt2", "llama"] {
            let cfg = ModelConfig(architecture: arch, vocabularySize: 37, contextLength: 80, layers: 2, dim: 48, heads: 4,
                                  kvHeads: arch == "llama" ? 2 : nil, ffnDim: 72, dropout: 0.1, tiedOutput: arch == "gpt2")
            var results: [[Float]] = []
            var losses: [Float] = []
            for simd in [1, 0] {
                let old = llk_train_set_simd(Int32(simd))
                defer { _ = llk_train_set_simd(old) }
                var rng = TrainRNG(seed: 11)
                let model = try makeTrainModel(config: cfg, rng: &rng)
                let (inp, tgt) = ModelTestData.batch(cfg, batch: 3, length: 77, rng: &rng)
                losses.append(try model.forwardBackward(inputs: inp, targets: tgt, batch: 3, length: 77, gradScale: 1, rng: &rng))
                results.append(model.parameters.flatMap { Array($0.grad) })
            }
            XCTAssertEqual(losses[0], losses[1], accuracy: 1e-5, arch)
            let scale = Double(results[1].map { abs($0) }.max()!)
            expectClose(results[0], results[1].map { Double($0) / scale * scale }, tol: 2e-4 * scale, "\(arch) gradients simd vs portable")
        }
    }
}

enum ModelTestData {
    /// Random inputs and next-token targets with every 5th target ignored.
    static func batch(_ cfg: ModelConfig, batch: Int, length: Int, rng: inout TrainRNG) -> ([Int32], [Int32]) {
        let inp = (0..<(batch * length)).map { _ in Int32(rng.below(cfg.vocabularySize)) }
        let tgt = (0..<(batch * length)).map { i in i % 5 == 3 ? Int32(-1) : Int32(rng.below(cfg.vocabularySize)) }
        return (inp, tgt)
    }
}
