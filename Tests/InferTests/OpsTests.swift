import Foundation
import Testing
@testable import Infer

@Test func softmaxSumsToOneAndMatchesDouble() {
    for n in [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000] {
        var x = (0..<n).map { Float(sin(Double($0) * 1.7) * 8) } + [Float](repeating: 0, count: Ops.softmaxPad)
        let want: [Double] = {
            let s = x.prefix(n).map { Double($0) * 0.125 }
            let m = s.max()!
            let e = s.map { exp($0 - m) }
            let t = e.reduce(0, +)
            return e.map { $0 / t }
        }()
        x.withUnsafeMutableBufferPointer { Ops.softmax($0.baseAddress!, n: n, scale: 0.125) }
        for i in 0..<n { #expect(abs(Double(x[i]) - want[i]) < 1e-6, "n \(n) i \(i)") }
    }
}

@Test func rmsNormAndSwiglu() {
    let n = 37
    let x = (0..<n).map { Float($0) * 0.3 - 5 }
    let w = (0..<n).map { 1 + Float($0) * 0.01 }
    var out = [Float](repeating: 0, count: n)
    Ops.rmsNorm(x, w, &out, n: n, eps: 1e-5)
    let ms = x.reduce(0.0) { $0 + Double($1 * $1) } / Double(n)
    for i in 0..<n { #expect(abs(Double(out[i]) - Double(x[i]) / (ms + 1e-5).squareRoot() * Double(w[i])) < 1e-5) }
    let g = (0..<n).map { Float($0) * 0.7 - 12 }
    var s = [Float](repeating: 0, count: n)
    Ops.swiglu(g, w, &s, n: n)
    for i in 0..<n {
        let want = Double(g[i]) / (1 + exp(-Double(g[i]))) * Double(w[i])
        #expect(abs(Double(s[i]) - want) < 1e-5 * max(1, abs(want)), "i \(i): \(s[i]) vs \(want)")
    }
}

@Test func ropeAnglesFollowGGMLsCache() {
    var a = [Float](repeating: 0, count: 8)
    Ops.ropeAngles(pos: 3, nDims: 8, base: 10000, freqScale: 1, freqFactors: nil, &a)
    for i in 0..<4 {
        let theta = 3 * pow(10000, -2 * Double(i) / 8)
        #expect(abs(Double(a[2 * i]) - cos(theta)) < 1e-5)
        #expect(abs(Double(a[2 * i + 1]) - sin(theta)) < 1e-5)
    }
}
