// ContextShift: what a sequence does when its context is full, as Ollama's runner does (runner/ollamarunner:
// NewSequence, ShiftDiscard, ShiftCacheSlot; llm/server.go for the token limit):
//   keep     = num_keep (negative: the whole prompt), at most num_ctx − 1 so that a shift always frees a position
//   discard  = enough tokens after `keep` that (num_ctx − keep) / 2 (at least 1) positions are free
//   the cache drops positions keep..<keep+discard and re-rotates the later keys (KVCache.shift), a log line,
//   and generation goes on. Any negative num_predict (−1, and −2, llama.cpp's "fill the context", too: llm/server.go
//   Completion caps every value < 0 or > 10 × num_ctx before the runner sees it) becomes 10 × num_ctx.
// Not for `shift: false` or a model without RoPE (GPT-2's learned positions): those end with done_reason "length" at
// a full context, and their prompts leave room for an answer.
// Prompts of shifting sequences are truncated to num_ctx (PromptBuilder.fit), as Ollama's runner truncates them.
import Infer

struct ContextShift {
    let rope: RoPE
    let keep: Int
    let log: (String) -> Void

    /// The shift of a sequence, or nil when it stops at a full context instead.
    init?(settings: GenerationSettings, model: any LanguageModel, prompt: Int, numCtx: Int, log: @escaping (String) -> Void) {
        guard ContextShift.enabled(settings, model), let rope = model.rope else { return nil }
        self.rope = rope
        keep = ContextShift.keep(numKeep: settings.numKeep, prompt: prompt, numCtx: numCtx)
        self.log = log
    }

    static func enabled(_ settings: GenerationSettings, _ model: any LanguageModel) -> Bool {
        settings.shift && model.rope != nil
    }

    /// Ollama's num_keep: negative means the whole prompt; clamped to numCtx − 1.
    static func keep(numKeep: Int, prompt: Int, numCtx: Int) -> Int {
        max(0, min(numKeep < 0 ? prompt : numKeep, numCtx - 1))
    }

    /// Ollama's ShiftDiscard: tokens to drop after `keep` from a cache holding `count` of `numCtx` positions.
    static func discard(count: Int, numCtx: Int, keep: Int) -> Int {
        let targetFree = max((numCtx - keep) / 2, 1)
        let currentFree = numCtx - count
        return max(0, min(count - keep, targetFree - currentFree))
    }

    /// Tokens a sequence may generate: Ollama's llm/server.go turns num_predict < 0 or > 10 × num_ctx into 10 × num_ctx.
    static func tokenLimit(numPredict: Int, numCtx: Int) -> Int {
        numPredict < 0 || numPredict > 10 * numCtx ? 10 * numCtx : numPredict
    }

    /// Frees room in a full cache. False when nothing can be discarded.
    func apply(_ cache: KVCache, sequence id: Int) -> Bool {
        let d = ContextShift.discard(count: cache.count, numCtx: cache.contextLength, keep: keep)
        guard d > 0 else { return false }
        log("context limit hit - shifting: sequence \(id) limit=\(cache.contextLength) input=\(cache.count) keep=\(keep) discard=\(d)")
        cache.shift(keep: keep, discard: d, rope: rope)
        return true
    }
}
