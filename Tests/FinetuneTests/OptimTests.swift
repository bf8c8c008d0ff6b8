// AdamW against a hand-computed update, the learning-rate schedule's values, gradient clipping.
import Foundation
import XCTest
@testable import Finetune

final class OptimTests: XCTestCase {
    func testAdamWTwoStepsByHand() {
        let w = Parameter(name: "w", shape: [2], decay: true), b = Parameter(name: "b", shape: [1], decay: false)
        w.value[0] = 1; w.value[1] = -2; b.value[0] = 0.5
        let opt = AdamW(parameters: [w, b], beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        // step 1: g = (0.2, -0.4), (1.0); m = 0.1g, v = 0.05g², m̂ = g, v̂ = g² → update = lr·sign(g) (+ decay on w).
        w.grad[0] = 0.2; w.grad[1] = -0.4; b.grad[0] = 1
        opt.step(lr: 0.01)
        let w0: Double = 1 * (1 - 0.001) - 0.01 * 0.2 / (0.2 + 1e-8)
        let w1: Double = -2 * (1 - 0.001) + 0.01
        XCTAssertEqual(Double(w.value[0]), w0, accuracy: 1e-6)
        XCTAssertEqual(Double(w.value[1]), w1, accuracy: 1e-6)
        XCTAssertEqual(Double(b.value[0]), 0.49, accuracy: 1e-6)
        XCTAssertEqual(opt.step, 1)
        // step 2 with g = 0.1 on b: m = 0.09 + 0.01 = 0.1·… computed in Double.
        b.grad[0] = 0.1
        w.grad[0] = 0; w.grad[1] = 0
        opt.step(lr: 0.02)
        let m: Double = 0.9 * 0.1 + 0.1 * 0.1
        let v: Double = 0.95 * 0.05 + 0.05 * 0.01
        let denom: Double = v.squareRoot() / (1 - 0.9025).squareRoot() + 1e-8
        let want: Double = 0.49 - (0.02 / (1 - 0.81)) * m / denom
        XCTAssertEqual(Double(b.value[0]), want, accuracy: 1e-6)
        XCTAssertEqual(opt.moments.map(\.name), ["w", "b"])
        XCTAssertEqual(Double(opt.moments[1].m[0]), m, accuracy: 1e-7)
        XCTAssertEqual(Double(opt.moments[1].v[0]), v, accuracy: 1e-7)
        opt.zeroGrad()
        XCTAssertEqual(Array(w.grad) + Array(b.grad), [0, 0, 0])
    }

    func testScheduleWarmupAndCosine() {
        let s = LRSchedule(maxLR: 1e-3, steps: 1000)
        XCTAssertEqual(s.warmup, 100)
        XCTAssertEqual(s.minLR, 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.lr(at: 1), 1e-5, accuracy: 1e-9)
        XCTAssertEqual(s.lr(at: 50), 5e-4, accuracy: 1e-10)
        XCTAssertEqual(s.lr(at: 100), 1e-3, accuracy: 1e-10)
        XCTAssertEqual(s.lr(at: 550), 5.5e-4, accuracy: 1e-8)  // halfway through the cosine: the midpoint
        XCTAssertEqual(s.lr(at: 1000), 1e-4, accuracy: 1e-10)
        for k in 101..<1000 { XCTAssertLessThanOrEqual(s.lr(at: k + 1), s.lr(at: k)) }
        let short = LRSchedule(maxLR: 0.1, steps: 5)
        XCTAssertEqual(short.warmup, 0)
        XCTAssertEqual(short.lr(at: 5), 0.01, accuracy: 1e-8)
    }

    func testClippingScalesToMaxNorm() {
        let a = Parameter(name: "a", shape: [2], decay: true), b = Parameter(name: "b", shape: [1], decay: false)
        a.grad[0] = 3; a.grad[1] = 0; b.grad[0] = 4
        let norm = clipGradients([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(b.grad[0], 0.8, accuracy: 1e-6)
        let again = clipGradients([a, b], maxNorm: 2)
        XCTAssertEqual(again, 1, accuracy: 1e-5)
        XCTAssertEqual(b.grad[0], 0.8, accuracy: 1e-6, "below the limit: untouched")
    }
}
