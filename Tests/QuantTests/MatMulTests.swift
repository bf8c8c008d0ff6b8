// MatMul: matrix × vector and matrix × matrix for every weight type against the Double reference over the
// dequantized weights, on odd shapes (the error budget is the activation quantization, named per type).
import Testing
import Formats
@testable import Quant

@Suite struct MatMulTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// Relative error allowed: activations are quantized to 8 bits (Q8_*) or 16 bits (F16/BF16) first.
    static func tolerance(_ t: GGMLType) -> Double {
        switch t {
        case .f32: 1e-5
        case .f16: 2e-3
        case .bf16: 8e-3
        default: 8e-3
        }
    }

    @Test(arguments: types)
    func matchesReference(type: GGMLType) throws {
        for (rows, cols, batch) in [(1, type.blockSize == 256 ? 256 : 64, 1), (17, 512, 1), (33, 256, 3), (5, 768, 9), (7, 256, 40)] {
            var x: UInt64 = 0x1234 &+ UInt64(rows * cols)
            func r() -> Float { x = x &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: x) >> 40) / Float(1 << 23) }
            let stride = type.byteCount(elements: cols)!
            var w = [UInt8](repeating: 0, count: rows * stride)
            let wf = (0..<(rows * cols)).map { _ in r() }
            try w.withUnsafeMutableBytes { wb in
                try wf.withUnsafeBufferPointer { for i in 0..<rows { try Quantize.row(type, $0.baseAddress! + i * cols, wb.baseAddress! + i * stride, cols) } }
            }
            let xs = (0..<(batch * cols)).map { _ in r() }
            var got = [Float](repeating: 0, count: batch * rows), want = got
            w.withUnsafeBytes { wb in
                MatMul.matmul(type, wb.baseAddress!, rows: rows, cols: cols, x: xs, batch: batch, y: &got, threads: 2)
            }
            try w.withUnsafeBytes { wb in try MatMul.reference(type, wb.baseAddress!, rows: rows, cols: cols, x: xs, batch: batch, y: &want) }
            // scale: Σ|w·x| per output, so the tolerance is relative to the size of the terms
            for b in 0..<batch {
                for i in 0..<rows {
                    var mag: Double = 0
                    var deq = [Float](repeating: 0, count: cols)
                    try w.withUnsafeBytes { wb in try deq.withUnsafeMutableBufferPointer { try Dequantize.row(type, wb.baseAddress! + i * stride, $0.baseAddress!, cols) } }
                    for c in 0..<cols { mag += abs(Double(deq[c]) * Double(xs[b * cols + c])) }
                    let err = abs(Double(got[b * rows + i]) - Double(want[b * rows + i]))
                    #expect(err <= Self.tolerance(type) * max(mag, 1e-30), "\(type) \(rows)×\(cols) batch \(batch): y[\(b),\(i)] = \(got[b * rows + i]) vs \(want[b * rows + i])")
                }
            }
            if batch == 1 {
                var v = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { MatMul.matvec(type, $0.baseAddress!, rows: rows, cols: cols, x: xs, y: &v, threads: 2) }
                #expect(v == Array(got[0..<rows]))
            }
        }
    }
}
