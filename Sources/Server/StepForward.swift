// StepForward: the one place the scheduler runs the network. A scheduler step hands it every active sequence's
// next token at once; today it answers with one single-sequence forward per sequence (same arithmetic as
// `llmkit run`, so a greedy request gives the same text whatever else is running). A batched forward — one pass
// over the weights for all rows, each row attending to its own KV cache — replaces the body of `decode` and
// nothing else: the scheduler already groups the rows.
import Infer

public struct StepForward: @unchecked Sendable {
    public let network: any LanguageModel
    public let threads: Int
    /// Prompt tokens per forward pass (llama.cpp's n_ubatch; Generator uses the same 512).
    public static let prefillChunk = 512

    public init(network: any LanguageModel, threads: Int) {
        self.network = network
        self.threads = threads
    }

    /// One chunk of one sequence's prompt, appended to its cache. Returns the last row's logits when `wantLogits`
    /// (the chunk that ends the prompt), else nothing.
    public func prefill(_ tokens: [Int], cache: KVCache, wantLogits: Bool) throws -> [Float] {
        try network.forward(tokens, cache: cache, outputs: wantLogits ? [tokens.count - 1] : [], threads: threads)
    }

    /// One new token per sequence, each appended to its own cache; one logits row (vocabularySize floats) per
    /// sequence, in the order given.
    public func decode(_ batch: [(token: Int, cache: KVCache)]) throws -> [[Float]] {
        try batch.map { try network.forward([$0.token], cache: $0.cache, outputs: [0], threads: threads) }
    }
}
