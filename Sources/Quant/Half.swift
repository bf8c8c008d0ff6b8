// Half-precision conversions done with bit operations (Float16 is missing on Intel Macs):
// IEEE binary16 (F16) and bfloat16 (BF16) to and from Float, round-to-nearest-even like numpy's
// astype(float16) and gguf-py's fp32→bf16 (NaN kept quiet), plus bulk row converters.
import CKernels

@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1f
    let man = UInt32(h & 0x3ff)
    if exp == 0 {
        if man == 0 { return Float(bitPattern: sign) }
        // subnormal: man × 2^-24, exact in Float
        let f = Float(man) * (1.0 / 16_777_216.0)
        return sign != 0 ? -f : f
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (man << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (man << 13))
}

@inline(__always)
public func floatToHalf(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    let absx = x & 0x7fff_ffff
    if absx >= 0x7f80_0000 {  // inf or NaN (NaN stays NaN, quiet)
        return sign | (absx > 0x7f80_0000 ? 0x7e00 | UInt16((absx >> 13) & 0x3ff) : 0x7c00)
    }
    if absx >= 0x4780_0000 {  // ≥ 65536: overflows to inf (65520 and up round to inf too, below)
        return sign | 0x7c00
    }
    if absx < 0x3880_0000 {  // below 2^-14: subnormal half (or zero)
        if absx < 0x3300_0000 { return sign }  // below 2^-25: rounds to zero (2^-25 itself ties to 0)
        let e = Int(absx >> 23)
        let m = (absx & 0x7f_ffff) | 0x80_0000
        let shift = UInt32(126 - e)  // value = m × 2^(e-150); in units of 2^-24: m >> (126 - e)
        let q = m >> shift
        let rem = m & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        let r = q + ((rem > halfway || (rem == halfway && (q & 1) == 1)) ? 1 : 0)
        return sign | UInt16(r)
    }
    // normal: rebias exponent, round mantissa 23 → 10 bits, carry may bump the exponent (to inf)
    let rounded = absx + 0x0fff + ((absx >> 13) & 1)
    let h = (rounded >> 13) - (112 << 10)
    return sign | UInt16(h)
}

@inline(__always)
public func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

@inline(__always)
public func floatToBF16(_ f: Float) -> UInt16 {
    var x = f.bitPattern
    if x & 0x7fff_ffff > 0x7f80_0000 {  // NaN → quiet NaN with the same sign/top bits
        x = (x & 0xffff_0000) | (64 << 16)
        return UInt16(x >> 16)
    }
    return UInt16(truncatingIfNeeded: (UInt64(x) + 0x7fff + UInt64((x >> 16) & 1)) >> 16)
}

// MARK: - bulk conversions (branch-free loops the compiler vectorizes; the scalar functions above are
// their reference). Swift's SIMD types lower poorly here (masks become per-lane branches), so these are
// plain loops over select-only arithmetic, which LLVM turns into vector code on every target.

/// f32 bits → f16 bits without branches; equal to `floatToHalf`.
@inline(__always)
func floatToHalfBranchFree(_ x: UInt32) -> UInt16 {
    let sign = (x & 0x8000_0000) >> 16
    let a = x & 0x7fff_ffff
    // normal: rebias the exponent (−112 << 23, wrapping) and round the mantissa to nearest even
    let normal = (a &+ 0xC800_0FFF &+ ((a >> 13) & 1)) >> 13
    // below 2^-14: a float add of 0.5 rounds the value into the last mantissa bits
    let sub = (Float(bitPattern: a) + 0.5).bitPattern &- 0x3F00_0000
    var r = a < 0x3880_0000 ? sub : normal
    r = a >= 0x4780_0000 ? 0x7c00 : r
    r = a > 0x7f80_0000 ? 0x7e00 | ((a >> 13) & 0x3ff) : r
    return UInt16(truncatingIfNeeded: r | sign)
}

/// `n` floats → f16 bits.
public func convertFloatToHalf(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ n: Int) {
    let s = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
    for i in 0..<n { dst[i] = floatToHalfBranchFree(s[i]) }
}

/// `n` bf16 values → f16 bits, without a float buffer in between.
public func convertBF16ToHalf(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ n: Int) {
    let s = src.assumingMemoryBound(to: UInt16.self), d = dst.assumingMemoryBound(to: UInt16.self)
    for i in 0..<n { d[i] = floatToHalfBranchFree(UInt32(s[i]) << 16) }
}

/// f16 bits → Float without branches; equal to `halfToFloat` (NaN payloads kept).
@inline(__always)
func halfToFloatBranchFree(_ h: UInt16) -> Float {
    let em = UInt32(h & 0x7fff) << 13                 // exponent and mantissa, in Float position
    let exp = em & (0x7c00 << 13)
    let normal = em &+ (112 << 23)                    // rebias 15 → 127
    let special = normal &+ (112 << 23)               // inf / NaN: exponent all ones
    let sub = (Float(bitPattern: em &+ (113 << 23)) - Float(bitPattern: 113 << 23)).bitPattern  // zero / subnormal
    var r = exp == 0x7c00 << 13 ? special : normal
    r = exp == 0 ? sub : r
    return Float(bitPattern: r | UInt32(h & 0x8000) << 16)
}

/// `n` f16 values → Float.
/// `n` f16 values → Float (the C kernel: vcvtph2ps with its special lanes rebuilt, equal to `halfToFloat`).
public func convertHalfToFloat(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    llk_f16_to_f32(src.assumingMemoryBound(to: UInt16.self), dst, Int64(n))
}
