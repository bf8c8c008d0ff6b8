// LanguageModel: what generation, perplexity and the server need from a model — run a batch of tokens through
// it (appending their keys/values to a cache) and return the logits of the rows asked for. Implementations:
// LlamaModel (Llama.swift) and GPTModel (GPT.swift). `Model.load` opens a GGUF (memory-mapped) and picks one
// by `general.architecture`, with the tokenizer and chat template from the same file.
import Formats
import Quant

public protocol LanguageModel: AnyObject, Sendable {
    var architecture: String { get }
    var vocabularySize: Int { get }
    /// The context length the model was trained for (`<arch>.context_length`).
    var trainedContextLength: Int { get }
    var layerCount: Int { get }
    var embeddingLength: Int { get }
    /// Keys/values per position per layer (kvHeads · headDim).
    var kvDim: Int { get }

    /// Runs several sequences in one pass over the weights (each sequence's tokens at positions
    /// cache.count..<cache.count+tokens.count of its own cache, which must have room; every row attends only to
    /// its own sequence) and returns, per sequence, the rows asked for in its `outputs`, in order: logits
    /// (vocabularySize floats per row) or the final hidden states after the output norm (embeddingLength floats
    /// per row). One sequence's rows get the arithmetic of a pass of that sequence alone wherever the weight
    /// type's batch kernels sum in the same order as its single-row kernels (Q4_0 and Q4_1 on x86).
    func forward(_ sequences: [SequenceInput], emit: ForwardOutput, threads: Int) throws -> [[Float]]

    /// The rotary embedding of the keys, for a context shift; nil when positions are learned (no shift possible).
    var rope: RoPE? { get }

    /// Whether a sequence's rows get exactly the same numbers in a forward pass shared with other sequences as in a
    /// pass of its own, whatever the batch (every matrix's kernels sum a row the same way in any batch).
    var batchInvariant: Bool { get }
}

/// One sequence's part of a forward pass.
public struct SequenceInput {
    public var tokens: [Int]
    public let cache: KVCache
    /// Rows of `tokens` whose outputs are returned.
    public var outputs: [Int]
    public init(tokens: [Int], cache: KVCache, outputs: [Int]) {
        self.tokens = tokens
        self.cache = cache
        self.outputs = outputs
    }
}

/// What a forward pass returns for its output rows.
public enum ForwardOutput: Sendable {
    case logits
    /// The hidden state after the final norm (what llama.cpp returns as embeddings before pooling).
    case hidden
}

extension LanguageModel {
    public var batchInvariant: Bool { false }

    /// Runs `tokens` at positions cache.count..<cache.count+tokens.count (the cache must have room) and
    /// returns the logits (vocabularySize floats per row, row-major) of the batch rows in `outputs`, in order.
    public func forward(_ tokens: [Int], cache: KVCache, outputs: [Int], threads: Int) throws -> [Float] {
        try forward([SequenceInput(tokens: tokens, cache: cache, outputs: outputs)], emit: .logits, threads: threads)[0]
    }


    public func makeCache(contextLength: Int, precision: KVCache.Precision = .f16) -> KVCache {
        KVCache(layers: layerCount, contextLength: contextLength, kvDim: kvDim, precision: precision)
    }
}

/// A loaded GGUF: the network, its tokenizer and its chat template.
public final class Model: @unchecked Sendable {
    public let file: GGUFFile
    public let network: any LanguageModel
    public let tokenizer: any Tokenizer
    public let chatTemplate: String?
    public var name: String { file.metadata["general.name"]?.string ?? file.path.split(separator: "/").last.map(String.init) ?? file.path }

    public convenience init(path: String) throws {
        try self.init(path: path, adapters: [])
    }

    /// A GGUF with LoRA adapters applied at inference: each matrix computes y = x·Wᵀ + Σ s·scale(rank)·(x·Aᵀ)·Bᵀ,
    /// s the user's multiplier (1 = as trained). Adapters are checked against the base as llama.cpp's loader does.
    public convenience init(path: String, adapters: [(adapter: LoRAAdapter, scale: Float)]) throws {
        let f: GGUFFile
        do { f = try GGUFFile(path: path) } catch let e as FormatError { throw InferError.model(file: path, message: "\(e)") }
        try self.init(file: f, adapters: adapters)
    }

    /// A GGUF with adapter files (PEFT folders or safetensors, GGUF LoRAs) read with the base's head counts.
    public convenience init(path: String, adapterFiles: [(path: String, scale: Float)]) throws {
        let f: GGUFFile
        do { f = try GGUFFile(path: path) } catch let e as FormatError { throw InferError.model(file: path, message: "\(e)") }
        let adapters = try adapterFiles.map { (adapter: try LoRAAdapter.read(path: $0.path, base: f), scale: $0.scale) }
        try self.init(file: f, adapters: adapters)
    }

    /// The network of a GGUF, by `general.architecture`.
    public static func network(_ file: GGUFFile, adapters: [(adapter: LoRAAdapter, scale: Float)] = []) throws -> any LanguageModel {
        let arch = file.metadata["general.architecture"]?.string ?? ""
        if !adapters.isEmpty && arch != "llama" {
            throw InferError.model(file: file.path, message: "LoRA adapters are supported on llama models only (this one is '\(arch)')")
        }
        switch arch {
        case "llama": return try LlamaModel(file, adapters: adapters)
        case "gpt2": return try GPTModel(file)
        default:
            throw InferError.model(file: file.path, message: "architecture '\(arch)' is not supported (llmkit runs llama and gpt2)")
        }
    }

    public convenience init(file: GGUFFile) throws { try self.init(file: file, adapters: []) }

    public init(file: GGUFFile, adapters: [(adapter: LoRAAdapter, scale: Float)]) throws {
        self.file = file
        network = try Model.network(file, adapters: adapters)
        tokenizer = try Tokenizers.load(metadata: file.metadata)
        chatTemplate = file.metadata["tokenizer.chat_template"]?.string
        guard tokenizer.vocabularySize <= network.vocabularySize else {
            throw InferError.model(file: file.path, message: "tokenizer has \(tokenizer.vocabularySize) tokens but the output layer only \(network.vocabularySize)")
        }
    }
}
