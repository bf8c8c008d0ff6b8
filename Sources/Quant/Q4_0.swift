// Q4_0: 32 weights in 18 bytes (4.5 bits per weight), symmetric.
//   bytes 0..<2   d      f16 scale
//   bytes 2..<18  qs[16] nibbles: low nibble of qs[j] is weight j, high nibble is weight j+16
//   w = (q - 8) × d
enum Q4_0 {
    static let blockSize = 32, blockBytes = 18

    /// Dequantizes `n` weights (a multiple of 32) from `src` into `dst`.
    static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let p = src + b * blockBytes
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let y = dst + b * blockSize
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
                y[j] = Float(Int(q & 0x0f) - 8) * d
                y[j + 16] = Float(Int(q >> 4) - 8) * d
            }
        }
    }

    /// ggml's quantize_row_q4_0_ref: d = (value of largest magnitude) / −8, q = min(15, trunc(x/d + 8.5)).
    static func quantize(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let v = x + b * blockSize, p = dst + b * blockBytes
            let (_, max) = blockAbsMax(v, blockSize)
            let d = max / -8
            let id: Float = d != 0 ? 1 / d : 0
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            for j in 0..<16 {
                let q0 = min(15, cInt8(v[j] * id + 8.5))
                let q1 = min(15, cInt8(v[j + 16] * id + 8.5))
                p.storeBytes(of: UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4, toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }
}
