// Malformed GGUF files: every truncation, bad magic/version, absurd counts and lengths, bad types,
// bad/overlapping offsets, bad alignment — each must be a FormatError, never a crash or a hang —
// and seeded random mutations of real headers (tiny-llama from the reference set, and SmolLM2).
import Foundation
import Testing
@testable import Formats

/// A hand-built GGUF whose fields can be set to anything.
struct RawGGUF {
    var magic: UInt32 = 0x4655_4747
    var version: UInt32 = 3
    var tensorCount: UInt64? = nil
    var kvCount: UInt64? = nil
    var kvs: [(String, UInt32, (inout Bytes) -> Void)] = [
        ("general.architecture", 8, { $0.str("llama") }),
        ("arr", 9, { $0.u32(4); $0.u64(2); $0.u32(7); $0.u32(8) }),
    ]
    var tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64)] = [
        ("a", [4], 0, 0),
        ("b", [32, 2], 8, 32),
    ]
    var dataBytes = 32 + 68 + 28

    func build() -> [UInt8] {
        var b = Bytes()
        b.u32(magic); b.u32(version)
        b.u64(tensorCount ?? UInt64(tensors.count)); b.u64(kvCount ?? UInt64(kvs.count))
        for (k, t, w) in kvs { b.str(k); b.u32(t); w(&b) }
        for t in tensors {
            b.str(t.name); b.u32(UInt32(t.dims.count))
            for d in t.dims { b.u64(d) }
            b.u32(t.type); b.u64(t.offset)
        }
        b.pad(to: 32)
        b.b += [UInt8](repeating: 0x3c, count: dataBytes)
        return b.b
    }
}

