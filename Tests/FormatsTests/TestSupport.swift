// Shared helpers for the Formats tests: temp folders, the shared reference files, small GGUF builders.
import Foundation
@testable import Formats

enum Paths {
    /// The package root (two levels above this file's folder).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    /// llama.cpp's reference outputs: LLMKIT_REFERENCE, else ../shared/reference beside the package.
    static let reference = ProcessInfo.processInfo.environment["LLMKIT_REFERENCE"] ?? root + "/../shared/reference"
    /// Test assets fetched from PyPI by scripts/setup.sh.
    static let assets = ProcessInfo.processInfo.environment["LLMKIT_ASSETS"] ?? root + "/.assets"
    static var smollm2: String { assets + "/SmolLM2-135M-Instruct.Q4_1.gguf" }
    static var tinyLlamaF16: String { reference + "/quant/tiny-llama-f16.gguf" }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "llmkit-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// Little-endian byte builder for hand-made (often malformed) files.
struct Bytes {
    var b: [UInt8] = []
    mutating func u8(_ v: UInt8) { b.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); b += Array(s.utf8) }
    mutating func pad(to a: Int) { while b.count % a != 0 { b.append(0) } }
}

/// Writes a GGUF with our writer and returns its bytes.
func makeGGUF(_ md: GGUFMetadata, _ tensors: [(String, GGMLType, [Int])], alignment: Int = 32) throws -> [UInt8] {
    let dir = Paths.tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let specs = try tensors.map { try GGUFTensorSpec(name: $0.0, type: $0.1, dims: $0.2) }
    let w = try GGUFWriter(metadata: md, tensors: specs, alignment: alignment)
    try w.write(to: dir + "/t.gguf") { i, sink in
        try sink.write(contentsOf: (0..<specs[i].byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
    }
    return Array(FileManager.default.contents(atPath: dir + "/t.gguf")!)
}

func parseGGUF(_ bytes: [UInt8], name: String = "mem.gguf") throws -> GGUFFile {
    try GGUFFile(MappedFile(copying: bytes, name: name))
}
