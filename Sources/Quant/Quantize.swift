// Quantize: Float rows into any block type llmkit can write, with ggml's reference algorithms (no
// importance matrix), so the bytes equal llama.cpp's. Non-finite input is refused: llama.cpp's own
// quantizer rejects such rows too ("quantized data validation failed").
import CKernels
import Formats

/// C's float → int8_t as x86 performs it (cvttss2si to int32, then the low byte): values outside int32
/// and NaN give 0x80000000, whose low byte is 0. The reference quantizers rely on it for degenerate
/// blocks (a scale that overflows to ±inf).
@inline(__always)
func cInt8(_ f: Float) -> Int8 {
    let i: Int32 = f.isFinite && abs(f) < 2_147_483_520 ? Int32(f) : Int32.min
    return Int8(truncatingIfNeeded: i)
}

/// The smallest and largest of a block's values, as ggml's reference loops find them (from ±FLT_MAX).
@inline(__always)
func blockMinMax(_ v: UnsafePointer<Float>, _ n: Int) -> (min: Float, max: Float) {
    var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
    for j in 0..<n {
        if v[j] < lo { lo = v[j] }
        if v[j] > hi { hi = v[j] }
    }
    return (lo, hi)
}

/// The value of largest magnitude in a block (the first one on ties) and that magnitude.
@inline(__always)
func blockAbsMax(_ v: UnsafePointer<Float>, _ n: Int) -> (amax: Float, max: Float) {
    var amax: Float = 0, max: Float = 0
    for j in 0..<n where amax < abs(v[j]) { amax = abs(v[j]); max = v[j] }
    return (amax, max)
}

public enum Quantize {
    /// Types `row` can produce.
    public static func supports(_ t: GGMLType) -> Bool {
        [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0].contains(t) || kquant(t) != nil
    }

    /// Quantizes `n` floats (a whole number of `type` blocks) into `dst` (`type.byteCount(elements: n)` bytes).
    public static func row(_ type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) throws {
        guard n % type.blockSize == 0 else {
            throw QuantError.badLength(type: type.name, elements: n, blockSize: type.blockSize)
        }
        switch type {
        case .f32: dst.copyMemory(from: src, byteCount: 4 * n)
        case .f16: convertFloatToHalf(src, dst.assumingMemoryBound(to: UInt16.self), n)
        case .bf16:
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { d[i] = floatToBF16(src[i]) }
        // The C kernels (CKernels/quant.c), AVX-512 where the CPU has it; the Swift loops are their references.
        case .q4_0: llk_quantize_legacy(Int32(LLK_QUANT_Q4_0), src, dst, Int64(n / 32))
        case .q4_1: llk_quantize_legacy(Int32(LLK_QUANT_Q4_1), src, dst, Int64(n / 32))
        case .q5_0: llk_quantize_legacy(Int32(LLK_QUANT_Q5_0), src, dst, Int64(n / 32))
        case .q5_1: llk_quantize_legacy(Int32(LLK_QUANT_Q5_1), src, dst, Int64(n / 32))
        case .q8_0: llk_quantize_legacy(Int32(LLK_QUANT_Q8_0), src, dst, Int64(n / 32))
        default:
            guard let f = kquant(type) else { throw QuantError.unsupportedType(type.name, operation: "quantization") }
            f(src, dst, n)
        }
    }

    /// The K-quant quantizers (super-blocks of 256).
    static func kquant(_ t: GGMLType) -> ((UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void)? {
        switch t {
        case .q2_K: KQuants.quantizeQ2_K
        case .q3_K: KQuants.quantizeQ3_K
        case .q4_K: KQuants.quantizeQ4_K
        case .q5_K: KQuants.quantizeQ5_K
        case .q6_K: KQuants.quantizeQ6_K
        case .q8_K: KQuants.quantizeQ8_K
        default: nil
        }
    }

    /// The first non-finite value in `n` floats, if any.
    public static func firstNonFinite(_ x: UnsafePointer<Float>, _ n: Int) -> Int? {
        let i = llk_first_nonfinite(x, Int64(n))  // CKernels/quant.c; the loop below is its reference
        return i < 0 ? nil : Int(i)
    }

    static func firstNonFiniteReference(_ x: UnsafePointer<Float>, _ n: Int) -> Int? {
        for i in 0..<n where !x[i].isFinite { return i }
        return nil
    }
}
