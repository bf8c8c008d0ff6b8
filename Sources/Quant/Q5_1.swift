// Q5_1: 32 weights in 24 bytes (6 bits per weight), with a minimum.
//   bytes 0..<2   d      f16 scale
//   bytes 2..<4   m      f16 minimum
//   bytes 4..<8   qh     u32 (LE): bit j is the 5th bit of weight j
//   bytes 8..<24  qs[16] low 4 bits: low nibble of qs[j] is weight j, high nibble is weight j+16
//   w = q × d + m
enum Q5_1 {
    static let blockSize = 32, blockBytes = 24

    static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let p = src + b * blockBytes
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let m = halfToFloat(p.loadUnaligned(fromByteOffset: 2, as: UInt16.self).littleEndian)
            let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
            let y = dst + b * blockSize
            for j in 0..<16 {
                let q = UInt32(p.load(fromByteOffset: 8 + j, as: UInt8.self))
                let h0 = ((qh >> UInt32(j)) << 4) & 0x10
                let h1 = (qh >> UInt32(j + 12)) & 0x10
                y[j] = Float((q & 0x0f) | h0) * d + m
                y[j + 16] = Float((q >> 4) | h1) * d + m
            }
        }
    }

    /// ggml's quantize_row_q5_1_ref: d = (max − min) / 31, m = min, q = trunc((x − min)/d + 0.5).
    static func quantize(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let v = x + b * blockSize, p = dst + b * blockBytes
            let (lo, hi) = blockMinMax(v, blockSize)
            let d = (hi - lo) / 31
            let id: Float = d != 0 ? 1 / d : 0
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            p.storeBytes(of: floatToHalf(lo).littleEndian, toByteOffset: 2, as: UInt16.self)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = UInt8(truncatingIfNeeded: min(31, cInt8((v[j] - lo) * id + 0.5)))
                let q1 = UInt8(truncatingIfNeeded: min(31, cInt8((v[j + 16] - lo) * id + 0.5)))
                p.storeBytes(of: (q0 & 0x0f) | (q1 & 0x0f) << 4, toByteOffset: 8 + j, as: UInt8.self)
                qh |= UInt32((q0 & 0x10) >> 4) << UInt32(j) | UInt32((q1 & 0x10) >> 4) << UInt32(j + 16)
            }
            p.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }
}
