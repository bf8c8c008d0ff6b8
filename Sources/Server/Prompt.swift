// Prompt: request text → token ids, as Ollama builds them. Chat messages (and a generate prompt with its system
// message) go through the chat template — the manifest's override or the GGUF's `tokenizer.chat_template`, a Jinja
// template rendered as Hugging Face does, or a Go template (OllamaTemplate) rendered as Ollama does — with the
// generation prompt added; raw prompts are tokenized as written.
// Tokenization is `llmkit run`'s: special tokens parsed, BOS where the model asks for it, never twice.
// A prompt longer than the context is truncated as Ollama does (the first num_keep tokens kept, the oldest chat
// messages / the middle dropped, a log line) unless the request says truncate: false (400). A sequence that shifts
// its context when full (ContextShift.swift) may fill num_ctx, as in Ollama's runner; one that cannot (shift: false,
// a model without RoPE) keeps room for its answer.
import Formats
import Foundation
import Infer

struct PromptBuilder {
    let model: Model
    let stored: StoredModel
    /// A per-request template override (generate's `template`), else the manifest's, else the GGUF's.
    var templateOverride: String? = nil

    func template() throws(APIError) -> ChatTemplate {
        guard let source = templateOverride ?? stored.template ?? model.chatTemplate else {
            throw .badRequest("\"\(stored.displayName)\" does not support chat: it has no chat template (use raw)")
        }
        do { return try ChatTemplate(source) } catch { throw .badRequest("\(error)") }
    }

    /// The override or manifest template when it is Go (Ollama's TEMPLATE); nil for Jinja and for the GGUF's.
    func goTemplate() throws(APIError) -> OllamaTemplate? {
        guard let source = templateOverride ?? stored.template, OllamaTemplate.isGo(source) else { return nil }
        return try OllamaTemplate(source)
    }

    /// Renders messages with the generation prompt; `system` goes first unless the messages bring their own.
    func render(_ messages: [JSON], system: String?, tools: [JSON]?) throws(APIError) -> String {
        var all = messages
        let hasSystem = messages.contains { $0["role"] == .string("system") }
        if let system, !hasSystem { all.insert(.message(role: "system", content: system), at: 0) }
        if let go = try goTemplate() { return try go.render(messages: all, tools: tools) }
        let tok = model.tokenizer
        let bos = tok.bos.map { String(decoding: tok.piece($0, special: true), as: UTF8.self) } ?? ""
        let eos = tok.eos.map { String(decoding: tok.piece($0, special: true), as: UTF8.self) } ?? ""
        do {
            return try template().render(messages: all, addGenerationPrompt: true, bosToken: bos, eosToken: eos,
                                         tools: (tools?.isEmpty ?? true) ? nil : tools)
        } catch let e as APIError { throw e } catch { throw .badRequest("\(error)") }
    }

    /// Token ids of rendered chat text (llmkit run's ChatSession.encodePrompt).
    func tokens(rendered: String) -> [Int] {
        let tok = model.tokenizer
        var ids = tok.encode(rendered, addSpecial: true, parseSpecial: true)
        if ids.count >= 2, let bos = tok.bos, tok.addsBOS, ids[0] == bos, ids[1] == bos { ids.removeFirst() }
        return ids
    }

    /// Token ids of raw text (llmkit run --raw).
    func tokens(raw: String) -> [Int] { model.tokenizer.encode(raw, addSpecial: true, parseSpecial: true) }

    /// Chat messages → tokens that fit `numCtx`: the oldest non-system messages are dropped first (never the last
    /// one), then the token-level truncation of `fit`.
    func chatTokens(_ messages: [JSON], system: String?, tools: [JSON]?, settings: GenerationSettings, numCtx: Int,
                    truncate: Bool, log: (String) -> Void) throws(APIError) -> [Int] {
        var msgs = messages
        var ids = tokens(rendered: try render(msgs, system: system, tools: tools))
        let limit = PromptBuilder.limit(numCtx: numCtx, settings: settings, shifting: shifting(settings))
        guard ids.count > limit else { return ids }
        guard truncate else { throw .badRequest("the input length exceeds the context length") }
        var dropped = 0
        while ids.count > limit, let i = msgs.firstIndex(where: { $0["role"] != .string("system") }), i < msgs.count - 1 {
            msgs.remove(at: i)
            dropped += 1
            ids = tokens(rendered: try render(msgs, system: system, tools: tools))
        }
        if dropped > 0 { log("truncating input messages which exceed context length: dropped \(dropped) of \(messages.count) messages, prompt \(ids.count) tokens, num_ctx \(numCtx)") }
        return try fit(ids, numCtx: numCtx, settings: settings, truncate: true, log: log)
    }

    /// Whether this model's sequence with these settings shifts its context when full.
    func shifting(_ settings: GenerationSettings) -> Bool { ContextShift.enabled(settings, model.network) }

    /// `fit` for this model.
    func fit(_ ids: [Int], numCtx: Int, settings: GenerationSettings, truncate: Bool, log: (String) -> Void) throws(APIError) -> [Int] {
        try PromptBuilder.fit(ids, numCtx: numCtx, settings: settings, shifting: shifting(settings), truncate: truncate, log: log)
    }

    /// The longest prompt we accept for a context: all of it when the context shifts (Ollama's runner), else room is
    /// left for the answer.
    static func limit(numCtx: Int, settings: GenerationSettings, shifting: Bool) -> Int {
        if shifting { return max(1, numCtx) }
        let reserve = settings.numPredict > 0 ? min(settings.numPredict, numCtx / 2) : max(1, numCtx / 4)
        return max(1, numCtx - max(1, reserve))
    }

    /// A prompt that fits: unchanged when short enough; else (Ollama's runner) the first num_keep tokens and the
    /// last ones, the middle dropped, with a log line — or 400 when truncate is false. Shifting: num_keep at most
    /// num_ctx − 1 and the prompt cut to num_ctx (NewSequence); else num_keep at most half the limit.
    static func fit(_ ids: [Int], numCtx: Int, settings: GenerationSettings, shifting: Bool = false, truncate: Bool,
                    log: (String) -> Void) throws(APIError) -> [Int] {
        let limit = limit(numCtx: numCtx, settings: settings, shifting: shifting)
        guard ids.count > limit else { return ids }
        guard truncate else { throw .badRequest("the input length exceeds the context length") }
        let keep = shifting ? ContextShift.keep(numKeep: settings.numKeep, prompt: ids.count, numCtx: numCtx)
                            : min(settings.numKeep < 0 ? ids.count : settings.numKeep, limit / 2)
        let out = Array(ids[..<keep]) + Array(ids[(ids.count - (limit - keep))...])
        log("truncating input prompt limit=\(numCtx) prompt=\(ids.count) keep=\(keep) new=\(out.count)")
        return out
    }
}
