// Q8_1: 32 activations in 36 bytes (9 bits per value), symmetric, with the block's scaled sum. Only used as the
// activation side of Q4_1 / Q5_1 dot products (ggml's vec_dot_type for those), never stored in files.
//   bytes 0..<2   d      f16 scale
//   bytes 2..<4   s      f16 d × Σ qs (the sum of the quants times the scale, rounded once to f16)
//   bytes 4..<36  qs[32] int8
//   a = q × d
// The sum lets a dot with an offset weight type (w = q·d + m) add m·Σa for the whole block in one multiply.
enum Q8_1 {
    static let blockSize = 32, blockBytes = 36

    static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        Q8_0.dequantizeBlocks(src, dst, n, blockBytes: blockBytes, qsOffset: 4)
    }

    /// ggml's quantize_row_q8_1_ref: d = max|x| / 127, q = roundf(x/d) (halves away from zero),
    /// s = f16(Float(Σq) × d) with d the unrounded Float scale.
    static func quantize(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let p = dst + b * blockBytes
            let d = Q8_0.quantizeBlock(x + b * blockSize, into: p + 4)
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            var sum: Int32 = 0
            for j in 0..<blockSize { sum &+= Int32(p.load(fromByteOffset: 4 + j, as: Int8.self)) }
            p.storeBytes(of: floatToHalf(Float(sum) * d).littleEndian, toByteOffset: 2, as: UInt16.self)
        }
    }
}
