// Dequantize: any tensor type llmkit can read, turned into Float rows. The entry point for converters
// and tests; hot inference paths use the fused dot kernels instead.
import Formats

public enum QuantError: Error, CustomStringConvertible, Equatable {
    case unsupportedType(String, operation: String)
    case badLength(type: String, elements: Int, blockSize: Int)
    case nonFinite(tensor: String, row: Int, column: Int, value: Float)
    case requantize(tensor: String, from: String, to: String)

    public var description: String {
        switch self {
        case let .unsupportedType(t, op): "\(op) is not implemented for type \(t)"
        case let .badLength(t, n, b): "\(n) elements of \(t): not a multiple of its block size \(b)"
        case let .nonFinite(t, r, c, v): "tensor \(t) row \(r) column \(c) is \(v): cannot quantize non-finite values (llama.cpp refuses them too)"
        case let .requantize(t, f, to): "tensor \(t) is already \(f): requantizing it to \(to) loses quality; pass --allow-requantize to do it anyway"
        }
    }
}

public enum Dequantize {
    /// Types `row(_:_:_:_:)` can turn into Float.
    public static func supports(_ t: GGMLType) -> Bool {
        [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K].contains(t)
    }

    /// Dequantizes `n` elements of type `type` at `src` into `dst`. `n` must be a whole number of blocks.
    public static func row(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) throws {
        guard n % type.blockSize == 0 else {
            throw QuantError.badLength(type: type.name, elements: n, blockSize: type.blockSize)
        }
        switch type {
        case .f32: dst.update(from: src.assumingMemoryBound(to: Float.self), count: n)
        case .f16: convertHalfToFloat(src, dst, n)
        case .bf16: for i in 0..<n { dst[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q4_0: Q4_0.dequantize(src, dst, n)
        case .q4_1: Q4_1.dequantize(src, dst, n)
        case .q5_0: Q5_0.dequantize(src, dst, n)
        case .q5_1: Q5_1.dequantize(src, dst, n)
        case .q8_0: Q8_0.dequantize(src, dst, n)
        case .q2_K: KQuants.dequantizeQ2_K(src, dst, n)
        case .q3_K: KQuants.dequantizeQ3_K(src, dst, n)
        case .q4_K: KQuants.dequantizeQ4_K(src, dst, n)
        case .q5_K: KQuants.dequantizeQ5_K(src, dst, n)
        case .q6_K: KQuants.dequantizeQ6_K(src, dst, n)
        case .q8_K: KQuants.dequantizeQ8_K(src, dst, n)
        default: throw QuantError.unsupportedType(type.name, operation: "dequantization")
        }
    }

    /// A whole tensor's bytes as a new Float array.
    public static func tensor(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer) throws -> [Float] {
        let n = bytes.count / type.typeSize * type.blockSize
        if n == 0 { return [] }
        return try [Float](unsafeUninitializedCapacity: n) { buf, count in
            try row(type, bytes.baseAddress!, buf.baseAddress!, n)
            count = n
        }
    }
}
