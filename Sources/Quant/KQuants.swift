// K-quants: super-blocks of 256 weights split into sub-blocks with 4-, 6- or 8-bit scales.
// Dequantization as ggml's dequantize_row_*, quantization as ggml's quantize_row_*_K_ref (the functions
// llama-quantize runs when there is no importance matrix: quantize_qX_K(…, NULL) calls the _ref one).
// Arithmetic is in the same order and precision (Float) as the C code so results are bit-identical.
// All multi-byte fields little-endian; f16 = IEEE binary16 via floatToHalf / halfToFloat.
//
// Q2_K, 84 bytes: scales[16] | qs[64] | d f16 @80 | dmin f16 @82
//   16 sub-blocks of 16; scales[j] = scale (low nibble) | min (high nibble); q in 0..<4, 4 per byte:
//   128-weight half h, 32-byte slice qs[32h..], weight 32h·4 + 32s + l at bits 2s of qs[32h + l] (s 0..<4),
//   w = d·(sc & 15) × q − dmin·(sc >> 4)
// Q3_K, 110 bytes: hmask[32] | qs[64] @32 | scales[12] @96 | d f16 @108
//   16 sub-blocks of 16 with 6-bit scales (stored +32): low nibbles of sub-blocks 0..<8 in scales[0..<8]
//   bits 0-3, 8..<16 in scales[0..<8] bits 4-7; high 2 bits of sub-block j at bits 2(j/4) of scales[8 + j%4].
//   q low 2 bits packed as Q2_K; 3rd bit of weight j is bit j/32 of hmask[j % 32] (set: q += 4),
//   w = d·(sc − 32) × (q − 4)
// Q4_K, 144 bytes: d f16 | dmin f16 | scales[12] (8 × 6-bit scale + 8 × 6-bit min) | qs[128] nibbles
//   64-weight chunk c: weights 0..<32 from low nibbles of qs[32c..], 32..<64 from high nibbles,
//   w = d·sc(2c[+1]) × q − dmin·m(2c[+1])
//   scales: j < 4: scale j = scales[j] & 63, min j = scales[j+4] & 63; j ≥ 4: scale = scales[j+4] & 15 |
//   (scales[j-4] >> 6) << 4, min = scales[j+4] >> 4 | (scales[j] >> 6) << 4
// Q5_K, 176 bytes: d | dmin | scales[12] | qh[32] | qs[128]; chunk c's 5th bits are bits 2c and 2c+1 of qh
// Q6_K, 210 bytes: ql[128] | qh[64] | scales[16] int8 | d f16; 16 sub-blocks of 16, q in 0..<64, w = d·sc × (q − 32)
// Q8_K, 292 bytes: d f32 | qs[256] int8 @4 | bsums[16] int16 @260 (sum of each 16 quants); w = d × q.
//   Only used as the activation side of dot products, never stored in files.
import CKernels

enum KQuants {
    static let superBlock = 256