@Suite struct MalformedGGUFTests {
    func expectFormatError(_ bytes: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try parseGGUF(bytes)
            Issue.record("accepted: \(what)", sourceLocation: sourceLocation)
        } catch is FormatError {
        } catch {
            Issue.record("wrong error type for \(what): \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func baselineIsValid() throws {
        let g = try parseGGUF(RawGGUF().build())
        #expect(g.tensors.map(\.name) == ["a", "b"])
        #expect(g.metadata["arr"] == .array(.uint32, [.uint32(7), .uint32(8)]))
    }

    @Test func everyTruncationIsATypedError() {
        let full = RawGGUF().build()
        let g = try! parseGGUF(full)
        let needed = g.dataOffset + g.tensors.map { $0.offset + $0.byteCount }.max()!
        for cut in 0..<needed {
            expectFormatError(Array(full[0..<cut]), "truncated at \(cut)")
        }
        // Cutting only the padding after the last tensor is still a complete file.
        #expect((try? parseGGUF(Array(full[0..<needed]))) != nil)
    }

    @Test func badMagicAndVersions() {
        var r = RawGGUF(); r.magic = 0x1234_5678
        expectFormatError(r.build(), "bad magic")
        for v: UInt32 in [0, 1, 4, 0x0300_0000] {
            var r = RawGGUF(); r.version = v
            expectFormatError(r.build(), "version \(v)")
        }
        var v2 = RawGGUF(); v2.version = 2
        #expect((try? parseGGUF(v2.build())) != nil)
        do { var r = RawGGUF(); r.version = 0x0300_0000; _ = try parseGGUF(r.build()) } catch let e as FormatError {
            #expect("\(e)".contains("big-endian"))
        } catch { Issue.record("\(error)") }
    }

    @Test func absurdCountsAndLengths() {
        for n: UInt64 in [3, 1 << 40, UInt64.max] {
            var r = RawGGUF(); r.tensorCount = n
            expectFormatError(r.build(), "tensor_count \(n)")
            var k = RawGGUF(); k.kvCount = n
            expectFormatError(k.build(), "kv_count \(n)")
        }
        var s = RawGGUF()
        s.kvs.append(("longstring", 8, { $0.u64(1 << 50); $0.b += Array("abc".utf8) }))
        expectFormatError(s.build(), "string length 2^50")
        var a = RawGGUF()
        a.kvs.append(("bigarray", 9, { $0.u32(10); $0.u64(1 << 61) }))
        expectFormatError(a.build(), "array count 2^61")
        var sa = RawGGUF()
        sa.kvs.append(("strarray", 9, { $0.u32(8); $0.u64(1_000_000); $0.str("x") }))
        expectFormatError(sa.build(), "string array count larger than the file")
        var key = RawGGUF()
        key.kvs.insert(("k", 8, { b in b.u64(UInt64.max) }), at: 0)
        expectFormatError(key.build(), "value length u64 max")
    }

    @Test func badValuesAndTypes() {
        var t = RawGGUF(); t.kvs.append(("x", 13, { $0.u32(0) }))
        expectFormatError(t.build(), "value type 13")
        var e = RawGGUF(); e.kvs.append(("x", 9, { $0.u32(99); $0.u64(1); $0.u32(0) }))
        expectFormatError(e.build(), "array element type 99")
        var b = RawGGUF(); b.kvs.append(("x", 7, { $0.u8(2) }))
        expectFormatError(b.build(), "bool 2")
        var u = RawGGUF(); u.kvs.append(("x", 8, { $0.u64(2); $0.u8(0xff); $0.u8(0xfe) }))
        expectFormatError(u.build(), "invalid UTF-8")
        var d = RawGGUF(); d.kvs.append(("arr", 4, { $0.u32(1) }))
        expectFormatError(d.build(), "duplicate key")
        var deep = RawGGUF()
        deep.kvs.append(("deep", 9, { b in for _ in 0..<20 { b.u32(9); b.u64(1) }; b.u32(4); b.u64(0) }))
        expectFormatError(deep.build(), "arrays nested 20 deep")
        for (v, ty) in [(UInt32(0), UInt32(4)), (3, 4), (32, 5), (64, 10)] {
            var al = RawGGUF(); al.kvs.append(("general.alignment", ty, { $0.u32(v); if ty == 10 { $0.u32(0) } }))
            expectFormatError(al.build(), "alignment \(v) type \(ty)")
        }
    }

    @Test func badTensorInfos() {
        func with(_ f: (inout RawGGUF) -> Void, _ what: String) {
            var r = RawGGUF(); f(&r); expectFormatError(r.build(), what)
        }
        with({ $0.tensors[0].dims = [1, 1, 1, 1, 1] }, "5 dims")
        with({ $0.tensors[0].type = 4 }, "retired type 4")
        with({ $0.tensors[0].type = 40_000 }, "type 40000")
        with({ $0.tensors[1].dims = [33, 2] }, "ne0 not a multiple of the block size")
        with({ $0.tensors[0].dims = [1 << 62, 1 << 62] }, "element count overflow")
        with({ $0.tensors[0].dims = [UInt64.max] }, "dim u64 max")
        with({ $0.tensors[1].offset = 16 }, "misaligned offset")
        with({ $0.tensors[1].offset = 1 << 20 }, "offset past the end")
        with({ $0.tensors[1].offset = UInt64.max - 31 }, "offset near u64 max")
        with({ $0.tensors[1].offset = 0 }, "overlapping tensors")
        with({ $0.tensors[1].name = "a" }, "duplicate tensor name")
        with({ $0.dataBytes = 40 }, "data section shorter than the tensors")
    }

    @Test func mutationsOfRealHeadersNeverCrash() throws {
        var files: [(String, Int)] = []
        if FileManager.default.fileExists(atPath: Paths.tinyLlamaF16) { files.append((Paths.tinyLlamaF16, 3000)) }
        if FileManager.default.fileExists(atPath: Paths.smollm2) { files.append((Paths.smollm2, 60)) }
        if files.isEmpty { files.append(("", 3000)) }
        var rng = SplitMix(seed: 0x5EED)
        var accepted = 0, rejected = 0
        for (path, count) in files {
            var bytes = path.isEmpty ? RawGGUF().build() : Array(FileManager.default.contents(atPath: path)!)
            let headerEnd = try bytes.withUnsafeBytes { try GGUFFile(MappedFile(borrowing: $0, name: path)).dataOffset }
            for _ in 0..<count {
                // Mutate a few header bytes in place (or cut the file), parse, then restore.
                var saved: [(Int, UInt8)] = []
                let kind = rng.next() % 4
                let n = 1 + Int(rng.next() % 8)
                for _ in 0..<n {
                    let i = Int(rng.next() % UInt64(headerEnd))
                    saved.append((i, bytes[i]))
                    switch kind {
                    case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes[i] ^= UInt8(1 << (rng.next() % 8))
                    case 2: bytes[i] = [0x00, 0xff, 0x7f, 0x80][Int(rng.next() % 4)]
                    default: bytes[i] = bytes[i] &+ 1
                    }
                }
                let cut = rng.next() % 8 == 0 ? Int(rng.next() % UInt64(bytes.count)) : bytes.count
                bytes.withUnsafeBytes { raw in
                    do {
                        let g = try GGUFFile(MappedFile(borrowing: UnsafeRawBufferPointer(rebasing: raw[0..<cut]), name: "mutant"))
                        // Whatever parses must be safe to use: every tensor view inside the buffer.
                        for t in g.tensors { precondition(g.dataOffset + t.offset + t.byteCount <= cut) }
                        accepted += 1
                    } catch is FormatError {
                        rejected += 1
                    } catch {
                        Issue.record("non-format error \(error)")
                    }
                }
                for (i, v) in saved.reversed() { bytes[i] = v }
            }
        }
        #expect(rejected > 0)
        #expect(accepted + rejected == files.reduce(0) { $0 + $1.1 })
    }
}

/// A small seeded generator (SplitMix64) so the fuzz cases are the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
