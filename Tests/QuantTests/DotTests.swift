// Dot products: the scalar reference against the dequantized values, the dispatched SIMD kernels and every
// ISA variant this CPU can run against the reference, on odd sizes with all-zero and extreme blocks.
import CKernels
import Foundation
import Testing
import Formats
@testable import Quant

/// One block's worth of a test row: random, or one of the edge cases each kernel must get exactly right.
private enum BlockKind: CaseIterable {
    case random, zero, constant, outlier, alternating, tiny

    func fill(_ v: UnsafeMutableBufferPointer<Float>, _ rng: inout TestRng) {
        switch self {
        case .random: for i in v.indices { v[i] = rng.heavy() }
        case .zero: for i in v.indices { v[i] = 0 }
        case .constant: for i in v.indices { v[i] = 3.5 }  // every quant at its extreme
        case .outlier:  // one huge value, the rest far below its quantization step
            for i in v.indices { v[i] = rng.normal() * 1e-3 }
            v[v.count / 3] = -700
        case .alternating: for i in v.indices { v[i] = i % 2 == 0 ? 50 : -49.5 }  // both ends of the range
        case .tiny: for i in v.indices { v[i] = rng.normal() * 1e-6 }  // f16 scales underflow toward subnormals
        }
    }
}

/// A weight row and an activation row, quantized, plus their dequantized values.
struct DotCase {
    let weightType: GGMLType, n: Int
    var w = [UInt8](), a = [UInt8](), wf = [Float](), af = [Float]()

    /// `variant` 0: all blocks random; k > 0: block b of the weights is kind (b + k) % 6, of the activations
    /// (b + 2k) % 6, so every pair of kinds meets across the variants.
    init(_ weightType: GGMLType, blocks: Int, variant: Int, seed: UInt64) throws {
        self.weightType = weightType
        let block = weightType.blockSize == 1 ? 1 : weightType.blockSize
        n = blocks * block
        let actType = Dot.activationType(for: weightType)
        var rng = TestRng(s: seed &+ UInt64(blocks) &* 7919 &+ UInt64(variant) &* 104_729 | 1)
        let kinds = BlockKind.allCases
        // float types: "blocks" of 32 elements for the edge cases, the row still `blocks` elements long
        let seg = weightType.blockSize == 1 ? 32 : block
        func row(_ shift: Int) -> [Float] {
            var x = [Float](repeating: 0, count: n)
            x.withUnsafeMutableBufferPointer { buf in
                var start = 0, b = 0
                while start < n {
                    let end = Swift.min(n, start + seg)
                    let kind = variant == 0 ? BlockKind.random : kinds[(b + shift * variant) % kinds.count]
                    kind.fill(UnsafeMutableBufferPointer(rebasing: buf[start..<end]), &rng)
                    start = end
                    b += 1
                }
            }
            return x
        }
        let wx = row(1), ax = row(2)
        w = [UInt8](repeating: 0, count: weightType.byteCount(elements: n)!)
        a = [UInt8](repeating: 0, count: actType.byteCount(elements: n)!)
        try wx.withUnsafeBufferPointer { src in
            try w.withUnsafeMutableBytes { try Quantize.row(weightType, src.baseAddress!, $0.baseAddress!, n) }
        }
        ax.withUnsafeBufferPointer { src in
            a.withUnsafeMutableBytes { Dot.quantizeActivations(actType, src.baseAddress!, $0.baseAddress!, n) }
        }
        wf = [Float](repeating: 0, count: n)
        af = [Float](repeating: 0, count: n)
        try w.withUnsafeBytes { src in
            try wf.withUnsafeMutableBufferPointer { try Dequantize.row(weightType, src.baseAddress!, $0.baseAddress!, n) }
        }
        try a.withUnsafeBytes { src in
            try af.withUnsafeMutableBufferPointer { dst in
                if actType == .q8_1 {
                    Q8_1.dequantize(src.baseAddress!, dst.baseAddress!, n)
                } else {
                    try Dequantize.row(actType, src.baseAddress!, dst.baseAddress!, n)
                }
            }
        }
    }

