// Q8_0: 32 weights in 34 bytes (8.5 bits per weight), symmetric.
//   bytes 0..<2   d      f16 scale
//   bytes 2..<34  qs[32] int8
//   w = q × d
enum Q8_0 {
    static let blockSize = 32, blockBytes = 34

    static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        dequantizeBlocks(src, dst, n, blockBytes: blockBytes, qsOffset: 2)
    }

    /// Blocks of an f16 scale d at byte 0 and 32 int8 quants at `qsOffset`: w = q × d (Q8_0 and Q8_1).
    @inline(__always)
    static func dequantizeBlocks(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                                 blockBytes: Int, qsOffset: Int) {
        for b in 0..<(n / blockSize) {
            let p = src + b * blockBytes
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let y = dst + b * blockSize
            for j in 0..<32 {
                y[j] = Float(p.load(fromByteOffset: qsOffset + j, as: Int8.self)) * d
            }
        }
    }

    /// ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = roundf(x/d) (halves away from zero).
    static func quantize(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let p = dst + b * blockBytes
            let d = quantizeBlock(x + b * blockSize, into: p + 2)
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
        }
    }

    /// One block's 32 int8 quants written at `qs`; returns the Float scale d (also Q8_1's block body).
    @inline(__always)
    static func quantizeBlock(_ v: UnsafePointer<Float>, into qs: UnsafeMutableRawPointer) -> Float {
        var amax: Float = 0
        for j in 0..<blockSize { amax = Swift.max(amax, abs(v[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        for j in 0..<blockSize {
            qs.storeBytes(of: cInt8((v[j] * id).rounded(.toNearestOrAwayFromZero)), toByteOffset: j, as: Int8.self)
        }
        return d
    }
}
