// llmkit merge: a base GGUF and a LoRA adapter folded into one GGUF (W' = W + s·scale·B·A), streamed per tensor.
import ArgumentParser
import Foundation
import Formats
import Quant

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge a LoRA adapter into its base model, writing a new GGUF.",
        discussion: """
            ADAPTER is a PEFT folder (adapter_config.json + adapter_model.safetensors) or a GGUF LoRA. Without --type \
            every tensor keeps the base's type (adapted matrices are dequantized, updated and quantized again); with \
            --type the whole model is written in that mix, per llama.cpp's recipe (\(LlamaFileType.allCases.map { $0.name.lowercased() }.joined(separator: " "))).
            """)

    @Argument(help: "Base GGUF model.") var base: String
    @Argument(help: "LoRA adapter (PEFT folder or GGUF LoRA).") var adapter: String
    @Option(name: [.customShort("o"), .long], help: "Output GGUF.") var output: String
    @Option(help: "Output mix, e.g. q4_k_m, q8_0, f16 (default: the base's types).") var type: String?
    @Option(help: "Multiplier of the adapter's update (1: as trained).") var scale: Float = 1
    @Option(help: "Worker threads.") var threads = Convert.defaultThreads
    @Flag(help: "No per-tensor progress.") var quiet = false

    func run() throws {
        var ft: LlamaFileType? = nil
        if let type {
            guard let t = LlamaFileType(name: type) else {
                throw ValidationError("unknown --type \(type); one of \(LlamaFileType.allCases.map { $0.name.lowercased() }.joined(separator: ", "))")
            }
            ft = t
        }
        guard scale.isFinite else { throw ValidationError("--scale must be finite") }
        let start = Date()
        do {
            let g = try GGUFFile(path: base)
            let ad = try LoRAAdapter.read(path: adapter, base: g)
            let plan = try AdapterMerge.merge(base: base, adapters: [(ad, scale)], output: output, fileType: ft,
                                              threads: max(1, threads), log: quiet ? { _ in } : { print($0) })
            print(String(format: "merged %d of %d tensors (rank %@) into %@ in %.2f s", plan.filter(\.merged).count, plan.count,
                         Set(ad.pairs.values.map(\.rank)).sorted().map(String.init).joined(separator: "/"), output, Date().timeIntervalSince(start)))
        } catch { fail(error) }
    }
}