    /// The 6-bit scale and min of sub-block j from a 12-byte packed scales array.
    @inline(__always)
    static func scaleMin(_ j: Int, _ s: UnsafeRawPointer) -> (UInt8, UInt8) {
        func b(_ i: Int) -> UInt8 { s.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 0x0f) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4))
    }

    static func dequantizeQ4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / superBlock) {
            let p = src + b * 144
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let dmin = halfToFloat(p.loadUnaligned(fromByteOffset: 2, as: UInt16.self).littleEndian)
            let scales = p + 4
            var q = p + 16
            var y = dst + b * superBlock
            for c in 0..<4 {
                let (sc1, m1) = scaleMin(2 * c, scales)
                let (sc2, m2) = scaleMin(2 * c + 1, scales)
                let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
                let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                for l in 0..<32 { y[l] = d1 * Float(q.load(fromByteOffset: l, as: UInt8.self) & 0x0f) - mm1 }
                for l in 0..<32 { y[32 + l] = d2 * Float(q.load(fromByteOffset: l, as: UInt8.self) >> 4) - mm2 }
                q += 32
                y += 64
            }
        }
    }

    static func dequantizeQ5_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / superBlock) {
            let p = src + b * 176
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let dmin = halfToFloat(p.loadUnaligned(fromByteOffset: 2, as: UInt16.self).littleEndian)
            let scales = p + 4
            let qh = p + 16
            var ql = p + 48
            var y = dst + b * superBlock
            var u1: UInt8 = 1, u2: UInt8 = 2
            for c in 0..<4 {
                let (sc1, m1) = scaleMin(2 * c, scales)
                let (sc2, m2) = scaleMin(2 * c + 1, scales)
                let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
                let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                for l in 0..<32 {
                    let h = qh.load(fromByteOffset: l, as: UInt8.self)
                    let q = ql.load(fromByteOffset: l, as: UInt8.self)
                    y[l] = d1 * Float((q & 0x0f) + (h & u1 != 0 ? 16 : 0)) - mm1
                    y[32 + l] = d2 * Float((q >> 4) + (h & u2 != 0 ? 16 : 0)) - mm2
                }
                ql += 32
                y += 64
                u1 <<= 2
                u2 <<= 2
            }
        }
    }

    static func dequantizeQ6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / superBlock) {
            let p = src + b * 210
            let d = halfToFloat(p.loadUnaligned(fromByteOffset: 208, as: UInt16.self).littleEndian)
            var ql = p, qh = p + 128, sc = p + 192
            var y = dst + b * superBlock
            for _ in 0..<2 {
                for l in 0..<32 {
                    let isc = l / 16
                    let h = Int(qh.load(fromByteOffset: l, as: UInt8.self))
                    let a = Int(ql.load(fromByteOffset: l, as: UInt8.self))
                    let c = Int(ql.load(fromByteOffset: l + 32, as: UInt8.self))
                    let q1 = ((a & 0xf) | ((h >> 0) & 3) << 4) - 32
                    let q2 = ((c & 0xf) | ((h >> 2) & 3) << 4) - 32
                    let q3 = ((a >> 4) | ((h >> 4) & 3) << 4) - 32
                    let q4 = ((c >> 4) | ((h >> 6) & 3) << 4) - 32
                    func s(_ i: Int) -> Float { Float(sc.load(fromByteOffset: i, as: Int8.self)) }
                    y[l] = d * s(isc) * Float(q1)
                    y[l + 32] = d * s(isc + 2) * Float(q2)
                    y[l + 64] = d * s(isc + 4) * Float(q3)
                    y[l + 96] = d * s(isc + 6) * Float(q4)
                }
                y += 128
                ql += 64
                qh += 32
                sc += 8
            }
        }
    }
}

// MARK: - Q2_K, Q3_K and Q8_K dequantization (ggml's dequantize_row_q2_K / q3_K / q8_K)

