// Q5_0: 32 weights in 22 bytes (5.5 bits per weight), symmetric.
//   bytes 0..<2   d      f16 scale
//   bytes 2..<6   qh     u32 (LE): bit j is the 5th bit of weight j
//   bytes 6..<22  qs[16] low 4 bits: low nibble of qs[j] is weight j, high nibble is weight j+16
//   w = (q - 16) × d
enum Q5_0 {
    static let blockSize = 32, blockBytes = 22

    static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let p = src + b * blockBytes
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
            let y = dst + b * blockSize
            for j in 0..<16 {
                let q = UInt32(p.load(fromByteOffset: 6 + j, as: UInt8.self))
                let h0 = ((qh >> UInt32(j)) << 4) & 0x10
                let h1 = (qh >> UInt32(j + 12)) & 0x10
                y[j] = Float(Int32((q & 0x0f) | h0) - 16) * d
                y[j + 16] = Float(Int32((q >> 4) | h1) - 16) * d
            }
        }
    }

    /// ggml's quantize_row_q5_0_ref: d = (value of largest magnitude) / −16, q = min(31, trunc(x/d + 16.5)).
    static func quantize(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let v = x + b * blockSize, p = dst + b * blockBytes
            let (_, max) = blockAbsMax(v, blockSize)
            let d = max / -16
            let id: Float = d != 0 ? 1 / d : 0
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = UInt8(truncatingIfNeeded: min(31, cInt8(v[j] * id + 16.5)))
                let q1 = UInt8(truncatingIfNeeded: min(31, cInt8(v[j + 16] * id + 16.5)))
                p.storeBytes(of: (q0 & 0x0f) | (q1 & 0x0f) << 4, toByteOffset: 6 + j, as: UInt8.self)
                qh |= UInt32((q0 & 0x10) >> 4) << UInt32(j) | UInt32((q1 & 0x10) >> 4) << UInt32(j + 16)
            }
            p.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
    }
}
