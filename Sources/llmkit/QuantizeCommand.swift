// llmkit quantize: a GGUF to another quantization mix, llama-quantize's recipe and bytes.
import ArgumentParser
import Foundation
import Formats
import Quant

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a GGUF model to another type mix (as llama-quantize does).",
        discussion: "TYPE: \(LlamaFileType.allCases.map { $0.name.lowercased() }.joined(separator: " ")). " +
            "Per-tensor types follow llama.cpp's recipe for the mix; --pure gives every quantizable tensor the base type.")

    @Argument(help: "Input GGUF, or a Hugging Face Llama folder (converted and quantized in one pass).") var input: String
    @Argument(help: "Output GGUF.") var output: String
    @Argument(help: "Target mix, e.g. q4_k_m.") var type: String
    @Option(help: "Worker threads.") var threads = Convert.defaultThreads
    @Flag(help: "Allow requantizing tensors that are already quantized.") var allowRequantize = false
    @Flag(help: "Leave output.weight as it is.") var leaveOutputTensor = false
    @Flag(help: "No mixing: every quantizable tensor gets the base type.") var pure = false
    @Flag(help: "No per-tensor progress.") var quiet = false
    @Flag(help: "Print each tensor's name and chosen type; write nothing.") var dryRun = false

    func run() throws {
        guard let ft = LlamaFileType(name: type) else {
            throw ValidationError("unknown TYPE \(type); one of \(LlamaFileType.allCases.map { $0.name.lowercased() }.joined(separator: ", "))")
        }
        var o = QuantizeOptions(fileType: ft)
        o.threads = max(1, threads)
        o.allowRequantize = allowRequantize
        o.leaveOutputTensor = leaveOutputTensor
        o.pure = pure
        let start = Date()
        if dryRun {
            do {
                for p in try ModelQuantizer.plan(try ModelQuantizer.source(input), o, checkSupport: false) { print(p.tensor.name, p.tensor.to.name) }
            } catch { fail(error) }
            return
        }
        do {
            let plan = try ModelQuantizer.quantize(input: input, output: output, options: o,
                                                   log: quiet ? { _ in } : { print($0) })
            let before = plan.reduce(0) { $0 + $1.bytesIn }, after = plan.reduce(0) { $0 + $1.bytesOut }
            print(String(format: "model size  = %8.2f MiB\nquant size  = %8.2f MiB (%@)\ntime        = %.2f s",
                         Double(before) / 1_048_576, Double(after) / 1_048_576, ft.name, Date().timeIntervalSince(start)))
        } catch {
            fail(error)
        }
    }
}