    /// The offset part of each dequantized weight (w = scaled quant + offset): Q4_1/Q5_1's m, Q2_K/Q4_K/Q5_K's
    /// −dmin·min; 0 for the symmetric types. The dots scale the two parts separately, so both count as magnitude.
    var offsets: [Float] {
        var off = [Float](repeating: 0, count: n)
        w.withUnsafeBytes { raw in
            let p = raw.baseAddress!
            for i in 0..<n {
                let b = p + (i / weightType.blockSize) * weightType.typeSize, k = i % weightType.blockSize
                switch weightType {
                case .q4_1, .q5_1: off[i] = Dot.half(b, 2)
                case .q2_K: off[i] = -Dot.half(b, 82) * Float(b.load(fromByteOffset: k / 16, as: UInt8.self) >> 4)
                case .q4_K, .q5_K: off[i] = -Dot.half(b, 2) * Float(KQuants.scaleMin(k / 32, b + 4).1)
                default: break
                }
            }
        }
        return off
    }

    /// Σ w·a of the dequantized rows in Double, and the magnitude Σ(|w − off| + |off|)·|a| the tolerances are
    /// relative to.
    var exact: (dot: Double, magnitude: Double) {
        let off = offsets
        var s = 0.0, m = 0.0
        for i in 0..<n {
            let w = Double(wf[i]), a = Double(af[i]), f = Double(off[i])
            s += w * a
            m += (abs(w - f) + abs(f)) * abs(a)
        }
        return (s, m)
    }

    /// For Q4_1/Q5_1: how far the reference's m·s terms may be from m·Σa of the dequantized activations.
    /// s = f16(d·Σq) is rounded to f16 (2^-11 relative, 2^-25 absolute once subnormal) and uses the Float d where
    /// dequantization uses the f16 one (again 2^-11 relative or 2^-25 absolute): per block
    /// |m|·(2^-10·Σ|a| + 2^-25·(1 + Σ|q|)).
    var q8_1SumBound: Double {
        guard Dot.activationType(for: weightType) == .q8_1 else { return 0 }
        let off = offsets
        var bound = 0.0
        a.withUnsafeBytes { raw in
            for b in 0..<(n / 32) {
                var absA = 0.0, absQ = 0.0
                for j in 0..<32 {
                    absA += abs(Double(af[32 * b + j]))
                    absQ += abs(Double(raw.load(fromByteOffset: 36 * b + 4 + j, as: Int8.self)))
                }
                bound += abs(Double(off[32 * b])) * (absA / 1024 + (1 + absQ) / 33_554_432)
            }
        }
        return bound
    }

    func run(_ f: (GGMLType, Int, UnsafeRawPointer, UnsafeRawPointer) -> Float) -> Float {
        w.withUnsafeBytes { x in a.withUnsafeBytes { y in f(weightType, n, x.baseAddress!, y.baseAddress!) } }
    }
}

