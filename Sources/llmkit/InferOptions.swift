// Option groups shared by the commands that run a model (run, bench, perplexity, dev generate).
import ArgumentParser
import Foundation
import Infer
import Quant

struct ModelRuntimeOptions: ParsableArguments {
    @Option(name: [.customShort("t"), .long], help: "Threads (default: the core count).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("ctx"), help: "Context length in tokens (default: min(model's, 4096)).")
    var contextLength: Int?
    @Option(help: "KV cache type: f16 (default, as llama.cpp) or f32.")
    var cacheType = "f16"

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
        if let c = contextLength, c <= 0 { throw ValidationError("--ctx must be positive") }
        guard KVCache.Precision(rawValue: cacheType) != nil else { throw ValidationError("--cache-type must be f16 or f32") }
    }

    var precision: KVCache.Precision { KVCache.Precision(rawValue: cacheType) ?? .f16 }

    func context(for model: any LanguageModel) -> Int { contextLength ?? min(model.trainedContextLength, 4096) }
}

struct SamplingFlags: ParsableArguments {
    @Option(help: "Temperature; 0 is greedy.") var temperature: Float = 0.8
    @Option(help: "Keep the K most likely tokens (0: all).") var topK: Int = 40
    @Option(help: "Nucleus sampling mass.") var topP: Float = 0.9
    @Option(help: "Minimum probability relative to the top token.") var minP: Float = 0.0
    @Option(help: "Locally typical sampling mass (1: off).") var typicalP: Float = 1.0
    @Option(help: "Penalty for tokens among the last --repeat-last-n.") var repeatPenalty: Float = 1.1
    @Option(help: "Tokens the repeat penalty looks back over (-1: all).") var repeatLastN: Int = 64
    @Option(help: "Presence penalty.") var presencePenalty: Float = 0
    @Option(help: "Frequency penalty.") var frequencyPenalty: Float = 0
    @Option(help: "Random seed (default: random).") var seed: UInt64?
    @Option(name: [.customShort("n"), .customLong("num-predict")], help: "Tokens to generate at most (-1: no limit, shifting the context when it is full; -2: until the context is full).")
    var numPredict: Int = -1
    @Option(parsing: .singleValue, help: "Stop when this text is produced (repeatable).") var stop: [String] = []

    var options: SamplingOptions {
        var o = SamplingOptions()
        o.temperature = temperature
        o.topK = topK
        o.topP = topP
        o.minP = minP
        o.typicalP = typicalP
        o.repeatPenalty = repeatPenalty
        o.repeatLastN = repeatLastN
        o.presencePenalty = presencePenalty
        o.frequencyPenalty = frequencyPenalty
        o.seed = seed
        return o
    }
}

/// LoRA adapters applied at inference (llama.cpp's --lora / --lora-scaled).
struct AdapterOptions: ParsableArguments {
    @Option(name: .customLong("adapter"), parsing: .singleValue,
            help: "LoRA adapter: a PEFT folder (adapter_config.json + adapter_model.safetensors) or a GGUF LoRA (repeatable; adapters add up).")
    var adapters: [String] = []
    @Option(name: .customLong("adapter-scale"), parsing: .singleValue,
            help: "Multiplier of the adapter's update (1: as trained): one for all adapters, or one per --adapter in order.")
    var scales: [Float] = []

    func validate() throws {
        guard scales.isEmpty || scales.count == 1 || scales.count == adapters.count else {
            throw ValidationError("give one --adapter-scale for all adapters or one per --adapter (\(adapters.count))")
        }
        if !scales.isEmpty && adapters.isEmpty { throw ValidationError("--adapter-scale needs an --adapter") }
        if let s = scales.first(where: { !$0.isFinite }) { throw ValidationError("--adapter-scale \(s) must be finite") }
    }

    var files: [(path: String, scale: Float)] {
        adapters.enumerated().map { (i, p) in (p, scales.isEmpty ? 1 : scales.count == 1 ? scales[0] : scales[i]) }
    }
}

/// Opens a GGUF model (with adapters), turning load errors into one-line CLI failures.
func loadModel(_ path: String, adapters: AdapterOptions? = nil) -> Model {
    do { return try Model(path: path, adapterFiles: adapters?.files ?? []) } catch { fail(error) }
}
