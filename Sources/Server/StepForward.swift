// StepForward: the one place the scheduler runs the network. A prompt chunk gets the arithmetic of `llmkit run` on
// the same prompt: alone, or sharing a pass with other prompts where that changes no number (`batchInvariant`); a
// decode step runs every active sequence's next token in one forward pass —
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

    /// Prompt chunks of several sequences, each appended to its own cache, with the last row's logits of those that
    /// want them (else an empty row). When the network gives a sequence the same numbers in a shared pass as alone
    /// (`batchInvariant`), chunks share passes of up to `prefillChunk` tokens — one pass over the weights for
    /// several new requests; otherwise, or if a shared pass is refused, each chunk runs alone.
    public func prefill(_ chunks: [(tokens: [Int], cache: KVCache, wantLogits: Bool)]) -> [Result<[Float], any Error>] {
        guard chunks.count > 1 && network.batchInvariant else {
            return chunks.map { c in Result { try prefill(c.tokens, cache: c.cache, wantLogits: c.wantLogits) } }
        }
        var out: [Result<[Float], any Error>] = []
        var i = 0
        while i < chunks.count {
            var j = i + 1, total = chunks[i].tokens.count
            while j < chunks.count && total + chunks[j].tokens.count <= StepForward.prefillChunk { total += chunks[j].tokens.count; j += 1 }
            let group = chunks[i..<j]
            let inputs = group.map { SequenceInput(tokens: $0.tokens, cache: $0.cache, outputs: $0.wantLogits ? [$0.tokens.count - 1] : []) }
            if group.count > 1, let rows = try? network.forward(inputs, emit: .logits, threads: threads) {
                out += rows.map { .success($0) }
            } else {
                out += group.map { c in Result { try prefill(c.tokens, cache: c.cache, wantLogits: c.wantLogits) } }
            }
            i = j
        }
        return out
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
