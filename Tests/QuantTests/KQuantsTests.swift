// K-quant quantization against llama.cpp's own output (tiny-llama-*.gguf made by llama-quantize without an
// importance matrix), round trips, edge rows, and Q2_K/Q3_K/Q8_K dequantization against gguf-py values.
import Foundation
import Testing
import Formats
@testable import Quant

private enum KRef {
    /// The package root (two levels above this file's folder).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// llama.cpp's reference outputs: LLMKIT_REFERENCE, else ../shared/reference beside the package.
    static let reference = ProcessInfo.processInfo.environment["LLMKIT_REFERENCE"] ?? root + "/../shared/reference"
    static func quantFile(_ name: String) -> String { reference + "/quant/tiny-llama-\(name).gguf" }
    /// LLMKIT_KQUANT_FULL=1 compares every row; otherwise a fixed sample of rows per tensor (debug builds are slow).
    static let full = ProcessInfo.processInfo.environment["LLMKIT_KQUANT_FULL"] == "1"

    /// The K-quant quantizer for `t` (the table Quantize dispatches through).
    static func quantizer(_ t: GGMLType) -> ((UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void)? {
        Quantize.kquant(t)
    }

    static func quantize(_ t: GGMLType, _ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0xAA, count: x.count / 256 * t.typeSize)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { quantizer(t)!(src.baseAddress!, $0.baseAddress!, x.count) }
        }
        return out
    }

    static func dequantize(_ t: GGMLType, _ q: [UInt8]) throws -> [Float] {
        try q.withUnsafeBytes { try Dequantize.tensor(t, $0) }
    }
}

