// safetensors: the reference writer's exact header bytes, round trips, sharded checkpoints through the
// index, and malformed files (each a FormatError).
import Foundation
import Testing
@testable import Formats

@Suite struct SafetensorsTests {
    func write(_ dir: String, _ name: String, _ specs: [SafetensorsTensorSpec], metadata: [String: String] = [:]) throws -> [UInt8] {
        try SafetensorsWriter.write(to: dir + "/" + name, tensors: specs, metadata: metadata) { i, sink in
            try sink.write(contentsOf: (0..<specs[i].byteCount).map { UInt8(truncatingIfNeeded: $0 + 7 * i) })
        }
        return Array(FileManager.default.contents(atPath: dir + "/" + name)!)
    }

    /// save_file({"b": f16[2], "a": f32[2,3]}, metadata={"format": "pt"}) from the Python package
    /// (research notes E): N = 144 with one space of padding, total 180 bytes.
    @Test func headerMatchesReferenceWriter() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let b = try write(dir, "x.safetensors", [.init(name: "b", dtype: .f16, shape: [2]), .init(name: "a", dtype: .f32, shape: [2, 3])],
                          metadata: ["format": "pt"])
        #expect(b.count == 180)
        #expect(Array(b[0..<8]) == [144, 0, 0, 0, 0, 0, 0, 0])
        let header = String(decoding: b[8..<152], as: UTF8.self)
        #expect(header == #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}} "#)
    }

    @Test func roundTripAllDtypes() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let specs = SafetensorsDType.all.enumerated().map { SafetensorsTensorSpec(name: "t\($0.offset)", dtype: $0.element, shape: [3, $0.offset % 3 + 1]) }
            + [.init(name: "scalar", dtype: .f32, shape: []), .init(name: "empty", dtype: .bf16, shape: [0, 4])]
        _ = try write(dir, "all.safetensors", specs, metadata: ["k": "v \"q\"", "format": "pt"])
        let f = try SafetensorsFile(path: dir + "/all.safetensors")
        #expect(f.metadata == ["k": "v \"q\"", "format": "pt"])
        #expect(f.tensors.count == specs.count)
        for (i, s) in specs.enumerated() {
            let t = try #require(f.tensor(named: s.name))
            #expect(t.dtype == s.dtype && t.shape == s.shape && t.byteCount == s.byteCount)
            #expect(Array(f.data(of: t)) == (0..<s.byteCount).map { UInt8(truncatingIfNeeded: $0 + 7 * i) })
        }
        // 8-byte aligned data start, as the reference pads the header.
        #expect(f.dataOffset % 8 == 0)
    }

    @Test func shardedCheckpointThroughIndex() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let specs = (0..<7).map { SafetensorsTensorSpec(name: "model.layers.\($0).w", dtype: .bf16, shape: [10, 10]) }
        let files = try SafetensorsWriter.writeCheckpoint(directory: dir, tensors: specs, maxShardBytes: 450) { i, sink in
            try sink.write(contentsOf: [UInt16](repeating: UInt16(i), count: 100))
        }
        #expect(files == ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                          "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"])
        let ck = try SafetensorsCheckpoint(directory: dir)
        #expect(ck.files.count == 4)
        #expect(Set(ck.names) == Set(specs.map(\.name)))
        let (f, t) = try #require(ck.tensor(named: "model.layers.5.w"))
        #expect(Array(f.data(of: t).bindMemory(to: UInt16.self)).allSatisfy { $0 == 5 })
        let index = try JSON.parseFile(dir + "/model.safetensors.index.json") as! [String: Any]
        #expect(JSON.int((index["metadata"] as! [String: Any])["total_size"]) == 1400)

        // An index that names a file outside the folder, or disagrees with the shards, is refused.
        let good = FileManager.default.contents(atPath: dir + "/model.safetensors.index.json")!
        let escaped = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"model-00001-of-00004.safetensors\"", with: "\"../x.safetensors\"")
        try escaped.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        #expect(throws: FormatError.self) { try SafetensorsCheckpoint(directory: dir) }
        let moved = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"model.layers.0.w\": \"model-00001-of-00004.safetensors\"", with: "\"model.layers.0.w\": \"model-00002-of-00004.safetensors\"")
        try moved.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        #expect(throws: FormatError.self) { try SafetensorsCheckpoint(directory: dir) }
    }

    @Test func shardSplittingFollowsHuggingFace() {
        let s = [100, 100, 300, 50, 600, 10].enumerated().map { SafetensorsTensorSpec(name: "t\($0.offset)", dtype: .u8, shape: [$0.element]) }
        #expect(SafetensorsWriter.shards(s, maxShardBytes: 250) == [[0, 1], [2], [3], [4], [5]])
        #expect(SafetensorsWriter.shards(s, maxShardBytes: 10_000) == [[0, 1, 2, 3, 4, 5]])
    }

    func file(header: String, data: Int, headerLength: UInt64? = nil) -> [UInt8] {
        var b = Bytes()
        b.u64(headerLength ?? UInt64(header.utf8.count))
        b.b += Array(header.utf8)
        b.b += [UInt8](repeating: 1, count: data)
        return b.b
    }

    func expectFormatError(_ bytes: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafetensorsFile(MappedFile(copying: bytes, name: "mem.safetensors"))
            Issue.record("accepted: \(what)", sourceLocation: sourceLocation)
        } catch is FormatError {
        } catch {
            Issue.record("wrong error for \(what): \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func malformedFiles() throws {
        let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        _ = try SafetensorsFile(MappedFile(copying: file(header: ok, data: 8), name: "ok"))
        let full = file(header: ok, data: 8)
        for cut in 0..<full.count { expectFormatError(Array(full[0..<cut]), "truncated at \(cut)") }
        expectFormatError(file(header: ok, data: 12), "trailing bytes not covered")
        expectFormatError(file(header: ok, data: 8, headerLength: 1 << 40), "header length 2^40")
        expectFormatError(file(header: ok, data: 8, headerLength: UInt64.max), "header length u64 max")
        expectFormatError(file(header: " " + ok, data: 8), "header not starting with {")
        expectFormatError(file(header: "{\"a\":", data: 0), "bad JSON")
        expectFormatError(file(header: "[1,2]", data: 0), "not an object")
        let cases: [(String, Int, String)] = [
            (#"{"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}"#, 8, "unknown dtype"),
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, 8, "negative dim"),
            (#"{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, 8, "fractional dim"),
            (#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, 8, "overflowing shape"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}"#, 12, "size mismatch"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, 8, "end before begin"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "hole at the start"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "overlap"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#, 16, "hole between"),
            (#"{"a":{"dtype":"F32","shape":[2]}}"#, 8, "missing offsets"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, 8, "one offset"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}}"#, 8, "offset u64 max"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":1}}"#, 8, "non-string metadata"),
            (#"{"a":7}"#, 0, "entry not an object"),
            (#"{"a":{"dtype":true,"shape":[2],"data_offsets":[0,8]}}"#, 8, "dtype not a string"),
            (#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, 4, "boolean dim"),
        ]
        for (h, n, what) in cases { expectFormatError(file(header: h, data: n), what) }
    }
}
