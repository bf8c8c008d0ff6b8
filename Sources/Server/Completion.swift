// Completion: what generate, chat and the /v1 routes share — resolve the options (Ollama's defaults, then the
// manifest's parameters, then the request's), load the model, build the prompt, queue the sequence, and at the
// end hand the model back to the keep_alive clock and write the access-log line with tokens and durations.
import Formats
import Foundation
import Hummingbird
import Infer
import Logging

/// A queued generation and everything needed to report on it.
struct Completion: Sendable {
    let stored: StoredModel
    let runner: ModelRunner
    let handle: SequenceHandle
    let prompt: [Int]
    let keepAlive: KeepAlive
    let loadNanoseconds: UInt64
    let start: UInt64
    let requestID: String
}

/// Collected output of a non-streamed generation.
struct Collected {
    var text = ""
    var logprobs: [Logprob] = []
    var result: SequenceResult?
    var error: String?
}

extension LLMServer {
    /// Default options for a model: Ollama's, then the manifest's `parameters`, then the request's `options`.
    func settings(for m: StoredModel, options: [(String, JSON)]?, requestID: String) throws(APIError) -> GenerationSettings {
        var s = GenerationSettings()
        do { try s.apply(m.parameters) } catch { throw APIError(.internalServerError, "\(m.displayName): manifest parameters: \(error.message)") }
        if let options {
            try s.apply(options) { [logger] key in
                logger.warning("invalid option provided", metadata: ["id": .string(requestID), "option": .string(key)])
            }
        }
        try s.validate()
        return s
    }

    /// Loads the model (counted as one use until `finish`), builds the prompt with `build(builder, numCtx)` and queues it.
    func startCompletion(_ m: StoredModel, settings: GenerationSettings, keepAlive: KeepAlive, context: ServerContext,
                         templateOverride: String? = nil, format: JSONGrammar? = nil, logprobs: Int? = nil,
                         build: (PromptBuilder, Int) throws -> [Int]) async throws -> Completion {
        let start = now()
        let (runner, loadNs) = try await manager.acquire(m)
        do {
            let trained = runner.model.network.trainedContextLength
            var numCtx = settings.numCtx ?? runner.defaultContext
            if trained > 0, numCtx > trained {
                logger.warning("requested context size too large for model", metadata: ["id": .string(context.requestID), "num_ctx": .stringConvertible(numCtx), "n_ctx_train": .stringConvertible(trained)])
                numCtx = trained
            }
            let builder = PromptBuilder(model: runner.model, stored: m, templateOverride: templateOverride)
            let prompt = try build(builder, numCtx)
            guard !prompt.isEmpty else { throw APIError.badRequest("the prompt is empty after templating") }
            if let bad = prompt.first(where: { $0 < 0 || $0 >= runner.model.network.vocabularySize }) {
                throw APIError.badRequest("context token \(bad) is outside the vocabulary (0..<\(runner.model.network.vocabularySize))")
            }
            var request = SequenceRequest(prompt: prompt, settings: settings, contextLength: numCtx, isDisconnected: context.isDisconnected)
            request.format = format
            request.logprobs = logprobs
            let handle = try runner.submit(request)
            return Completion(stored: m, runner: runner, handle: handle, prompt: prompt, keepAlive: keepAlive,
                              loadNanoseconds: loadNs, start: start, requestID: context.requestID)
        } catch {
            await manager.release(m, keepAlive: keepAlive)
            throw error
        }
    }

    /// Ends a completion: the model goes back to the keep_alive clock; one log line with the numbers.
    func finish(_ c: Completion, _ result: SequenceResult?, error: String? = nil) async {
        c.handle.cancel()  // no-op when it already ended; frees the slot when the writer gave up early
        await manager.release(c.stored, keepAlive: c.keepAlive)
        var md: Logger.Metadata = ["id": .string(c.requestID), "model": .string(c.stored.displayName),
                                   "total_ms": .string(String(format: "%.1f", Double(now() - c.start) / 1e6))]
        if let r = result {
            md["done_reason"] = .string(r.reason.rawValue)
            md["prompt_tokens"] = .stringConvertible(r.promptTokens)
            md["eval_tokens"] = .stringConvertible(r.generatedTokens)
            md["prompt_ms"] = .string(String(format: "%.1f", Double(r.promptNanoseconds) / 1e6))
            md["eval_ms"] = .string(String(format: "%.1f", Double(r.evalNanoseconds) / 1e6))
            if r.constraintNanoseconds > 0 { md["format_ms"] = .string(String(format: "%.2f", Double(r.constraintNanoseconds) / 1e6)) }
        }
        if let error { md["error"] = .string(error) }
        logger.info("completion", metadata: md)
    }

    /// Waits for the whole answer.
    func collect(_ c: Completion) async -> Collected {
        var out = Collected()
        for await e in c.handle.events {
            switch e {
            case let .piece(s): out.text += s
            case let .logprobs(l): out.logprobs += l
            case let .done(r): out.result = r
            case let .failed(m): out.error = m
            }
        }
        if out.result == nil && out.error == nil { out.error = "request canceled" }
        await finish(c, out.result, error: out.error)
        return out
    }

    /// A streamed answer: `piece` / `done` / `failure` turn events into wire bytes (NDJSON lines or SSE events);
    /// `piece` gets each text piece with the log probabilities of its tokens (empty unless asked; Logprobs.swift).
    /// `trailer` is written after the last event (SSE's [DONE]). A failed write (client gone) cancels the sequence.
    func stream(_ c: Completion, contentType: String,
                done: @escaping @Sendable (SequenceResult) -> String, failure: @escaping @Sendable (String) -> String,
                trailer: String? = nil, piece: @escaping @Sendable (String, [Logprob]) -> String?) -> Response {
        Response(status: .ok, headers: [.contentType: contentType, .cacheControl: "no-cache"], body: ResponseBody { [self] writer in
            var result: SequenceResult?
            var error: String?
            var logprobs: [Logprob] = []
            do {
                for await e in c.handle.events {
                    switch e {
                    case let .logprobs(l): logprobs += l
                    case let .piece(s):
                        let text = piece(s, logprobs)
                        logprobs = []
                        if let text { try await writer.write(ByteBuffer(string: text)) }
                    case let .done(r):
                        result = r
                        try await writer.write(ByteBuffer(string: done(r)))
                    case let .failed(m):
                        error = m
                        try await writer.write(ByteBuffer(string: failure(m)))
                    }
                }
                if result == nil && error == nil { error = "request canceled" }
                if let trailer { try await writer.write(ByteBuffer(string: trailer)) }
                try await writer.finish(nil)
            } catch {
                await finish(c, result, error: "client went away: \(error)")
                throw error
            }
            await finish(c, result, error: error)
        })
    }
}

/// Ollama's metrics, each omitted when zero (Go's omitempty).
func metrics(_ r: SequenceResult, _ c: Completion) -> [(String, JSON)] {
    var out: [(String, JSON)] = []
    func add(_ k: String, _ v: UInt64) { if v > 0 { out.append((k, .int(Int(v)))) } }
    add("total_duration", now() - c.start)
    add("load_duration", c.loadNanoseconds)
    add("prompt_eval_count", UInt64(r.promptTokens))
    add("prompt_eval_duration", r.promptNanoseconds)
    add("eval_count", UInt64(r.generatedTokens))
    add("eval_duration", r.evalNanoseconds)
    return out
}
