// BLAS sgemm against a plain triple loop, on odd sizes.
import Testing
@testable import Quant

@Suite struct BLASTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 7), (17, 33, 64), (64, 31, 129)])
    func sgemmMatchesNaive(m: Int, n: Int, k: Int) {
        var x: UInt32 = 12345
        func r() -> Float { x = x &* 1_664_525 &+ 1_013_904_223; return Float(Int32(bitPattern: x >> 8) % 2000) / 1000 - 1 }
        let a = (0..<(m * k)).map { _ in r() }, b = (0..<(n * k)).map { _ in r() }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.matmulTransposedB(a, b, &c, m: m, n: n, k: k)
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for l in 0..<k { s += Double(a[i * k + l]) * Double(b[j * k + l]) }
                #expect(abs(Double(c[i * n + j]) - s) <= 1e-4 * Double(k), "C[\(i),\(j)]")
            }
        }
    }
}