extension KQuants {
    static func dequantizeQ2_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        var y = dst
        for b in 0..<(n / superBlock) {
            let p = src + b * 84
            let d = halfToFloat(p.loadUnaligned(fromByteOffset: 80, as: UInt16.self).littleEndian)
            let dmin = halfToFloat(p.loadUnaligned(fromByteOffset: 82, as: UInt16.self).littleEndian)
            var q = p + 16
            var isc = 0
            for _ in 0..<2 {
                var shift: UInt8 = 0
                for _ in 0..<4 {
                    for half in 0..<2 {
                        let sc = p.load(fromByteOffset: isc, as: UInt8.self)
                        isc += 1
                        let dl = d * Float(sc & 0xf), ml = dmin * Float(sc >> 4)
                        for l in 0..<16 {
                            y[l] = dl * Float((q.load(fromByteOffset: 16 * half + l, as: UInt8.self) >> shift) & 3) - ml
                        }
                        y += 16
                    }
                    shift += 2
                }
                q += 32
            }
        }
    }

    /// Q3_K's 16 six-bit scales (still offset by 32) from its 12-byte packed array.
    @inline(__always)
    static func q3Scale(_ j: Int, _ s: UnsafeRawPointer) -> Int8 {
        func b(_ i: Int) -> UInt8 { s.load(fromByteOffset: i, as: UInt8.self) }
        let low = j < 8 ? b(j) & 0xf : b(j - 8) >> 4
        let high = (b(8 + j % 4) >> UInt8(2 * (j / 4))) & 3
        return Int8(bitPattern: low | high << 4)
    }

    static func dequantizeQ3_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        var y = dst
        for b in 0..<(n / superBlock) {
            let p = src + b * 110
            let dAll = halfToFloat(p.loadUnaligned(fromByteOffset: 108, as: UInt16.self).littleEndian)
            let hm = p, scales = p + 96
            var q = p + 32
            var m: UInt8 = 1
            var isc = 0
            for _ in 0..<2 {
                var shift: UInt8 = 0
                for _ in 0..<4 {
                    for half in 0..<2 {
                        let dl = dAll * Float(Int32(q3Scale(isc, scales)) - 32)
                        isc += 1
                        for l in 0..<16 {
                            let lo = Int32((q.load(fromByteOffset: 16 * half + l, as: UInt8.self) >> shift) & 3)
                            let h: Int32 = hm.load(fromByteOffset: 16 * half + l, as: UInt8.self) & m != 0 ? 0 : 4
                            y[l] = dl * Float(lo - h)
                        }
                        y += 16
                    }
                    shift += 2
                    m <<= 1
                }
                q += 32
            }
        }
    }

    static func dequantizeQ8_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / superBlock) {
            let p = src + b * 292
            let d = Float(bitPattern: p.loadUnaligned(as: UInt32.self).littleEndian)
            let y = dst + b * superBlock
            for j in 0..<superBlock { y[j] = d * Float(p.load(fromByteOffset: 4 + j, as: Int8.self)) }
        }
    }
}

// MARK: - quantization helpers (ggml-quants.c: nearest_int, make_qx_quants, make_q3_quants, make_qkx2_quants)

extension KQuants {
    /// GROUP_MAX_EPS: below this a group's largest magnitude counts as all zero.
    static let groupMaxEps = Float(bitPattern: 0x2690_1d7d)  // 1e-15f

    /// Round to nearest (ties to even) by adding 1.5·2^23 and reading the mantissa, as ggml does; valid for
    /// |x| ≤ 4194303 (for other inputs it returns what the C code returns, without trapping).
    @inline(__always)
    static func nearestInt(_ fval: Float) -> Int32 {
        let val = fval + 12_582_912
        return Int32(bitPattern: val.bitPattern & 0x007f_ffff) &- 0x0040_0000
    }

    @inline(__always)
    static func clamp(_ v: Int32, _ lo: Int32, _ hi: Int32) -> Int32 { Swift.max(lo, Swift.min(hi, v)) }

