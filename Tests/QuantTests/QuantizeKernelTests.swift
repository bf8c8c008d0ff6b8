// The C row quantizers (CKernels/quant.c: the AVX-512 path where this CPU has it, and the portable C loops) against
// the Swift references (Q8_0.quantize, Q4_0.quantize, …), byte for byte, on random rows of many scales and on
// adversarial blocks: all zeros, ±0 mixes, ties of |max| with opposite signs, exact halves, subnormal scales whose
// reciprocal overflows, values near FLT_MAX.
import CKernels
import Foundation
import Formats
import Testing
@testable import Quant

@Suite struct QuantizeKernelTests {
    typealias Reference = (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void
    nonisolated(unsafe) static let types: [(name: String, code: Int32, bytes: Int, ref: Reference)] = [
        ("q8_0", Int32(LLK_QUANT_Q8_0), 34, Q8_0.quantize),
        ("q4_0", Int32(LLK_QUANT_Q4_0), 18, Q4_0.quantize),
        ("q4_1", Int32(LLK_QUANT_Q4_1), 20, Q4_1.quantize),
        ("q5_0", Int32(LLK_QUANT_Q5_0), 22, Q5_0.quantize),
        ("q5_1", Int32(LLK_QUANT_Q5_1), 24, Q5_1.quantize),
    ]

    /// Blocks built to hit every branch of the reference algorithms.
    static func adversarialBlocks() -> [[Float]] {
        var rng = TestRng(s: 0x5eed_1234_abcd_0001)
        var blocks: [[Float]] = [
            [Float](repeating: 0, count: 32), [Float](repeating: -0.0, count: 32),
            (0..<32).map { $0 % 2 == 0 ? 0 : -0.0 }, (0..<32).map { $0 % 3 == 0 ? -0.0 : Float($0) },
            (0..<32).map { $0 % 3 == 0 ? 0 : -Float($0) }, (0..<32).map { $0 == 7 ? 1 : 0 },
            (0..<32).map { $0 == 7 ? -1 : ($0 == 20 ? 1 : 0) }, (0..<32).map { $0 == 7 ? 1 : ($0 == 20 ? -1 : 0) },
            [Float](repeating: 3.5, count: 32), [Float](repeating: -2.25, count: 32),
            (0..<32).map { Float($0) - 16 }, (0..<32).map { Float($0) * 0.5 - 7.75 },      // exact halves of the steps
            (0..<32).map { Float($0 % 17) - 8 + 0.5 }, (0..<32).map { ($0 == 0 ? 1 : 0) * 3e38 },
            (0..<32).map { $0 % 2 == 0 ? 3.4e38 : -3.4e38 }, (0..<32).map { $0 == 5 ? 1e-40 : 0 },
            (0..<32).map { Float($0) * 1e-44 }, (0..<32).map { -Float($0) * 3e-39 }, (0..<32).map { _ in .leastNonzeroMagnitude },
            (0..<32).map { $0 == 31 ? 65504 * 127 : 1 }, (0..<32).map { $0 == 0 ? 1e6 : 1e-3 },
        ]
        // Steps of 127 / 8 / 15 / 16 / 31 with quants landing on .5: x = (k + 0.5) × d.
        for div: Float in [127, 8, 15, 16, 31] {
            blocks.append((0..<32).map { j in j == 0 ? div : (Float(j % Int(div)) + 0.5) * (j % 2 == 0 ? 1 : -1) })
        }
        for _ in 0..<200 {
            let scale = Float(pow(10.0, Double(Int(rng.next() % 80) - 40)))
            blocks.append((0..<32).map { _ in rng.next() % 5 == 0 ? 0 : rng.heavy() * scale })
        }
        return blocks
    }

    @Test(arguments: 0..<5) func cKernelsEqualSwiftReferences(_ t: Int) {
        let type = Self.types[t]
        var rng = TestRng(s: 0x9e37_79b9_7f4a_7c15 &+ UInt64(t))
        var rows = Self.adversarialBlocks().flatMap { $0 }
        rows += (0..<(32 * 4096)).map { _ in rng.heavy() * 0.02 }  // weight-like values
        let nb = rows.count / 32
        var want = [UInt8](repeating: 0xAA, count: nb * type.bytes)
        var simd = [UInt8](repeating: 0x55, count: nb * type.bytes)
        var generic = [UInt8](repeating: 0x33, count: nb * type.bytes)
        rows.withUnsafeBufferPointer { x in
            want.withUnsafeMutableBytes { type.ref(x.baseAddress!, $0.baseAddress!, x.count) }
            simd.withUnsafeMutableBytes { llk_quantize_legacy(type.code, x.baseAddress!, $0.baseAddress!, Int64(nb)) }
            generic.withUnsafeMutableBytes { llk_quantize_generic(type.code, x.baseAddress!, $0.baseAddress!, Int64(nb)) }
        }
        for b in 0..<nb {
            let r = (b * type.bytes)..<((b + 1) * type.bytes)
            #expect(Array(simd[r]) == Array(want[r]), "\(type.name) block \(b) (dispatch: \(CPUFeatures.current)): \(Array(rows[(32 * b)..<(32 * b + 32)]))")
            #expect(Array(generic[r]) == Array(want[r]), "\(type.name) block \(b) (portable C): \(Array(rows[(32 * b)..<(32 * b + 32)]))")
            if simd[r] != want[r] || generic[r] != want[r] { break }
        }
    }

    /// Quantize.row goes through the C kernels: same bytes as the references.
    @Test func rowUsesTheKernels() throws {
        var rng = TestRng(s: 42)
        let x = (0..<(32 * 64)).map { _ in rng.normal() }
        for (type, t) in [(GGMLType.q8_0, 0), (.q4_0, 1), (.q4_1, 2), (.q5_0, 3), (.q5_1, 4)] {
            var got = [UInt8](repeating: 0, count: type.byteCount(elements: x.count)!)
            var want = got
            try x.withUnsafeBufferPointer { p in
                try got.withUnsafeMutableBytes { try Quantize.row(type, p.baseAddress!, $0.baseAddress!, x.count) }
                want.withUnsafeMutableBytes { Self.types[t].ref(p.baseAddress!, $0.baseAddress!, x.count) }
            }
            #expect(got == want, "\(type.name)")
        }
    }

    /// Sub-blocks for the scale searches: weight-like, heavy-tailed, all-positive (min clamps to 0), flat, tiny, ties.
    static func subBlocks(_ n: Int, count: Int, seed: UInt64) -> [[Float]] {
        var rng = TestRng(s: seed)
        var out: [[Float]] = [[Float](repeating: 0, count: n), [Float](repeating: 0.75, count: n),
                              (0..<n).map { Float($0 % 4) }, (0..<n).map { -Float($0 % 5) * 0.25 },
                              (0..<n).map { $0 == 3 ? 1e-16 : 0 }, (0..<n).map { Float($0) - Float(n / 2) }]
        for k in 0..<count {
            let scale = Float(pow(10.0, Double(Int(rng.next() % 12) - 8)))
            switch k % 4 {
            case 0: out.append((0..<n).map { _ in rng.normal() * scale })
            case 1: out.append((0..<n).map { _ in rng.heavy() * scale })
            case 2: out.append((0..<n).map { _ in abs(rng.normal()) * scale + scale })
            default: out.append((0..<n).map { _ in rng.next() % 3 == 0 ? 0 : rng.heavy() * 0.02 })
            }
        }
        return out
    }

    /// make_qkx2_quants with the parameters Q2_K (16 values, MAD), Q4_K and Q5_K use: scale, min and quants equal.
    @Test(arguments: [(16, Int32(3), Float(-0.5), Float(0.1), 15, true), (32, 15, -1, 0.1, 20, false), (32, 31, -0.5, 0.1, 15, false)])
    func qkx2SearchEqualsReference(_ p: (Int, Int32, Float, Float, Int, Bool)) {
        let (n, nmax, rmin, rdelta, nstep, mad) = p
        for (k, x) in Self.subBlocks(n, count: 3000, seed: 7 &+ UInt64(nmax)).enumerated() {
            let w: [Float]
            if mad { w = x.map { abs($0) } } else {
                let av = (x.reduce(Float(0)) { $0 + $1 * $1 } / Float(n)).squareRoot()
                w = x.map { av + abs($0) }
            }
            var lRef = [UInt8](repeating: 0, count: n), lC = lRef, lG = lRef, aux = [UInt8](repeating: 0, count: n)
            var mRef: Float = 0, mC: Float = 0, mG: Float = 0
            let sRef = KQuants.makeQkx2QuantsReference(n, nmax, x, w, &lRef, &mRef, &aux, rmin, rdelta, nstep, mad)
            let sC = llk_make_qkx2_quants(Int32(n), nmax, x, w, &lC, &mC, rmin, rdelta, Int32(nstep), mad ? 1 : 0)
            let sG = llk_make_qkx2_quants_generic(Int32(n), nmax, x, w, &lG, &mG, rmin, rdelta, Int32(nstep), mad ? 1 : 0)
            let ok = sC.bitPattern == sRef.bitPattern && mC.bitPattern == mRef.bitPattern && lC == lRef
                && sG.bitPattern == sRef.bitPattern && mG.bitPattern == mRef.bitPattern && lG == lRef
            #expect(ok, "sub-block \(k) nmax \(nmax): ref \(sRef) \(mRef) \(lRef), lanes \(sC) \(mC) \(lC), C \(sG) \(mG) \(lG); x = \(x)")
            if !ok { break }
        }
    }

    /// make_qx_quants(16, 32, rmse_type 1, no weights), Q6_K's search.
    @Test func qxSearchEqualsReference() {
        for (k, x) in Self.subBlocks(16, count: 6000, seed: 99).enumerated() {
            var lRef = [Int8](repeating: 0, count: 16), lC = lRef, lG = lRef
            let sRef = KQuants.makeQxQuants(16, 32, x, &lRef, 1, nil)
            let sC = llk_make_qx_quants_rmse1(16, 32, x, &lC)
            let sG = llk_make_qx_quants_rmse1_generic(16, 32, x, &lG)
            let ok = sC.bitPattern == sRef.bitPattern && lC == lRef && sG.bitPattern == sRef.bitPattern && lG == lRef
            #expect(ok, "sub-block \(k): ref \(sRef) \(lRef), lanes \(sC) \(lC), C \(sG) \(lG); x = \(x)")
            if !ok { break }
        }
    }

    /// The first NaN / ±inf of a row, at every position and row length around the vector width, and none.
    @Test func firstNonFiniteEqualsReference() {
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            var x = (0..<n).map { Float($0) * 0.5 - 3 }
            x.withUnsafeBufferPointer { #expect(Quantize.firstNonFinite($0.baseAddress!, n) == nil) }
            for bad: Float in [.nan, .infinity, -.infinity, .signalingNaN] {
                for at in stride(from: n - 1, through: 0, by: -1) {
                    x[at] = bad
                    x.withUnsafeBufferPointer { p in
                        #expect(Quantize.firstNonFinite(p.baseAddress!, n) == Quantize.firstNonFiniteReference(p.baseAddress!, n), "\(n) \(at)")
                        #expect(Quantize.firstNonFinite(p.baseAddress!, n) == at)
                    }
                }
                x = (0..<n).map { Float($0) * 0.5 - 3 }
            }
        }
        let big: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0]
        big.withUnsafeBufferPointer { #expect(Quantize.firstNonFinite($0.baseAddress!, 4) == nil) }
    }
}