@Suite struct KQuantsTests {
    static let kTypes: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K]

    /// Every K-quant tensor of every reference mix, quantized from the F16 source row by row, byte for byte.
    @Test(arguments: ["Q2_K", "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K"])
    func matchesLlamaQuantize(mix: String) throws {
        let src = try GGUFFile(path: KRef.quantFile("f16"))
        let ref = try GGUFFile(path: KRef.quantFile(mix))
        var compared: [String: Int] = [:], differing: [String: Int] = [:]
        var firstDiff: [String] = []
        for t in ref.tensors {
            guard let quantize = KRef.quantizer(t.type) else { continue }
            let s = try #require(src.tensor(named: t.name))
            #expect(s.type == .f16 && s.dims == t.dims)
            let raw = src.data(of: s), want = ref.data(of: t)
            let n = t.rowLength, rowBytes = n / 256 * t.type.typeSize
            // a sample: the first rows, the last row and a stride through the rest (all rows when full)
            let rows = KRef.full ? Array(0..<t.rowCount)
                : Array(Set(Array(0..<4) + [t.rowCount - 1] + Array(stride(from: 5, to: t.rowCount, by: 31)))).sorted()
            var x = [Float](repeating: 0, count: n), out = [UInt8](repeating: 0, count: rowBytes)
            for r in rows {
                for i in 0..<n { x[i] = halfToFloat(raw.loadUnaligned(fromByteOffset: 2 * (r * n + i), as: UInt16.self).littleEndian) }
                x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBytes { quantize(xp.baseAddress!, $0.baseAddress!, n) } }
                for b in 0..<(n / 256) {
                    compared[t.type.name, default: 0] += 1
                    let o = r * rowBytes + b * t.type.typeSize
                    if !(0..<t.type.typeSize).allSatisfy({ out[b * t.type.typeSize + $0] == want[o + $0] }) {
                        differing[t.type.name, default: 0] += 1
                        if firstDiff.count < 5 { firstDiff.append("\(t.name) row \(r) block \(b)") }
                    }
                }
            }
        }
        let summary = compared.keys.sorted().map { "\($0): \(differing[$0] ?? 0)/\(compared[$0]!) blocks differ" }
        print("tiny-llama-\(mix): " + summary.joined(separator: ", "))
        #expect(!compared.isEmpty)
        #expect(differing.isEmpty, "\(mix): \(summary) first: \(firstDiff)")
    }

    /// ggml's constants and nearest_int (round half to even via the 1.5·2^23 trick).
    @Test func helpers() {
        #expect(KQuants.groupMaxEps == 1e-15 as Float)
        #expect((0.1 as Float).bitPattern == 0x3dcc_cccd)
        let cases: [(Float, Int32)] = [(0, 0), (-0.0, 0), (0.5, 0), (1.5, 2), (2.5, 2), (-2.5, -2), (-3.5, -4), (0.49999997, 0),
                                       (7.4, 7), (-7.6, -8), (4_194_303, 4_194_303), (-4_194_303, -4_194_303)]
        for (f, want) in cases { #expect(KQuants.nearestInt(f) == want, "\(f)") }
        _ = KQuants.nearestInt(.nan)  // garbage like the C code, but no trap
        _ = KQuants.nearestInt(.infinity)
        _ = KQuants.nearestInt(1e30)
    }

    /// gguf-py's dequantization of reference tensors (FNV-1a 64 of the float bits, and a few values).
    @Test(arguments: [
        ("Q2_K", "blk.0.attn_k.weight", GGMLType.q2_K, 0x397f_2737_acc3_a869 as UInt64, [Float(-1.52587890625e-05), -1.52587890625e-05, -1.52587890625e-05, 0.0713958740234375]),
        ("Q2_K", "blk.0.attn_v.weight", .q3_K, 0x52ce_ddb6_4981_bd5f, [0.009598731994628906, -0.02879619598388672, -0.009598731994628906, -0.0]),
        ("Q3_K_M", "blk.1.attn_k.weight", .q3_K, 0x7a10_3db8_3baf_8c00, [-0.062470436096191406, 0.0, 0.02082347869873047, 0.02082347869873047]),
        ("Q4_K_M", "blk.0.attn_k.weight", .q4_K, 0x5680_01b2_8412_e412, [-0.0075092315673828125, 0.031095504760742188, -0.0075092315673828125, 0.05039787292480469]),
        ("Q5_K_M", "blk.0.attn_k.weight", .q5_K, 0x5943_4363_db63_c14e, [-0.00070953369140625, 0.025709152221679688, -0.018321990966796875, 0.052127838134765625]),
        ("Q6_K", "blk.0.attn_k.weight", .q6_K, 0x5840_6c98_de38_04e9, [-0.0045185089111328125, 0.022592544555664062, -0.01807403564453125, 0.04970359802246094]),
    ])
    func dequantizeMatchesGGUFPy(mix: String, name: String, type: GGMLType, hash: UInt64, first: [Float]) throws {
        let g = try GGUFFile(path: KRef.quantFile(mix))
        let t = try #require(g.tensor(named: name))
        #expect(t.type == type)
        let y = try Dequantize.tensor(t.type, g.data(of: t))
        #expect(y.count == t.elementCount)
        #expect(Array(y.prefix(4)).map(\.bitPattern) == first.map(\.bitPattern))
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in y {
            for k in 0..<4 { h ^= UInt64((v.bitPattern >> (8 * k)) & 0xff); h = h &* 0x100_0000_01b3 }
        }
        #expect(h == hash, "\(mix) \(name)")
    }

    /// Q8_K's layout by hand: d f32, 256 int8, 16 int16 sums (which dequantization ignores).
    @Test func q8_KBlock() throws {
        var block = [UInt8]()
        withUnsafeBytes(of: Float(0.5).bitPattern.littleEndian) { block += $0 }
        block += (0..<256).map { UInt8(truncatingIfNeeded: $0 - 128) }
        block += [UInt8](repeating: 0x55, count: 32)
        let y = try KRef.dequantize(.q8_K, block)
        #expect(y == (0..<256).map { Float($0 - 128) * 0.5 })
        #expect(Dequantize.supports(.q8_K) && Dequantize.supports(.q2_K) && Dequantize.supports(.q3_K))

        var x = [Float](repeating: 0, count: 256)
        for j in 0..<256 { x[j] = Float(j % 16) - 5 }
        x[7] = -40  // the largest magnitude is negative: d = 40/127 with q = −127 there
        let q = KRef.quantize(.q8_K, x)
        let d = q.withUnsafeBytes { Float(bitPattern: $0.loadUnaligned(as: UInt32.self).littleEndian) }
        #expect(d == 1 / (-127 / Float(-40)))
        let qs = q[4..<260].map { Int8(bitPattern: $0) }
        #expect(qs[7] == -127)
        for j in 0..<16 {
            let sum = q.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 260 + 2 * j, as: Int16.self).littleEndian }
            #expect(Int(sum) == qs[(16 * j)..<(16 * j + 16)].reduce(0) { $0 + Int($1) })
        }
    }

    /// Random heavy-tailed rows: quantize → dequantize stays within each type's usual error, and requantizing
    /// the row gives the same bytes (the functions are pure).
    @Test(arguments: KQuantsTests.kTypes)
    func roundTrip(type: GGMLType) throws {
        var rng = TestRng(s: 0x9e37_79b9_7f4a_7c15 ^ UInt64(type.id))
        let n = 8 * 256
        var x = (0..<n).map { _ in rng.normal() * 0.02 }
        for _ in 0..<6 { x[Int(rng.next() % UInt64(n))] *= 25 }  // outliers
        let q = KRef.quantize(type, x)
        #expect(q.count == n / 256 * type.typeSize)
        #expect(KRef.quantize(type, x) == q)
        let y = try KRef.dequantize(type, q)
        var err: Double = 0, pow: Double = 0
        for i in 0..<n { err += Double((y[i] - x[i]) * (y[i] - x[i])); pow += Double(x[i] * x[i]) }
        let rel = (err / pow).squareRoot()
        let bound: [String: Double] = ["Q2_K": 0.30, "Q3_K": 0.17, "Q4_K": 0.11, "Q5_K": 0.06, "Q6_K": 0.03, "Q8_K": 0.04]
        print("\(type.name) round trip: relative RMS error \(rel)")
        #expect(rel < bound[type.name]!, "\(type.name) \(rel)")
        #expect(y.allSatisfy { $0.isFinite })
    }

    /// All-zero rows give all-zero blocks; one huge value survives; tiny values do not turn into NaN or inf.
    @Test(arguments: KQuantsTests.kTypes)
    func edgeRows(type: GGMLType) throws {
        let zeros = [Float](repeating: 0, count: 512)
        let qz = KRef.quantize(type, zeros)
        #expect(qz.allSatisfy { $0 == 0 }, "\(type.name) zeros")
        #expect(try KRef.dequantize(type, qz).allSatisfy { $0 == 0 })

        var rng = TestRng(s: 42)
        var spike = (0..<512).map { _ in rng.normal() * 0.01 }
        spike[300] = 3000
        let ys = try KRef.dequantize(type, KRef.quantize(type, spike))
        #expect(ys.allSatisfy { $0.isFinite }, "\(type.name) spike")
        #expect(abs(ys[300] - 3000) < 3000 * 0.02, "\(type.name) spike \(ys[300])")
        // the other super-block is unaffected by the spike
        let other = try KRef.dequantize(type, KRef.quantize(type, Array(spike[0..<256])))
        #expect(Array(ys[0..<256]) == other)

        let negative = [Float](repeating: -0.25, count: 256)
        let yn = try KRef.dequantize(type, KRef.quantize(type, negative))
        #expect(yn.allSatisfy { abs($0 + 0.25) < 0.25 * 0.1 }, "\(type.name) constant \(yn[0])")

        for scale: Float in [1e-6, 1e-9, 1e-20] {
            let tiny = (0..<256).map { _ in rng.normal() * scale }
            let yt = try KRef.dequantize(type, KRef.quantize(type, tiny))
            #expect(yt.allSatisfy { $0.isFinite }, "\(type.name) tiny \(scale)")
            let maxAbs = tiny.map(abs).max()!
            #expect(yt.allSatisfy { abs($0) <= 2 * maxAbs }, "\(type.name) tiny \(scale)")
            if type == .q8_K {  // f32 scale: still accurate
                for i in 0..<256 { #expect(abs(yt[i] - tiny[i]) <= maxAbs / 127) }
            }
        }
    }
}
