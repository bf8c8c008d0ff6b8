// F16 / BF16 conversions against the hardware/stdlib conversions and hand-checked edge cases.
import CKernels
import Testing
@testable import Quant

@Suite struct HalfTests {
    @Test func everyHalfRoundTrips() {
        for h in 0...UInt16.max {
            let f = halfToFloat(h)
            if f.isNaN { #expect(floatToHalf(f) & 0x7c00 == 0x7c00 && floatToHalf(f) & 0x3ff != 0); continue }
            #expect(floatToHalf(f) == h, "\(h)")
        }
    }

    #if !(os(macOS) && arch(x86_64))
    @Test func matchesFloat16Rounding() {
        var x: UInt64 = 0x1234_5678_9abc_def0
        var cases: [Float] = [0, -0, 65504, 65519.996, 65520, 1e-8, 2.9802322e-08, 2.9802326e-08, 5.9604645e-08, 6.1035156e-05,
                              6.1035152e-05, .infinity, -.infinity, 1.0009765625, 1.00048828125, 1.000732421875, -3.14159]
        for _ in 0..<200_000 {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            cases.append(Float(bitPattern: UInt32(truncatingIfNeeded: x)))
        }
        for f in cases where !f.isNaN {
            #expect(floatToHalf(f) == Float16(f).bitPattern, "\(f) \(f.bitPattern)")
            #expect(halfToFloat(Float16(f).bitPattern) == Float(Float16(f)))
        }
    }
    #endif

    @Test func bf16RoundsToNearestEven() {
        #expect(floatToBF16(1.0) == 0x3f80)
        #expect(floatToBF16(Float(bitPattern: 0x3f80_8000)) == 0x3f80)  // tie → even
        #expect(floatToBF16(Float(bitPattern: 0x3f81_8000)) == 0x3f82)  // tie → even (up)
        #expect(floatToBF16(Float(bitPattern: 0x3f80_8001)) == 0x3f81)
        #expect(floatToBF16(.infinity) == 0x7f80)
        #expect(floatToBF16(Float(bitPattern: 0x7f80_0001)) == 0x7fc0)  // NaN stays NaN, quiet
        #expect(floatToBF16(Float(bitPattern: 0x7f7f_ffff)) == 0x7f80)  // max float rounds to inf
        for b: UInt16 in [0, 0x8000, 0x3f80, 0xc2f7, 0x0001, 0x7f7f] { #expect(floatToBF16(bf16ToFloat(b)) == b) }
    }
}

@Suite struct BulkHalfTests {
    /// The SIMD conversions against the scalar reference, on random bit patterns and every edge class,
    /// at lengths that exercise the 8-lane body and the scalar tail.
    @Test(arguments: [0, 1, 7, 8, 9, 15, 16, 17, 33, 1000, 65543])
    func simdMatchesScalar(n: Int) {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(n)
        let edges: [UInt32] = [0, 0x8000_0000, 0x7f80_0000, 0xff80_0000, 0x7f80_0001, 0x7fc0_0000, 0xffff_ffff,
                               0x4780_0000, 0x477f_efff, 0x477f_f000, 0x3880_0000, 0x387f_ffff, 0x3300_0000,
                               0x3300_0001, 0x3380_0000, 0x0000_0001, 0x3f80_1000, 0x3f80_3000]
        var src = [Float](repeating: 0, count: n)
        for i in 0..<n {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            src[i] = Float(bitPattern: i % 5 == 0 ? edges[Int(x % UInt64(edges.count))] : UInt32(truncatingIfNeeded: x))
        }
        var fast = [UInt16](repeating: 0, count: n)
        src.withUnsafeBufferPointer { s in fast.withUnsafeMutableBufferPointer { d in convertFloatToHalf(s.baseAddress!, d.baseAddress!, n) } }
        #expect(fast == src.map(floatToHalf))

        let bf = src.map { UInt16($0.bitPattern >> 16) }
        var viaBF = [UInt16](repeating: 0, count: n)
        bf.withUnsafeBytes { s in viaBF.withUnsafeMutableBytes { d in convertBF16ToHalf(s.baseAddress!, d.baseAddress!, n) } }
        #expect(viaBF == bf.map { floatToHalf(bf16ToFloat($0)) })
    }

    @Test func bulkHalfToFloatMatchesScalarOnEveryHalf() {
        let all = (0...UInt16.max).map { $0 }
        var out = [Float](repeating: 0, count: all.count)
        all.withUnsafeBytes { s in out.withUnsafeMutableBufferPointer { convertHalfToFloat(s.baseAddress!, $0.baseAddress!, all.count) } }
        for (h, f) in zip(all, out) { #expect(f.bitPattern == halfToFloat(h).bitPattern, "\(h)") }
        // the portable C loop, and every tail length of the vector loops from odd starts
        var generic = [Float](repeating: 0, count: all.count)
        all.withUnsafeBufferPointer { s in generic.withUnsafeMutableBufferPointer { llk_f16_to_f32_generic(s.baseAddress!, $0.baseAddress!, Int64(all.count)) } }
        #expect(generic.map(\.bitPattern) == out.map(\.bitPattern))
        for start in [0, 1, 7, 0x7bf9, 0x7c00 - 3, 0xfbfd] {
            for n in 1...40 {
                var part = [Float](repeating: 1, count: n)
                all.withUnsafeBytes { s in part.withUnsafeMutableBufferPointer { convertHalfToFloat(s.baseAddress! + 2 * start, $0.baseAddress!, n) } }
                #expect(part.map(\.bitPattern) == (start..<(start + n)).map { halfToFloat(UInt16($0)).bitPattern }, "\(start) \(n)")
            }
        }
    }
}
