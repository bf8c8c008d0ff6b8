// llmkit convert: HF LlamaForCausalLM folder → GGUF, or GGUF → HF folder.
import ArgumentParser
import Foundation
import Formats
import Quant

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a Hugging Face Llama folder to GGUF, or a llama GGUF to a Hugging Face folder.",
        discussion: """
            HF_DIR → OUT.gguf: --type f16 (default), bf16 or f32 for 2-D weights; norms and 1-D tensors stay F32.
            MODEL.gguf → HF_DIR: --type sets the safetensors dtype; by default float tensors keep their type \
            and quantized tensors are dequantized to F32.
            """)

    @Argument(help: "A Hugging Face folder (config.json + safetensors) or a .gguf file.")
    var input: String

    @Option(name: .shortAndLong, help: "Output: a .gguf path, or a folder for GGUF → HF.")
    var output: String

    @Option(help: "Output float type: f32, f16 or bf16.")
    var type: String?

    @Option(help: "GGUF → HF: largest safetensors shard, e.g. 5GB, 500MB.")
    var shardSize = "5GB"

    @Option(help: "Worker threads.")
    var threads = Convert.defaultThreads

    @Flag(help: "No per-tensor progress.")
    var quiet = false

    func run() throws {
        var ft: FloatType? = nil
        if let type {
            guard let t = FloatType(rawValue: type.lowercased()) else {
                throw ValidationError("--type must be f32, f16 or bf16 (got \(type))")
            }
            ft = t
        }
        guard let shard = parseSize(shardSize) else { throw ValidationError("bad --shard-size \(shardSize)") }
        let log: (String) -> Void = { line in if !quiet || line.hasPrefix("warning:") { printErr(line) } }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
            fail(FormatError.io(path: input, operation: "open", message: "no such file or folder"))
        }
        var outIsDir: ObjCBool = false
        if isDir.boolValue, FileManager.default.fileExists(atPath: output, isDirectory: &outIsDir), outIsDir.boolValue {
            fail(FormatError.io(path: output, operation: "write", message: "is a folder; give the .gguf file to write"))
        }
        let start = Date()
        do {
            if isDir.boolValue {
                try Convert.huggingFaceToGGUF(directory: input, output: output, type: ft ?? .f16, threads: threads, log: log)
            } else {
                try Convert.ggufToHuggingFace(gguf: input, directory: output, type: ft, maxShardBytes: shard,
                                              threads: threads, log: log)
            }
        } catch {
            fail(error)
        }
        printErr(String(format: "converted %@ → %@ in %.1f s", input, output, Date().timeIntervalSince(start)))
    }
}

/// "5GB", "500MB", "1.5GiB", "1000" → bytes (decimal units as Hugging Face uses them; KiB/MiB/GiB binary).
func parseSize(_ s: String) -> Int? {
    let units: [(String, Double)] = [("KIB", 1024), ("MIB", 1_048_576), ("GIB", 1_073_741_824), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("B", 1)]
    let u = s.uppercased().trimmingCharacters(in: .whitespaces)
    for (suffix, mult) in units where u.hasSuffix(suffix) {
        guard let v = Double(u.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v > 0 else { return nil }
        return Int(v * mult)
    }
    return Int(u).flatMap { $0 > 0 ? $0 : nil }
}