    /// make_qx_quants: symmetric quants L in 0..<2·nmax (stored + nmax) for n values, returns the scale.
    /// rmseType 0 = plain rounding, 1 = x² weights with a search over 18 nearby scales (qw overrides weights).
    static func makeQxQuants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>,
                             _ rmseType: Int, _ qw: UnsafePointer<Float>?) -> Float {
        var max: Float = 0, amax: Float = 0
        for i in 0..<n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; max = x[i] }
        }
        if amax < groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        var iscale = Float(-nmax) / max
        if rmseType == 0 {
            for i in 0..<n {
                let l = nearestInt(iscale * x[i])
                L[i] = Int8(truncatingIfNeeded: nmax + clamp(l, -nmax, nmax - 1))
            }
            return 1 / iscale
        }
        var rmse = rmseType
        var returnEarly = false
        if rmse < 0 { rmse = -rmse; returnEarly = true }
        @inline(__always) func weight(_ i: Int) -> Float {
            if let qw { return qw[i] }
            switch rmse {
            case 1: return x[i] * x[i]
            case 2: return 1
            case 3: return abs(x[i])
            default: return abs(x[i]).squareRoot()
            }
        }
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            L[i] = Int8(truncatingIfNeeded: l + nmax)
            let w = weight(i), fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        var scale = suml2 != 0 ? sumlx / suml2 : 0
        if returnEarly { return suml2 > 0 ? 0.5 * (scale + 1 / iscale) : 1 / iscale }
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(step)) / max
            sumlx = 0
            suml2 = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
                let w = weight(i), fl = Float(l)
                sumlx += w * x[i] * fl
                suml2 += w * fl * fl
            }
            if suml2 > 0 && sumlx * sumlx > best * suml2 {
                for i in 0..<n {
                    let l = nearestInt(iscale * x[i])
                    L[i] = Int8(truncatingIfNeeded: nmax + clamp(l, -nmax, nmax - 1))
                }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// make_q3_quants: symmetric quants (stored + nmax) refined one value at a time (x² weights) when doRMSE.
    static func makeQ3Quants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>,
                             _ doRMSE: Bool) -> Float {
        var max: Float = 0, amax: Float = 0
        for i in 0..<n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; max = x[i] }
        }
        if amax < groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let iscale = Float(-nmax) / max
        if doRMSE {
            var sumlx: Float = 0, suml2: Float = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
                L[i] = Int8(truncatingIfNeeded: l)
                let w = x[i] * x[i], fl = Float(l)
                sumlx += w * x[i] * fl
                suml2 += w * fl * fl
            }
            for _ in 0..<5 {
                var nChanged = 0
                for i in 0..<n {
                    let w = x[i] * x[i]
                    let li = Float(L[i])
                    var slx = sumlx - w * x[i] * li
                    if slx > 0 {
                        var sl2 = suml2 - w * li * li
                        let newL = clamp(nearestInt(x[i] * sl2 / slx), -nmax, nmax - 1)
                        if newL != Int32(L[i]) {
                            let fl = Float(newL)
                            slx += w * x[i] * fl
                            sl2 += w * fl * fl
                            if sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                                L[i] = Int8(truncatingIfNeeded: newL)
                                sumlx = slx
                                suml2 = sl2
                                nChanged += 1
                            }
                        }
                    }
                }
                if nChanged == 0 { break }
            }
            for i in 0..<n { L[i] = Int8(truncatingIfNeeded: Int32(L[i]) + nmax) }
            return suml2 > 0 ? sumlx / suml2 : 0
        }
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            L[i] = Int8(truncatingIfNeeded: l + nmax)
        }
        return 1 / iscale
    }

    /// make_qkx2_quants: asymmetric quants L in 0...nmax with a min, searching nstep+1 scales for the lowest
    /// weighted error (absolute when useMAD, else squared). Returns the scale; theMin receives −min (≥ 0).
    /// The quantizers run the C version (CKernels/quant.c: the candidate scales in vector lanes), bit for bit this one.
    static func makeQkx2Quants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
                               _ L: UnsafeMutablePointer<UInt8>, _ theMin: inout Float, _ Laux: UnsafeMutablePointer<UInt8>,
                               _ rmin: Float, _ rdelta: Float, _ nstep: Int, _ useMAD: Bool) -> Float {
        llk_make_qkx2_quants(Int32(n), nmax, x, weights, L, &theMin, rmin, rdelta, Int32(nstep), useMAD ? 1 : 0)
    }

    static func makeQkx2QuantsReference(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
                                        _ L: UnsafeMutablePointer<UInt8>, _ theMin: inout Float, _ Laux: UnsafeMutablePointer<UInt8>,
                                        _ rmin: Float, _ rdelta: Float, _ nstep: Int, _ useMAD: Bool) -> Float {
        var min = x[0], max = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < min { min = x[i] }
            if x[i] > max { max = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if min > 0 { min = 0 }
        if max == min {
            for i in 0..<n { L[i] = 0 }
            theMin = -min
            return 0
        }
        var iscale = Float(nmax) / (max - min)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = nearestInt(iscale * (x[i] - min))
            L[i] = UInt8(truncatingIfNeeded: clamp(l, 0, nmax))
            var diff = scale * Float(L[i]) + min - x[i]
            diff = useMAD ? abs(diff) : diff * diff
            bestError += weights[i] * diff
        }
        if nstep < 1 {
            theMin = -min
            return scale
        }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (max - min)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * (x[i] - min)), 0, nmax)
                Laux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i], fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var curError: Float = 0
                for i in 0..<n {
                    var diff = thisScale * Float(Laux[i]) + thisMin - x[i]
                    diff = useMAD ? abs(diff) : diff * diff
                    curError += weights[i] * diff
                }
                if curError < bestError {
                    for i in 0..<n { L[i] = Laux[i] }
                    bestError = curError
                    scale = thisScale
                    min = thisMin
                }
            }
        }
        theMin = -min
        return scale
    }

    @inline(__always)
    static func storeHalf(_ f: Float, _ p: UnsafeMutableRawPointer, _ offset: Int) {
        p.storeBytes(of: floatToHalf(f).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    static func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        halfToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self).littleEndian)
    }
}

