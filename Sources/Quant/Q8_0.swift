// Q8_0: 32 weights in 34 bytes (8.5 bits per weight), symmetric.
//   bytes 0..<2   d      f16 scale
//   bytes 2..<34  qs[32] int8
//   w = q × d
enum Q8_0 {
    static let blockSize = 32, blockBytes = 34

    static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / blockSize) {
            let p = src + b * blockBytes
            let d = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            let y = dst + b * blockSize
            for j in 0..<32 {
                y[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d
            }
        }
    }
}
