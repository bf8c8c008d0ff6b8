// A reproducible generator for the Quant tests: xorshift64 → uniform, normal and heavy-tailed floats.
import Foundation

struct TestRng {
    var s: UInt64
    mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }  // [0, 1)
    mutating func normal() -> Float {
        let u1 = Swift.max(uniform(), 1e-7), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
    /// Normal, with one value in 64 an outlier of 10–30σ.
    mutating func heavy() -> Float {
        let v = normal()
        return next() % 64 == 0 ? v * (10 + 20 * uniform()) : v
    }
}