// MARK: - quantization (ggml's quantize_row_q2_K_ref … quantize_row_q8_K_ref)

extension KQuants {
    /// Quantizes `n` floats (a multiple of 256) to Q2_K: 84 bytes per 256 weights.
    static func quantizeQ2_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        let q4scale: Float = 15
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 16) { u8 in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 + 16 + 16) { f in
                let L = u8.baseAddress!, Laux = L + 256
                let weights = f.baseAddress!, mins = weights + 16, scales = mins + 16
                var x = src
                for b in 0..<(n / superBlock) {
                    let y = dst + b * 84
                    var maxScale: Float = 0, maxMin: Float = 0
                    for j in 0..<16 {
                        for l in 0..<16 { weights[l] = abs(x[16 * j + l]) }
                        scales[j] = makeQkx2Quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5, 0.1, 15, true)
                        if scales[j] > maxScale { maxScale = scales[j] }
                        if mins[j] > maxMin { maxMin = mins[j] }
                    }
                    if maxScale > 0 {
                        let iscale = q4scale / maxScale
                        for j in 0..<16 {
                            let l = nearestInt(iscale * scales[j])
                            y.storeBytes(of: UInt8(truncatingIfNeeded: l), toByteOffset: j, as: UInt8.self)
                        }
                        storeHalf(maxScale / q4scale, y, 80)
                    } else {
                        for j in 0..<16 { y.storeBytes(of: 0, toByteOffset: j, as: UInt8.self) }
                        storeHalf(0, y, 80)
                    }
                    if maxMin > 0 {
                        let iscale = q4scale / maxMin
                        for j in 0..<16 {
                            let l = nearestInt(iscale * mins[j])
                            let s = y.load(fromByteOffset: j, as: UInt8.self) | UInt8(truncatingIfNeeded: l << 4)
                            y.storeBytes(of: s, toByteOffset: j, as: UInt8.self)
                        }
                        storeHalf(maxMin / q4scale, y, 82)
                    } else {
                        storeHalf(0, y, 82)
                    }
                    let dAll = loadHalf(y, 80), dminAll = loadHalf(y, 82)
                    for j in 0..<16 {
                        let sc = y.load(fromByteOffset: j, as: UInt8.self)
                        let d = dAll * Float(sc & 0xf)
                        if d == 0 { continue }
                        let dm = dminAll * Float(sc >> 4)
                        for ii in 0..<16 {
                            let l = nearestInt((x[16 * j + ii] + dm) / d)
                            L[16 * j + ii] = UInt8(truncatingIfNeeded: clamp(l, 0, 3))
                        }
                    }
                    for j in stride(from: 0, to: 256, by: 128) {
                        for l in 0..<32 {
                            let q = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)
                            y.storeBytes(of: q, toByteOffset: 16 + j / 4 + l, as: UInt8.self)
                        }
                    }
                    x += superBlock
                }
            }
        }
    }

    /// Quantizes `n` floats (a multiple of 256) to Q3_K: 110 bytes per 256 weights.
    static func quantizeQ3_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { lbuf in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { sbuf in
                let L = lbuf.baseAddress!, scales = sbuf.baseAddress!
                var x = src
                for b in 0..<(n / superBlock) {
                    let y = dst + b * 110
                    let sc = y + 96
                    var maxScale: Float = 0, amax: Float = 0
                    for j in 0..<16 {
                        scales[j] = makeQ3Quants(16, 4, x + 16 * j, L + 16 * j, true)
                        let scale = abs(scales[j])
                        if scale > amax { amax = scale; maxScale = scales[j] }
                    }
                    for i in 0..<12 { sc.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
                    func orByte(_ i: Int, _ v: UInt8) {
                        sc.storeBytes(of: sc.load(fromByteOffset: i, as: UInt8.self) | v, toByteOffset: i, as: UInt8.self)
                    }
                    if maxScale != 0 {
                        let iscale = -32 / maxScale
                        for j in 0..<16 {
                            var l = Int8(truncatingIfNeeded: nearestInt(iscale * scales[j]))
                            l = Swift.max(-32, Swift.min(31, l)) + 32
                            let u = UInt8(bitPattern: l)
                            if j < 8 {
                                sc.storeBytes(of: u & 0xf, toByteOffset: j, as: UInt8.self)
                            } else {
                                orByte(j - 8, (u & 0xf) << 4)
                            }
                            orByte(j % 4 + 8, (u >> 4) << UInt8(2 * (j / 4)))
                        }
                        storeHalf(1 / iscale, y, 108)
                    } else {
                        storeHalf(0, y, 108)
                    }
                    let dAll = loadHalf(y, 108)
                    for j in 0..<16 {
                        let d = dAll * Float(Int32(q3Scale(j, sc)) - 32)
                        if d == 0 { continue }
                        for ii in 0..<16 {
                            let l = clamp(nearestInt(x[16 * j + ii] / d), -4, 3)
                            L[16 * j + ii] = Int8(truncatingIfNeeded: l + 4)
                        }
                    }
                    for i in 0..<32 { y.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
                    var m = 0
                    var hm: UInt8 = 1
                    for j in 0..<256 {
                        if L[j] > 3 {
                            y.storeBytes(of: y.load(fromByteOffset: m, as: UInt8.self) | hm, toByteOffset: m, as: UInt8.self)
                            L[j] -= 4
                        }
                        m += 1
                        if m == 32 { m = 0; hm <<= 1 }
                    }
                    for j in stride(from: 0, to: 256, by: 128) {
                        for l in 0..<32 {
                            func q(_ i: Int) -> UInt8 { UInt8(bitPattern: L[i]) }
                            let v = q(j + l) | (q(j + l + 32) << 2) | (q(j + l + 64) << 4) | (q(j + l + 96) << 6)
                            y.storeBytes(of: v, toByteOffset: 32 + j / 4 + l, as: UInt8.self)
                        }
                    }
                    x += superBlock
                }
            }
        }
    }

    /// Packs 8 six-bit scales and mins into Q4_K/Q5_K's 12-byte array at `s`.
    @inline(__always)
    static func packScaleMin(_ ls: UInt8, _ lm: UInt8, _ j: Int, _ s: UnsafeMutableRawPointer) {
        func or(_ i: Int, _ v: UInt8) {
            s.storeBytes(of: s.load(fromByteOffset: i, as: UInt8.self) | v, toByteOffset: i, as: UInt8.self)
        }
        if j < 4 {
            s.storeBytes(of: ls, toByteOffset: j, as: UInt8.self)
            s.storeBytes(of: lm, toByteOffset: j + 4, as: UInt8.self)
        } else {
            s.storeBytes(of: (ls & 0xf) | ((lm & 0xf) << 4), toByteOffset: j + 4, as: UInt8.self)
            or(j - 4, (ls >> 4) << 6)
            or(j, (lm >> 4) << 6)
        }
    }

    /// The shared body of quantize_row_q4_K_ref and quantize_row_q5_K_ref: per 32-weight sub-block an asymmetric
    /// fit with make_qkx2_quants, 6-bit scales and mins, then requantization of L (0...nmax) with the rounded
    /// scales. `pack` writes L into the block's quant bytes.
    @inline(__always)
    static func quantizeQ45_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int, blockBytes: Int,
                              nmax: Int32, rmin: Float, rdelta: Float, nstep: Int,
                              pack: (UnsafeMutablePointer<UInt8>, UnsafeMutableRawPointer) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 32) { u8 in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + 8 + 8) { f in
                let L = u8.baseAddress!, Laux = L + 256
                let weights = f.baseAddress!, mins = weights + 32, scales = mins + 8
                var x = src
                for b in 0..<(n / superBlock) {
                    let y = dst + b * blockBytes
                    var maxScale: Float = 0, maxMin: Float = 0
                    for j in 0..<8 {
                        var sumX2: Float = 0
                        for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
                        let avX = (sumX2 / 32).squareRoot()
                        for l in 0..<32 { weights[l] = avX + abs(x[32 * j + l]) }
                        scales[j] = makeQkx2Quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, false)
                        if scales[j] > maxScale { maxScale = scales[j] }
                        if mins[j] > maxMin { maxMin = mins[j] }
                    }
                    let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
                    let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
                    for j in 0..<8 {
                        let ls = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
                        let lm = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
                        packScaleMin(ls, lm, j, y + 4)
                    }
                    storeHalf(maxScale / 63, y, 0)
                    storeHalf(maxMin / 63, y, 2)
                    let dAll = loadHalf(y, 0), dminAll = loadHalf(y, 2)
                    for j in 0..<8 {
                        let (sc, m) = scaleMin(j, y + 4)
                        let d = dAll * Float(sc)
                        if d == 0 { continue }
                        let dm = dminAll * Float(m)
                        for ii in 0..<32 {
                            let l = nearestInt((x[32 * j + ii] + dm) / d)
                            L[32 * j + ii] = UInt8(truncatingIfNeeded: clamp(l, 0, nmax))
                        }
                    }
                    pack(L, y)
                    x += superBlock
                }
            }
        }
    }

    /// Quantizes `n` floats (a multiple of 256) to Q4_K: 144 bytes per 256 weights.
    static func quantizeQ4_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        quantizeQ45_K(src, dst, n, blockBytes: 144, nmax: 15, rmin: -1, rdelta: 0.1, nstep: 20) { L, y in
            for c in 0..<4 {
                for l in 0..<32 {
                    y.storeBytes(of: L[64 * c + l] | (L[64 * c + l + 32] << 4), toByteOffset: 16 + 32 * c + l, as: UInt8.self)
                }
            }
        }
    }

    /// Quantizes `n` floats (a multiple of 256) to Q5_K: 176 bytes per 256 weights.
    static func quantizeQ5_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        quantizeQ45_K(src, dst, n, blockBytes: 176, nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15) { L, y in
            let qh = y + 16, ql = y + 48
            for j in 0..<32 { qh.storeBytes(of: 0, toByteOffset: j, as: UInt8.self) }
            var m1: UInt8 = 1, m2: UInt8 = 2
            for c in 0..<4 {
                for j in 0..<32 {
                    var h = qh.load(fromByteOffset: j, as: UInt8.self)
                    var l1 = L[64 * c + j]
                    if l1 > 15 { l1 -= 16; h |= m1 }
                    var l2 = L[64 * c + j + 32]
                    if l2 > 15 { l2 -= 16; h |= m2 }
                    qh.storeBytes(of: h, toByteOffset: j, as: UInt8.self)
                    ql.storeBytes(of: l1 | (l2 << 4), toByteOffset: 32 * c + j, as: UInt8.self)
                }
                m1 <<= 2
                m2 <<= 2
            }
        }
    }

    /// Quantizes `n` floats (a multiple of 256) to Q6_K: 210 bytes per 256 weights.
    static func quantizeQ6_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { lbuf in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { sbuf in
                let L = lbuf.baseAddress!, scales = sbuf.baseAddress!
                var x = src
                for b in 0..<(n / superBlock) {
                    let y = dst + b * 210
                    var maxScale: Float = 0, maxAbsScale: Float = 0
                    for ib in 0..<16 {
                        // makeQxQuants(16, 32, x + 16 * ib, L + 16 * ib, 1, nil) in C (CKernels/quant.c)
                        let scale = llk_make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib)
                        scales[ib] = scale
                        let absScale = abs(scale)
                        if absScale > maxAbsScale { maxAbsScale = absScale; maxScale = scale }
                    }
                    if maxAbsScale < groupMaxEps {
                        y.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                        storeHalf(0, y, 208)
                        x += superBlock
                        continue
                    }
                    let iscale = -128 / maxScale
                    storeHalf(1 / iscale, y, 208)
                    for ib in 0..<16 {
                        let s = Int8(truncatingIfNeeded: Swift.min(127, nearestInt(iscale * scales[ib])))
                        y.storeBytes(of: s, toByteOffset: 192 + ib, as: Int8.self)
                    }
                    let dAll = loadHalf(y, 208)
                    for j in 0..<16 {
                        let d = dAll * Float(y.load(fromByteOffset: 192 + j, as: Int8.self))
                        if d == 0 { continue }
                        for ii in 0..<16 {
                            let l = clamp(nearestInt(x[16 * j + ii] / d), -32, 31)
                            L[16 * j + ii] = Int8(truncatingIfNeeded: l + 32)
                        }
                    }
                    for h in 0..<2 {
                        let j = 128 * h
                        for l in 0..<32 {
                            func q(_ i: Int) -> UInt8 { UInt8(bitPattern: L[i]) }
                            let q1 = q(j + l) & 0xf, q2 = q(j + l + 32) & 0xf
                            let q3 = q(j + l + 64) & 0xf, q4 = q(j + l + 96) & 0xf
                            y.storeBytes(of: q1 | (q3 << 4), toByteOffset: 64 * h + l, as: UInt8.self)
                            y.storeBytes(of: q2 | (q4 << 4), toByteOffset: 64 * h + l + 32, as: UInt8.self)
                            let hb = (q(j + l) >> 4) | ((q(j + l + 32) >> 4) << 2) | ((q(j + l + 64) >> 4) << 4)
                                | ((q(j + l + 96) >> 4) << 6)
                            y.storeBytes(of: hb, toByteOffset: 128 + 32 * h + l, as: UInt8.self)
                        }
                    }
                    x += superBlock
                }
            }
        }
    }

    /// Quantizes `n` floats (a multiple of 256) to Q8_K: 292 bytes per 256 weights. (ggml leaves bsums
    /// untouched for an all-zero block; here they are zeroed.)
    static func quantizeQ8_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        var x = src
        for b in 0..<(n / superBlock) {
            let y = dst + b * 292
            var max: Float = 0, amax: Float = 0
            for j in 0..<superBlock {
                let ax = abs(x[j])
                if ax > amax { amax = ax; max = x[j] }
            }
            if amax == 0 {
                (y).initializeMemory(as: UInt8.self, repeating: 0, count: 292)
                x += superBlock
                continue
            }
            let iscale = -127 / max
            for j in 0..<superBlock {
                let v = Swift.min(127, nearestInt(iscale * x[j]))
                y.storeBytes(of: Int8(truncatingIfNeeded: v), toByteOffset: 4 + j, as: Int8.self)
            }
            for j in 0..<16 {
                var sum: Int32 = 0
                for ii in 0..<16 { sum += Int32(y.load(fromByteOffset: 4 + 16 * j + ii, as: Int8.self)) }
                y.storeBytes(of: Int16(truncatingIfNeeded: sum).littleEndian, toByteOffset: 260 + 2 * j, as: Int16.self)
            }
            y.storeBytes(of: (1 / iscale).bitPattern.littleEndian, toByteOffset: 0, as: UInt32.self)
            x += superBlock
        }
    }
}