@Suite struct DotTests {
    static let weightTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
                                          .f16, .bf16, .f32]

    /// (a) The reference against Σ w·a of the dequantized rows. The reference scales once per block in Float
    /// (d_x·d_y·Σq·q8, K-quant sub-block scales in integers) where dequantization rounds every weight, and it
    /// sums blocks in Float: a few ulps per block term, so 2e-5 of Σ|w·a| (measured: below 2e-7).
    static let referenceTolerance = 1e-6
    /// (b, c) SIMD kernels against the reference. Their integer block sums are exact; only the float
    /// accumulation order differs (lanes, FMA, pairs of blocks), so 1e-6 of Σ|w·a| (measured: below 1e-7).
    static let kernelTolerance = 1e-6

    static let blockCounts = [1, 2, 3, 7, 17]
    /// Element counts for F16/BF16/F32 (block size 1): tails of every length around the 8/16/32/64-wide loops.
    static let floatCounts = [1, 2, 3, 7, 17, 31, 33, 64, 100, 257, 1000]

    /// The ISAs this CPU can run, with the name used in messages.
    static let isas: [(Int32, String)] = [
        (Int32(LLK_ISA_AVX2), "avx2"), (Int32(LLK_ISA_AVX512), "avx512"),
        (Int32(LLK_ISA_AVX512BF16), "avx512bf16"), (Int32(LLK_ISA_NEON), "neon"),
    ].filter { CPUFeatures.current.isSuperset(of: CPUFeatures(rawValue: llk_dot_isa_features($0.0))) }

    static func cases(_ t: GGMLType) throws -> [DotCase] {
        let counts = t.blockSize == 1 ? floatCounts : blockCounts
        var out: [DotCase] = []
        for c in counts {
            for variant in 0...BlockKind.allCases.count {
                out.append(try DotCase(t, blocks: c, variant: variant, seed: UInt64(t.id) &* 0x9E37_79B9))
            }
        }
        return out
    }

    @Test(arguments: weightTypes)
    func referenceMatchesDequantized(_ t: GGMLType) throws {
        for c in try Self.cases(t) {
            let (exact, magnitude) = c.exact
            let r = c.run(Dot.reference)
            let sTerm = c.q8_1SumBound
            #expect(abs(Double(r) - exact) <= Self.referenceTolerance * magnitude + sTerm + 1e-30,
                    "\(t) n=\(c.n): reference \(r), dequantized \(exact)")
        }
    }

    @Test(arguments: weightTypes)
    func fastMatchesReference(_ t: GGMLType) throws {
        for c in try Self.cases(t) {
            let scale = c.exact.magnitude
            let r = c.run(Dot.reference)
            let f = c.run(Dot.fast)
            #expect(abs(Double(f) - Double(r)) <= Self.kernelTolerance * scale + 1e-30, "\(t) n=\(c.n): fast \(f), reference \(r)")
            // (c) every ISA variant this CPU has
            for (isa, name) in Self.isas {
                guard let k = llk_dot_kernel(t.id, isa) else { continue }
                let v = c.run { _, n, x, y in k(Int32(n), x, y) }
                #expect(abs(Double(v) - Double(r)) <= Self.kernelTolerance * scale + 1e-30,
                        "\(t) \(name) n=\(c.n): kernel \(v), reference \(r)")
            }
        }
    }

    /// The kernels Dot.fast dispatches to exist where the CPU has the ISA they were written for.
    @Test func dispatch() {
        let f = CPUFeatures.current
        #if arch(x86_64)
        if f.isSuperset(of: [.avx2, .fma, .f16c]) {
            for t in Self.weightTypes { #expect(Dot.kernel(for: t) != nil, "\(t)") }
        }
        #elseif arch(arm64)
        for t in [GGMLType.q4_0, .q8_0, .q4_K, .q6_K, .f16] { #expect(Dot.kernel(for: t) != nil, "\(t)") }
        #endif
        _ = f
        #expect(Dot.kernel(for: .iq2_xxs) == nil)
        #expect(llk_dot_select(GGMLType.q4_0.id, 0) == nil)  // no features: no kernel, reference only
    }

    @Test func activationTypes() {
        #expect(Dot.activationType(for: .q4_0) == .q8_0)
        #expect(Dot.activationType(for: .q5_0) == .q8_0)
        #expect(Dot.activationType(for: .q8_0) == .q8_0)
        #expect(Dot.activationType(for: .q4_1) == .q8_1)
        #expect(Dot.activationType(for: .q5_1) == .q8_1)
        for t in [GGMLType.q2_K, .q3_K, .q4_K, .q5_K, .q6_K] { #expect(Dot.activationType(for: t) == .q8_K) }
        #expect(Dot.activationType(for: .f16) == .f16)
        #expect(Dot.activationType(for: .bf16) == .bf16)
        #expect(Dot.activationType(for: .f32) == .f32)
    }

    /// The C activation quantizers (Q8_0, Q8_K) write the same bytes as their Swift twins
    /// (`Dot.quantizeActivationsReference`) on random rows of several lengths, with blocks that are all zero,
    /// hold ±amax at several positions (the first one sets Q8_K's sign), tiny values, and exact rounding ties.
    @Test(arguments: [GGMLType.q8_0, .q8_K])
    func quantizerMatchesReference(_ t: GGMLType) {
        let ks = Self.isas.compactMap { llk_quantize_kernel(t.id, $0.0) }
        #if arch(x86_64)
        if CPUFeatures.current.isSuperset(of: [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vnni]) {
            #expect(!ks.isEmpty && Dot.quantizer(for: t) != nil)
        }
        #endif
        var rng = TestRng(s: 0x5EED &+ UInt64(t.id))
        for blocks in [1, 2, 3, 16, 17] {
            let n = blocks * t.blockSize
            var x = (0..<n).map { _ in rng.heavy() }
            let bs = t.blockSize
            if blocks > 1 { for i in 0..<bs { x[bs + i] = 0 } }  // an all-zero block
            if blocks > 2 {
                // ±127 first / later: scale 1 (Q8_0: 127/amax; Q8_K: −127/max), ties at k + 0.5
                x[2 * bs] = -127; x[2 * bs + 5] = 127
                for i in 6..<min(bs, 30) { x[2 * bs + i] = Float(i - 18) + 0.5 }
            }
            if blocks > 3 {
                for i in 0..<bs { x[3 * bs + i] = Float(i % 7 - 3) * 1e-30 }  // tiny values
                x[3 * bs + 2] = 3e-30; x[3 * bs + 9] = -3e-30
            }
            let bytes = t.byteCount(elements: n)!
            var want = [UInt8](repeating: 0xAA, count: bytes)
            x.withUnsafeBufferPointer { src in
                want.withUnsafeMutableBytes { Dot.quantizeActivationsReference(t, src.baseAddress!, $0.baseAddress!, n) }
            }
            for k in ks {
                var got = [UInt8](repeating: 0x55, count: bytes)
                x.withUnsafeBufferPointer { src in got.withUnsafeMutableBytes { k(src.baseAddress!, $0.baseAddress!, Int32(n)) } }
                #expect(got == want, "\(t) n=\(n): first difference at byte \(got.indices.first { got[$0] != want[$0] } ?? -1)")
            }
            var viaDot = [UInt8](repeating: 0x55, count: bytes)
            x.withUnsafeBufferPointer { src in viaDot.withUnsafeMutableBytes { Dot.quantizeActivations(t, src.baseAddress!, $0.baseAddress!, n) } }
            #expect(viaDot == want)
        }
    }

    /// Q8_1 as quantize_row_q8_1_ref: Q8_0's quants and scale, plus s = f16(Σq × d).
    @Test func q8_1Block() {
        var rng = TestRng(s: 42)
        let x = (0..<96).map { _ in rng.heavy() }
        var q81 = [UInt8](repeating: 0, count: 3 * 36), q80 = [UInt8](repeating: 0, count: 3 * 34)
        x.withUnsafeBufferPointer { src in
            q81.withUnsafeMutableBytes { Q8_1.quantize(src.baseAddress!, $0.baseAddress!, 96) }
            q80.withUnsafeMutableBytes { Q8_0.quantize(src.baseAddress!, $0.baseAddress!, 96) }
        }
        for b in 0..<3 {
            #expect(Array(q81[(36 * b)..<(36 * b + 2)]) == Array(q80[(34 * b)..<(34 * b + 2)]))
            #expect(Array(q81[(36 * b + 4)..<(36 * b + 36)]) == Array(q80[(34 * b + 2)..<(34 * b + 34)]))
            let sum = q81[(36 * b + 4)..<(36 * b + 36)].reduce(Int32(0)) { $0 + Int32(Int8(bitPattern: $1)) }
            let amax = x[(32 * b)..<(32 * b + 32)].reduce(Float(0)) { Swift.max($0, abs($1)) }
            let s = UInt16(q81[36 * b + 2]) | UInt16(q81[36 * b + 3]) << 8
            #expect(s == floatToHalf(Float(sum) * (amax / 127)))
        }
    }
}
