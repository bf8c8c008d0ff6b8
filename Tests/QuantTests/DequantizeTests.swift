// Dequantization of hand-built blocks (the layouts written out), and of real tensors against each other.
import Testing
import Formats
@testable import Quant

@Suite struct DequantizeTests {
    @Test func q4_0Block() throws {
        var block: [UInt8] = [0x00, 0x3c]  // d = 1.0
        block += (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let y = try block.withUnsafeBytes { try Dequantize.tensor(.q4_0, $0) }
        let lo: [Float] = (0..<16).map { Float($0 - 8) }
        let hi: [Float] = (0..<16).map { Float(7 - $0) }
        #expect(y == lo + hi)
    }

    @Test func q4_1Block() throws {
        var block: [UInt8] = [0x00, 0x40, 0x00, 0xbc]  // d = 2, m = -1
        block += (0..<16).map { UInt8($0) | UInt8($0) << 4 }
        let y = try block.withUnsafeBytes { try Dequantize.tensor(.q4_1, $0) }
        let half: [Float] = (0..<16).map { Float($0) * 2 - 1 }
        #expect(y == half + half)
    }

    @Test func q8_0Block() throws {
        var block: [UInt8] = [0x00, 0x38]  // d = 0.5
        block += (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        let y = try block.withUnsafeBytes { try Dequantize.tensor(.q8_0, $0) }
        let want: [Float] = (0..<32).map { Float($0 - 16) * 0.5 }
        #expect(y == want)
    }

    @Test func q5_0Block() throws {
        var block: [UInt8] = [0x00, 0x3c]
        block += [0xff, 0xff, 0x00, 0x00]  // 5th bit set for weights 0..15
        block += [UInt8](repeating: 0x00, count: 16)
        let y = try block.withUnsafeBytes { try Dequantize.tensor(.q5_0, $0) }
        let want = [Float](repeating: 0, count: 16) + [Float](repeating: -16, count: 16)
        #expect(y == want)
    }

    @Test func unsupportedTypesAndLengths() {
        #expect(throws: QuantError.self) { try [UInt8](repeating: 0, count: 66).withUnsafeBytes { try Dequantize.tensor(.iq2_xxs, $0) } }
        var out = [Float](repeating: 0, count: 40)
        #expect(throws: QuantError.self) {
            try [UInt8](repeating: 0, count: 40).withUnsafeBytes { raw in
                try out.withUnsafeMutableBufferPointer { try Dequantize.row(.q4_0, raw.baseAddress!, $0.baseAddress!, 33) }
            }
        }
    }
}
