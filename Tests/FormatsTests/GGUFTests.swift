// GGUF reader/writer: round trips of every value type, deterministic bytes, atomic output, the type
// table, and the gguf-py worked example from the research notes byte for byte.
import Foundation
import Testing
@testable import Formats

@Suite struct GGUFTests {
    static func everyValue() -> GGUFMetadata {
        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        md["t.u8"] = .uint8(250)
        md["t.i8"] = .int8(-7)
        md["t.u16"] = .uint16(65000)
        md["t.i16"] = .int16(-32000)
        md["t.u32"] = .uint32(4_000_000_000)
        md["t.i32"] = .int32(-2_000_000_000)
        md["t.u64"] = .uint64(UInt64.max)
        md["t.i64"] = .int64(Int64.min)
        md["t.f32"] = .float32(1e-5)
        md["t.f64"] = .float64(-0.1)
        md["t.bool"] = .bool(true)
        md["t.str"] = .string("héllo ✓ \n\"quoted\"")
        md["t.empty"] = .string("")
        md["t.strings"] = .strings(["a", "", "Ġb c"])
        md["t.ints"] = .int32s([1, -2, 3])
        md["t.nested"] = .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.string, [.string("x")]), .array(.float32, [])])
        md["t.emptyarray"] = .array(.uint64, [])
        return md
    }

    @Test func roundTripEveryValueTypeAndTensorType() throws {
        let md = Self.everyValue()
        var tensors: [(String, GGMLType, [Int])] = []
        for t in GGMLType.all where t != .q8_K || true {
            tensors.append(("w.\(t.name)", t, [t.blockSize * 2, 3]))
        }
        tensors.append(("scalar", .f32, []))
        tensors.append(("four.d", .f16, [2, 3, 4, 5]))
        let bytes = try makeGGUF(md, tensors)
        let g = try parseGGUF(bytes)
        #expect(g.version == 3)
        #expect(g.metadata.count == md.count)
        for ((k1, v1), (k2, v2)) in zip(g.metadata, md) {
            #expect(k1 == k2)
            #expect(v1 == v2, "\(k1)")
        }
        #expect(g.tensors.count == tensors.count)
        for (info, t) in zip(g.tensors, tensors) {
            #expect(info.name == t.0 && info.type == t.1 && info.dims == t.2)
            #expect(info.offset % 32 == 0)
            let data = Array(g.data(of: info))
            let want = (0..<info.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ tensors.firstIndex { $0.0 == t.0 }!) }
            #expect(data == want)
        }
        // Deterministic: the same inputs give the same bytes.
        #expect(try makeGGUF(md, tensors) == bytes)
    }

    @Test func customAlignmentIsRecordedAndHonoured() throws {
        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        let bytes = try makeGGUF(md, [("a", .f32, [3]), ("b", .q8_0, [32])], alignment: 64)
        let g = try parseGGUF(bytes)
        #expect(g.alignment == 64)
        #expect(g.metadata["general.alignment"] == .uint32(64))
        #expect(g.dataOffset % 64 == 0)
        #expect(g.tensors.allSatisfy { $0.offset % 64 == 0 })
    }

    /// gguf-py's output for llama.block_count = 1 (plus the general.architecture it adds) and one F32
    /// tensor of numpy shape (2, 3): a 192-byte file, data at 0xA0 (research notes C.1, gguf 0.19.0).
    @Test func matchesGGUFPyWorkedExample() throws {
        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        md["llama.block_count"] = .uint32(1)
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try GGUFWriter(metadata: md, tensors: [try GGUFTensorSpec(name: "token_embd.weight", type: .f32, dims: [3, 2])])
        try w.write(to: dir + "/x.gguf") { _, sink in try sink.write(contentsOf: [Float](arrayLiteral: 0, 1, 2, 3, 4, 5)) }
        let b = Array(FileManager.default.contents(atPath: dir + "/x.gguf")!)
        try #require(b.count == 192)
        #expect(Array(b[0..<8]) == [0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0])
        #expect(b[0xA0..<0xA4] == [0, 0, 0, 0])
        #expect(b[0xA4..<0xA8] == [0, 0, 0x80, 0x3f])
    }

    @Test func typeTableMatchesGGML() {
        let sizes: [String: (Int, Int)] = [
            "F32": (1, 4), "F16": (1, 2), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24),
            "Q8_0": (32, 34), "Q8_1": (32, 36), "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144),
            "Q5_K": (256, 176), "Q6_K": (256, 210), "Q8_K": (256, 292), "IQ4_NL": (32, 18), "BF16": (1, 2),
            "TQ1_0": (256, 54), "MXFP4": (32, 17),
        ]
        for (name, (bs, ts)) in sizes {
            let t = GGMLType(name: name)!
            #expect(t.blockSize == bs && t.typeSize == ts, "\(name)")
        }
        #expect(GGMLType(id: 4) == nil && GGMLType(id: 5) == nil && GGMLType(id: 31) == nil && GGMLType(id: 1000) == nil)
        #expect(Set(GGMLType.all.map(\.id)).count == GGMLType.all.count)
        #expect(GGMLType.q4_0.byteCount(elements: 64) == 36)
        #expect(GGMLType.q4_0.byteCount(elements: 33) == nil)
        #expect(GGMLType.q4_0.bitsPerWeight == 4.5)
    }

    @Test func failedWriteLeavesNoFile() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        struct Boom: Error {}
        let w = try GGUFWriter(metadata: GGUFMetadata(), tensors: [try GGUFTensorSpec(name: "a", type: .f32, dims: [4])])
        #expect(throws: Boom.self) { try w.write(to: dir + "/out.gguf") { _, _ in throw Boom() } }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        // A producer that writes too little is an error too, and also leaves nothing.
        #expect(throws: FormatError.self) { try w.write(to: dir + "/out.gguf") { _, sink in try sink.write(contentsOf: [Float(1)]) } }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func writerRejectsBadSpecs() {
        #expect(throws: FormatError.self) { try GGUFTensorSpec(name: String(repeating: "x", count: 64), type: .f32, dims: [1]) }
        #expect(throws: FormatError.self) { try GGUFTensorSpec(name: "q", type: .q4_0, dims: [33, 2]) }
        #expect(throws: FormatError.self) { try GGUFTensorSpec(name: "q", type: .f32, dims: [1, 1, 1, 1, 1]) }
        #expect(throws: FormatError.self) {
            try GGUFWriter(metadata: GGUFMetadata(), tensors: [try GGUFTensorSpec(name: "a", type: .f32, dims: [1]),
                                                               try GGUFTensorSpec(name: "a", type: .f32, dims: [1])])
        }
    }

    @Test func readsTheRealSmolLM2Header() throws {
        guard FileManager.default.fileExists(atPath: Paths.smollm2) else { return }
        let g = try GGUFFile(path: Paths.smollm2)
        #expect(g.metadata["general.architecture"]?.string == "llama")
        #expect(g.metadata["llama.block_count"]?.int == 30)
        #expect(g.metadata["tokenizer.ggml.tokens"]?.array?.count == 49152)
        #expect(g.tensors.count == 272)
        #expect(g.tensor(named: "token_embd.weight")?.type == .q8_0)
        #expect(g.tensor(named: "token_embd.weight")?.dims == [576, 49152])
    }

    @Test func metadataKeepsOrderAndRemoves() {
        var md = GGUFMetadata()
        md["a"] = .uint8(1); md["b"] = .uint8(2); md["c"] = .uint8(3)
        md.remove("b")
        #expect(md.entries.map(\.key) == ["a", "c"])
        #expect(md["c"] == .uint8(3))
        md["a"] = .uint8(9)
        #expect(md.entries.map(\.key) == ["a", "c"] && md["a"] == .uint8(9))
    }
}
