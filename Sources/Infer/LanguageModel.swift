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

    /// Runs `tokens` at positions cache.count..<cache.count+tokens.count (the cache must have room) and
    /// returns the logits (vocabularySize floats per row, row-major) of the batch rows in `outputs`, in order.
    func forward(_ tokens: [Int], cache: KVCache, outputs: [Int], threads: Int) throws -> [Float]
}

extension LanguageModel {
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
        let f: GGUFFile
        do { f = try GGUFFile(path: path) } catch let e as FormatError { throw InferError.model(file: path, message: "\(e)") }
        try self.init(file: f)
    }

    /// The network of a GGUF, by `general.architecture`.
    public static func network(_ file: GGUFFile) throws -> any LanguageModel {
        let arch = file.metadata["general.architecture"]?.string ?? ""
        switch arch {
        case "llama": return try LlamaModel(file)
        case "gpt2": return try GPTModel(file)
        default:
            throw InferError.model(file: file.path, message: "architecture '\(arch)' is not supported (llmkit runs llama and gpt2)")
        }
    }

    public init(file: GGUFFile) throws {
        self.file = file
        network = try Model.network(file)
        tokenizer = try Tokenizers.load(metadata: file.metadata)
        chatTemplate = file.metadata["tokenizer.chat_template"]?.string
        guard tokenizer.vocabularySize <= network.vocabularySize else {
            throw InferError.model(file: file.path, message: "tokenizer has \(tokenizer.vocabularySize) tokens but the output layer only \(network.vocabularySize)")
        }
    }
}
