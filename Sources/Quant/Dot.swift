// Dot: the fused dot product of one weight row with one activation row, each in its block format, as ggml's
// vec_dot functions compute it: the activation row is first quantized to the type ggml pairs with the weight
// type (its vec_dot_type), then whole blocks are multiplied in integers and scaled once per block.
//
// `reference` is the portable scalar twin of ggml's `ggml_vec_dot_*_generic` (ggml-cpu/quants.c) and of the
// scalar paths of `ggml_vec_dot_f16/bf16/f32` (ggml-cpu/vec.cpp): integer sums per block, then scaling and
// float accumulation in the same order and precision as the C code (K-quants keep ggml's 8 float lanes).
// `fast` runs the SIMD kernels of Sources/CKernels/dot.c (AVX2 / AVX-512 VNNI / NEON), chosen once per type
// from `CPUFeatures.current`; types without a SIMD kernel fall back to `reference`. Integer parts of the SIMD
// kernels are exact, so `fast` differs from `reference` only by float summation order (see DotTests).
//
// Precondition shared with ggml's SIMD code: activation quants lie in −127...127 (our Q8_0/Q8_1/Q8_K
// quantizers never produce −128), since the x86 kernels use the sign trick / unsigned×signed products.
import CKernels
import Formats

public enum Dot {
    /// A C dot kernel: `n` elements of one weight row `x` times one activation row `y`.
    public typealias Kernel = @convention(c) (Int32, UnsafeRawPointer?, UnsafeRawPointer?) -> Float

    /// Weight types with a dot product (reference and fast).
    public static func supports(_ weightType: GGMLType) -> Bool {
        [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K].contains(weightType)
    }

    /// The type ggml quantizes activations to before a dot with `weightType` (its vec_dot_type).
    public static func activationType(for weightType: GGMLType) -> GGMLType {
        switch weightType {
        case .q4_0, .q5_0, .q8_0: .q8_0
        case .q4_1, .q5_1: .q8_1
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: .q8_K
        case .f16: .f16
        case .bf16: .bf16
        case .f32: .f32
        default: preconditionFailure("no dot product for weight type \(weightType)")
        }
    }

    /// Quantizes `n` floats (a whole number of blocks) into activation type `type` (Q8_0, Q8_1, Q8_K, F16, BF16
    /// or F32; a weight type means its paired activation type) at `dst`, `type.byteCount(elements: n)` bytes.
    /// Q8_0 and Q8_K go through the SIMD quantizer of CKernels dot.c where this CPU has one (byte-identical to
    /// `quantizeActivationsReference`, the Swift code).
    public static func quantizeActivations(_ type: GGMLType, _ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        switch type {
        case .q8_0, .q8_K:
            if let q = quantizer(for: type) { q(x, dst, Int32(n)) } else { quantizeActivationsReference(type, x, dst, n) }
        default: quantizeActivationsReference(type, x, dst, n)
        }
    }

    /// The C activation quantizer for `type` on this CPU (llk_quantize_select), or nil.
    public static func quantizer(for type: GGMLType) -> llk_quantize_fn? {
        let id = Int(type.id)
        return id < quantizers.count ? quantizers[id] : nil
    }

    private static let quantizers: [llk_quantize_fn?] = (0..<64).map { llk_quantize_select(UInt32($0), CPUFeatures.current.rawValue) }

