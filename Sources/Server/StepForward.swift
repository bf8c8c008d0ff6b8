// StepForward: the one place the scheduler runs the network. A prompt chunk runs alone (the arithmetic of
// `llmkit run` on the same prompt); a decode step runs every active sequence's next token in one forward pass —
// one pass over the weights for all of them, each row attending to its own KV cache (continuous batching). For
// the weight types whose batch kernels sum in their single-row order (Q4_0, Q4_1 on x86) a sequence's tokens are
// then exactly those it gets alone; for the others they agree within float rounding.
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
    /// sequence, in the order given. A batch the model refuses as a whole (a sequence past its context, say) is
    /// retried one sequence at a time, so only the offending sequence fails.
    public func decode(_ batch: [(token: Int, cache: KVCache)]) -> [Result<[Float], any Error>] {
        let inputs = batch.map { SequenceInput(tokens: [$0.token], cache: $0.cache, outputs: [0]) }
        if let rows = try? network.forward(inputs, emit: .logits, threads: threads) { return rows.map { .success($0) } }
        return inputs.map { input in Result { try network.forward([input], emit: .logits, threads: threads)[0] } }
    }
}
