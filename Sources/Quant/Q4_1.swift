// Q4_1: 32 weights in 20 bytes (5 bits per weight), with a minimum.
//   bytes 0..<2   d      f16 scale
//   bytes 2..<4   m      f16 minimum
//   bytes 4..<20  qs[16] nibbles: low nibble of qs[j] is weight j, high nibble is weight j+16
//   w = q × d + m
enum Q4_1 {
    static let blockSize = 32, blockBytes = 20

    static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let p = src + b * blockBytes
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let m = halfToFloat(p.loadUnaligned(fromByteOffset: 2, as: UInt16.self).littleEndian)
            let y = dst + b * blockSize
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
                y[j] = Float(q & 0x0f) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
        }
    }

    /// ggml's quantize_row_q4_1_ref: d = (max − min) / 15, m = min, q = min(15, trunc((x − min)/d + 0.5)).
    static func quantize(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let v = x + b * blockSize, p = dst + b * blockBytes
            let (lo, hi) = blockMinMax(v, blockSize)
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            p.storeBytes(of: floatToHalf(lo).littleEndian, toByteOffset: 2, as: UInt16.self)
            for j in 0..<16 {
                let q0 = min(15, cInt8((v[j] - lo) * id + 0.5))
                let q1 = min(15, cInt8((v[j + 16] - lo) * id + 0.5))
                p.storeBytes(of: UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4, toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }
}