    /// `quantizeActivations` in Swift only: the scalar twin of the C quantizers.
    public static func quantizeActivationsReference(_ type: GGMLType, _ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        switch type {
        case .q8_0: ActivationQuant.quantizeQ8_0(x, dst, n)
        case .q8_1: ActivationQuant.quantizeQ8_1(x, dst, n)
        case .q8_K: KQuants.quantizeQ8_K(x, dst, n)
        case .f16: convertFloatToHalf(x, dst.assumingMemoryBound(to: UInt16.self), n)
        case .bf16:
            for i in 0..<n { dst.storeBytes(of: floatToBF16(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .f32: dst.copyMemory(from: x, byteCount: 4 * n)
        default: quantizeActivationsReference(activationType(for: type), x, dst, n)
        }
    }

    // MARK: - fast (C kernels)

    /// The fastest C kernel for `weightType` on this CPU, or nil where only the reference exists. Hot loops can
    /// fetch it once and call it directly.
    public static func kernel(for weightType: GGMLType) -> Kernel? {
        let id = Int(weightType.id)
        return id < kernels.count ? kernels[id] : nil
    }

    /// Kernels by ggml type id, selected once from this machine's features (llk_dot_select).
    private static let kernels: [Kernel?] = (0..<64).map { llk_dot_select(UInt32($0), CPUFeatures.current.rawValue) }

    /// `reference` computed by the SIMD kernel for this CPU where there is one.
    @inline(__always)
    public static func fast(_ weightType: GGMLType, _ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        precondition(n % weightType.blockSize == 0, "\(n) elements of \(weightType): not whole blocks")
        if let k = kernel(for: weightType) { return k(Int32(n), x, y) }
        return reference(weightType, n, x, y)
    }

    // MARK: - reference (ggml's generic code)

    /// ggml's generic dot of `n` weights of `weightType` at `x` with `n` activations of
    /// `activationType(for: weightType)` at `y`. `n` must be a whole number of blocks.
    public static func reference(_ weightType: GGMLType, _ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        precondition(n % weightType.blockSize == 0, "\(n) elements of \(weightType): not whole blocks")
        switch weightType {
        case .q4_0: return q4_0(n, x, y)
        case .q4_1: return q4_1(n, x, y)
        case .q5_0: return q5_0(n, x, y)
        case .q5_1: return q5_1(n, x, y)
        case .q8_0: return q8_0(n, x, y)
        case .q2_K: return q2_K(n, x, y)
        case .q3_K: return q3_K(n, x, y)
        case .q4_K: return q4_K(n, x, y)
        case .q5_K: return q5_K(n, x, y)
        case .q6_K: return q6_K(n, x, y)
        case .f16: return f16(n, x, y)
        case .bf16: return bf16(n, x, y)
        case .f32: return f32(n, x, y)
        default: preconditionFailure("no dot product for weight type \(weightType)")
        }
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ o: Int) -> Float {
        halfToFloat(p.loadUnaligned(fromByteOffset: o, as: UInt16.self).littleEndian)
    }
    @inline(__always) static func f32(_ p: UnsafeRawPointer, _ o: Int) -> Float {
        Float(bitPattern: p.loadUnaligned(fromByteOffset: o, as: UInt32.self).littleEndian)
    }
    @inline(__always) static func u8(_ p: UnsafeRawPointer, _ o: Int) -> Int32 { Int32(p.load(fromByteOffset: o, as: UInt8.self)) }
    @inline(__always) static func i8(_ p: UnsafeRawPointer, _ o: Int) -> Int32 { Int32(p.load(fromByteOffset: o, as: Int8.self)) }
    @inline(__always) static func i16(_ p: UnsafeRawPointer, _ o: Int) -> Int32 {
        Int32(Int16(bitPattern: p.loadUnaligned(fromByteOffset: o, as: UInt16.self).littleEndian))
    }

    /// ggml_vec_dot_q4_0_q8_0_generic: sumf += Σq·q8 × dx × dy.
    static func q4_0(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Float = 0
        for ib in 0..<(n / 32) {
            let bx = x + ib * 18, by = y + ib * 34
            var s0: Int32 = 0, s1: Int32 = 0
            for j in 0..<16 {
                let q = u8(bx, 2 + j)
                s0 &+= ((q & 0x0f) &- 8) &* i8(by, 2 + j)
                s1 &+= ((q >> 4) &- 8) &* i8(by, 18 + j)
            }
            sumf += Float(s0 &+ s1) * half(bx, 0) * half(by, 0)
        }
        return sumf
    }

    /// ggml_vec_dot_q4_1_q8_1_generic: sumf += (dx·dy) × Σq·q8 + mx·sy.
    static func q4_1(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Float = 0
        for ib in 0..<(n / 32) {
            let bx = x + ib * 20, by = y + ib * 36
            var s0: Int32 = 0, s1: Int32 = 0
            for j in 0..<16 {
                let q = u8(bx, 4 + j)
                s0 &+= (q & 0x0f) &* i8(by, 4 + j)
                s1 &+= (q >> 4) &* i8(by, 20 + j)
            }
            sumf += (half(bx, 0) * half(by, 0)) * Float(s0 &+ s1) + half(bx, 2) * half(by, 2)
        }
        return sumf
    }

    /// ggml_vec_dot_q5_0_q8_0_generic: sumf += (dx·dy) × Σ(q − 16)·q8.
    static func q5_0(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Float = 0
        for ib in 0..<(n / 32) {
            let bx = x + ib * 22, by = y + ib * 34
            let qh = Int32(bitPattern: bx.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian)
            var s0: Int32 = 0, s1: Int32 = 0
            for j in 0..<16 {
                let q = u8(bx, 6 + j)
                let h0 = ((qh >> Int32(j)) << 4) & 0x10, h1 = (qh >> Int32(j + 12)) & 0x10
                s0 &+= (((q & 0x0f) | h0) &- 16) &* i8(by, 2 + j)
                s1 &+= (((q >> 4) | h1) &- 16) &* i8(by, 18 + j)
            }
            sumf += (half(bx, 0) * half(by, 0)) * Float(s0 &+ s1)
        }
        return sumf
    }

    /// ggml_vec_dot_q5_1_q8_1_generic: sumf += (dx·dy) × Σq·q8 + mx·sy.
    static func q5_1(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Float = 0
        for ib in 0..<(n / 32) {
            let bx = x + ib * 24, by = y + ib * 36
            let qh = bx.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
            var s0: Int32 = 0, s1: Int32 = 0
            for j in 0..<16 {
                let q = u8(bx, 8 + j)
                let h0 = Int32(bitPattern: ((qh >> UInt32(j)) << 4) & 0x10), h1 = Int32(bitPattern: (qh >> UInt32(j + 12)) & 0x10)
                s0 &+= ((q & 0x0f) | h0) &* i8(by, 4 + j)
                s1 &+= ((q >> 4) | h1) &* i8(by, 20 + j)
            }
            sumf += (half(bx, 0) * half(by, 0)) * Float(s0 &+ s1) + half(bx, 2) * half(by, 2)
        }
        return sumf
    }

    /// ggml_vec_dot_q8_0_q8_0_generic: sumf += Σq·q8 × (dx·dy).
    static func q8_0(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Float = 0
        for ib in 0..<(n / 32) {
            let bx = x + ib * 34, by = y + ib * 34
            var s: Int32 = 0
            for j in 0..<32 { s &+= i8(bx, 2 + j) &* i8(by, 2 + j) }
            sumf += Float(s) * (half(bx, 0) * half(by, 0))
        }
        return sumf
    }

    /// ggml_vec_dot_q2_K_q8_K_generic: per super-block dall × Σ sc·Σq·q8 − dmin × Σ m·bsum.
    static func q2_K(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Float = 0
        for i in 0..<(n / 256) {
            let bx = x + i * 84, by = y + i * 292
            var summs: Int32 = 0
            for j in 0..<16 { summs &+= i16(by, 260 + 2 * j) &* (u8(bx, j) >> 4) }
            let yd = f32(by, 0)
            let dall = yd * half(bx, 80), dmin = yd * half(bx, 82)
            var isum: Int32 = 0
            for k in 0..<2 {
                for s in 0..<4 {
                    for h in 0..<2 {
                        let sc = u8(bx, 8 * k + 2 * s + h) & 0x0f
                        var isuml: Int32 = 0
                        for l in (16 * h)..<(16 * h + 16) {
                            isuml &+= i8(by, 4 + 128 * k + 32 * s + l) &* ((u8(bx, 16 + 32 * k + l) >> Int32(2 * s)) & 3)
                        }
                        isum &+= sc &* isuml
                    }
                }
            }
            sumf += dall * Float(isum) - dmin * Float(summs)
        }
        return sumf
    }

    /// The 8-lane accumulation ggml's generic Q3_K…Q6_K dots share. For each super-block `fill(i, a, sc)` writes
    /// its 256 weight quants (offset removed) to `a` and its 16 sub-block scales (one per 16 weights) to `sc`;
    /// then integer lanes aux[k % 8] += sc[k / 16] × a[k] × q8[k], float lanes sums[l] += d(i) × aux[l], and
    /// at the end sumf += sums[l] in lane order. `minTerm(i)` is subtracted from sumf per super-block (the
    /// Q4_K/Q5_K mins) before the lanes are added.
    @inline(__always)
    static func lanes(_ nb: Int, _ y: UnsafeRawPointer, fill: (Int, UnsafeMutablePointer<Int8>, UnsafeMutablePointer<Int32>) -> Void,
                      d: (Int) -> Float, minTerm: ((Int) -> Float)?) -> Float {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { abuf in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 16) { sbuf in
                let a = abuf.baseAddress!, sc = sbuf.baseAddress!
                var sums = SIMD8<Float>(repeating: 0)
                var sumf: Float = 0
                for i in 0..<nb {
                    fill(i, a, sc)
                    let q8 = y + i * 292 + 4
                    var aux = SIMD8<Int32>(repeating: 0)
                    for j in 0..<16 {
                        let s = sc[j]
                        for h in 0..<2 {
                            for l in 0..<8 {
                                let k = 16 * j + 8 * h + l
                                aux[l] &+= s &* (Int32(q8.load(fromByteOffset: k, as: Int8.self)) &* Int32(a[k]))
                            }
                        }
                    }
                    let di = d(i)
                    for l in 0..<8 { sums[l] += di * Float(aux[l]) }
                    if let minTerm { sumf -= minTerm(i) }
                }
                for l in 0..<8 { sumf += sums[l] }
                return sumf
            }
        }
    }

    /// Σ bsums[j] × min[j / 2] of a Q4_K/Q5_K super-block (scales at `scales`) against a Q8_K block.
    @inline(__always)
    static func minSum(_ scales: UnsafeRawPointer, _ by: UnsafeRawPointer) -> Int32 {
        var sumi: Int32 = 0
        for j in 0..<16 { sumi &+= i16(by, 260 + 2 * j) &* Int32(KQuants.scaleMin(j / 2, scales).1) }
        return sumi
    }

    /// ggml_vec_dot_q3_K_q8_K_generic.
    static func q3_K(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        lanes(n / 256, y, fill: { i, a, sc in
            let bx = x + i * 110
            for h in 0..<2 {
                for s in 0..<4 {
                    let shift = UInt8(2 * s), m = UInt8(1) << UInt8(4 * h + s)
                    for l in 0..<32 {
                        let low = Int8((bx.load(fromByteOffset: 32 + 32 * h + l, as: UInt8.self) >> shift) & 3)
                        a[128 * h + 32 * s + l] = low - (bx.load(fromByteOffset: l, as: UInt8.self) & m != 0 ? 0 : 4)
                    }
                }
            }
            for j in 0..<16 { sc[j] = Int32(KQuants.q3Scale(j, bx + 96)) &- 32 }
        }, d: { i in half(x + i * 110, 108) * f32(y + i * 292, 0) }, minTerm: nil)
    }

    /// ggml_vec_dot_q4_K_q8_K_generic.
    static func q4_K(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        lanes(n / 256, y, fill: { i, a, sc in
            let bx = x + i * 144
            for c in 0..<4 {
                for l in 0..<32 {
                    let b = bx.load(fromByteOffset: 16 + 32 * c + l, as: UInt8.self)
                    a[64 * c + l] = Int8(b & 0x0f)
                    a[64 * c + 32 + l] = Int8(b >> 4)
                }
            }
            for j in 0..<8 { sc[2 * j] = Int32(KQuants.scaleMin(j, bx + 4).0); sc[2 * j + 1] = sc[2 * j] }
        }, d: { i in half(x + i * 144, 0) * f32(y + i * 292, 0) }, minTerm: { i in
            (half(x + i * 144, 2) * f32(y + i * 292, 0)) * Float(minSum(x + i * 144 + 4, y + i * 292))
        })
    }

    /// ggml_vec_dot_q5_K_q8_K_generic.
    static func q5_K(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        lanes(n / 256, y, fill: { i, a, sc in
            let bx = x + i * 176
            for c in 0..<4 {
                let m1 = UInt8(1) << UInt8(2 * c), m2 = UInt8(2) << UInt8(2 * c)
                for l in 0..<32 {
                    let b = bx.load(fromByteOffset: 48 + 32 * c + l, as: UInt8.self)
                    let h = bx.load(fromByteOffset: 16 + l, as: UInt8.self)
                    a[64 * c + l] = Int8((b & 0x0f) + (h & m1 != 0 ? 16 : 0))
                    a[64 * c + 32 + l] = Int8((b >> 4) + (h & m2 != 0 ? 16 : 0))
                }
            }
            for j in 0..<8 { sc[2 * j] = Int32(KQuants.scaleMin(j, bx + 4).0); sc[2 * j + 1] = sc[2 * j] }
        }, d: { i in half(x + i * 176, 0) * f32(y + i * 292, 0) }, minTerm: { i in
            (half(x + i * 176, 2) * f32(y + i * 292, 0)) * Float(minSum(x + i * 176 + 4, y + i * 292))
        })
    }

    /// ggml_vec_dot_q6_K_q8_K_generic.
    static func q6_K(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        lanes(n / 256, y, fill: { i, a, sc in
            let bx = x + i * 210
            for h in 0..<2 {
                for l in 0..<32 {
                    let q1 = u8(bx, 64 * h + l), q2 = u8(bx, 64 * h + l + 32), qh = u8(bx, 128 + 32 * h + l)
                    a[128 * h + l] = Int8(truncatingIfNeeded: ((q1 & 0x0f) | (qh & 3) << 4) - 32)
                    a[128 * h + l + 32] = Int8(truncatingIfNeeded: ((q2 & 0x0f) | ((qh >> 2) & 3) << 4) - 32)
                    a[128 * h + l + 64] = Int8(truncatingIfNeeded: ((q1 >> 4) | ((qh >> 4) & 3) << 4) - 32)
                    a[128 * h + l + 96] = Int8(truncatingIfNeeded: ((q2 >> 4) | ((qh >> 6) & 3) << 4) - 32)
                }
            }
            for j in 0..<16 { sc[j] = i8(bx, 192 + j) }
        }, d: { i in half(x + i * 210, 208) * f32(y + i * 292, 0) }, minTerm: nil)
    }

    /// ggml_vec_dot_f16's scalar path: Double sum of the (exact) Float products.
    static func f16(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Double = 0
        for i in 0..<n { sumf += Double(half(x, 2 * i) * half(y, 2 * i)) }
        return Float(sumf)
    }

    /// ggml_vec_dot_bf16's scalar path: Double sum of the (exact) Float products.
    static func bf16(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Double = 0
        for i in 0..<n {
            let a = bf16ToFloat(x.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
            let b = bf16ToFloat(y.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
            sumf += Double(a * b)
        }
        return Float(sumf)
    }

    /// ggml_vec_dot_f32's scalar path: Double sum of the Float products.
    static func f32(_ n: Int, _ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Float {
        var sumf: Double = 0
        for i in 0..<n { sumf += Double(f32(x, 4 * i) * f32(y, 4 * i)) }
        return Float(sumf)
    }
}
