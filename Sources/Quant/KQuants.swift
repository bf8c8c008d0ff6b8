// K-quants: super-blocks of 256 weights split into sub-blocks with 6- or 8-bit scales.
// Dequantization of Q4_K, Q5_K and Q6_K as ggml's dequantize_row_*; arithmetic in the same order so
// results are bit-identical. (Quantization and Q2_K/Q3_K arrive with the quantizer.)
//
// Q4_K, 144 bytes: d f16 | dmin f16 | scales[12] (8 × 6-bit scale + 8 × 6-bit min) | qs[128] nibbles
//   64-weight chunk c: weights 0..<32 from low nibbles of qs[32c..], 32..<64 from high nibbles,
//   w = d·sc(2c[+1]) × q − dmin·m(2c[+1])
// Q5_K, 176 bytes: d | dmin | scales[12] | qh[32] | qs[128]; chunk c's 5th bits are bits 2c and 2c+1 of qh
// Q6_K, 210 bytes: ql[128] | qh[64] | scales[16] int8 | d f16; 16 sub-blocks of 16, q in 0..<64, w = d·sc × (q − 32)
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
