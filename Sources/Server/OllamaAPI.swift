// OllamaAPI: POST /api/generate and POST /api/chat with Ollama's request fields, defaults (stream: true), response
// fields (created_at, done_reason, metrics in nanoseconds omitted when zero), NDJSON streaming (one object per line,
// a final {"error"} line if generation fails after the stream began) and error texts (api/types.go, server/routes.go).
import Formats
import Foundation
import Hummingbird
import Infer

/// Fields generate and chat share.
struct CommonRequest {
    var model: String
    var stream: Bool
    var keepAlive: KeepAlive
    var options: [(String, JSON)]?
    var truncate: Bool
    /// `shift`: shift the context when it is full (default), else stop with done_reason "length".
    var shift: Bool
    /// `format`: "json" or a JSON schema, compiled (JSONSchema.swift); nil: free text.
    var format: JSONGrammar?
    /// `logprobs` / `top_logprobs`: nil, or how many alternatives per token (Logprobs.swift).
    var logprobs: Int?

    init(_ j: RequestJSON, defaultKeepAlive: KeepAlive) throws(APIError) {
        model = try j.string("model") ?? ""
        stream = try j.bool("stream") ?? true
        keepAlive = try j["keep_alive"].map { v throws(APIError) in try KeepAlive.parse(v) } ?? defaultKeepAlive
        options = try j.object("options", type: "map[string]interface {}")?.fields
        truncate = try j.bool("truncate") ?? true
        shift = try j.bool("shift") ?? true
        format = try CommonRequest.format(j["format"])
        if let think = j["think"] {
            switch think {
            case .bool(false): break
            case .bool(true): throw .badRequest("\"\(model)\" does not support thinking")
            case let .string(s) where ["low", "medium", "high", "max"].contains(s): throw .badRequest("\"\(model)\" does not support thinking")
            default: throw .badRequest("invalid think value")
            }
        }
        logprobs = try requestedLogprobs(enabled: j.bool("logprobs") ?? false, top: j.int("top_logprobs"))
    }

    /// `format`: "json" (one JSON object) or a JSON Schema object, both by constrained sampling (JSONConstraint.swift);
    /// a schema keyword llmkit cannot enforce is a 400; anything else is Ollama's "invalid format" error.
    static func format(_ v: JSON?) throws(APIError) -> JSONGrammar? {
        guard let v else { return nil }
        switch v {
        case .string(""): return nil
        case .string("json"): return JSONGrammar.jsonObject
        case .object: return try JSONGrammar.compile(schema: v)
        default:
            throw .badRequest("invalid format: \(v.serialized()); expected \"json\" or a valid JSON Schema object")
        }
    }
}

extension LLMServer {
    func addOllamaRoutes(_ router: Router<ServerContext>) {
        router.post("/api/generate") { request, context in try await self.generate(request, context) }
        router.post("/api/chat") { request, context in try await self.chat(request, context) }
    }

    // MARK: - /api/generate

    func generate(_ request: Request, _ context: ServerContext) async throws -> Response {
        let j = try await readJSON(request, type: "GenerateRequest")
        let common = try CommonRequest(j, defaultKeepAlive: config.keepAlive)
        let prompt = try j.string("prompt") ?? ""
        let suffix = try j.string("suffix") ?? ""
        let system = try j.string("system")
        let template = try j.string("template")
        let contextTokens = try j.ints("context")
        let raw = try j.bool("raw") ?? false
        if let images = try j.array("images", of: "string"), !images.isEmpty {
            throw APIError.badRequest("\"\(common.model)\" does not support images (vision)")
        }
        guard !common.model.isEmpty else { throw APIError.modelNotFound("") }
        let m = try resolve(common.model)
        if raw && (template != nil || system != nil || contextTokens != nil) {
            throw APIError.badRequest("raw mode does not support template, system, or context")
        }
        // suffix: a Go template that uses .Suffix fills it in (Ollama's rule); else llama.cpp's infill prompt when the
        // vocabulary has FIM tokens (Infill.swift, checked once the model is loaded); else a 400.
        let insert = suffix.isEmpty ? nil : try OllamaTemplate.insertTemplate(template ?? m.template)
        var settings = try settings(for: m, options: common.options, requestID: context.requestID)
        settings.shift = common.shift
        // _debug_render_only: an empty prompt still only loads (Ollama checks it first); else the prompt the model
        // would see, `context` detokenized in front as Ollama's GenerateHandler writes it.
        let debugRender = try j.bool("_debug_render_only") == true
        if debugRender && !prompt.isEmpty {
            let text = try await renderOnly(m, keepAlive: common.keepAlive, templateOverride: template) { b, numCtx in
                if !suffix.isEmpty && insert == nil {
                    let ids = try b.infillTokens(prefix: prompt, suffix: suffix, settings: settings, numCtx: settings.numCtx ?? numCtx,
                                                 batch: Infill.batch(common.options), modelName: common.model)
                    return b.model.tokenizer.decode(ids, special: true)
                }
                if raw { return prompt }
                let head = try LLMServer.detokenizeContext(contextTokens ?? [], b.model)
                if let insert { return head + (try insert.render(prompt: prompt, suffix: suffix)) }
                return head + (try b.render([.message(role: "user", content: prompt)], system: system ?? m.system, tools: nil))
            }
            return LLMServer.debugRendered(model: common.model, prompt: text, chat: false)
        }

        if prompt.isEmpty {  // Ollama's GenerateHandler: an empty prompt loads the model, `context` or not
            let reason = try await loadOnly(m, keepAlive: common.keepAlive)
            return LLMServer.json(.object([("model", .string(common.model)), ("created_at", .string(Timestamp.now())),
                                           ("response", .string("")), ("done", .bool(true)), ("done_reason", .string(reason))]))
        }

        let c = try await startCompletion(m, settings: settings, keepAlive: common.keepAlive, context: context, templateOverride: template,
                                          format: common.format, logprobs: common.logprobs) { b, numCtx in
            let log: (String) -> Void = { [logger] in logger.warning("\($0)", metadata: ["id": .string(context.requestID)]) }
            var ids: [Int]
            if let insert {
                ids = (contextTokens ?? []) + b.tokens(rendered: try insert.render(prompt: prompt, suffix: suffix))
            } else if !suffix.isEmpty {  // fill-in-the-middle (Infill.swift); 400 without FIM tokens
                ids = try b.infillTokens(prefix: prompt, suffix: suffix, settings: settings, numCtx: numCtx,
                                         batch: Infill.batch(common.options), modelName: common.model)
            } else if raw {
                ids = b.tokens(raw: prompt)
            } else {
                let sys = system ?? m.system
                ids = (contextTokens ?? []) + b.tokens(rendered: try b.render([.message(role: "user", content: prompt)], system: sys, tools: nil))
            }
            return try b.fit(ids, numCtx: numCtx, settings: settings, truncate: common.truncate, log: log)
        }
        let model = common.model
        @Sendable func final(_ r: SequenceResult, text: String, logprobs: [Logprob] = []) -> JSON {
            var o: [(String, JSON)] = [("model", .string(model)), ("created_at", .string(Timestamp.now())),
                                       ("response", .string(text)), ("done", .bool(true)), ("done_reason", .string(r.reason.rawValue))]
            if !raw { o.append(("context", .array((c.prompt + r.generated).map { .int($0) }))) }
            return .object(o + metrics(r, c) + logprobsField(logprobs, c))
        }
        if common.stream {
            @Sendable func chunk(_ s: String, _ l: [Logprob]) -> String? {
                JSON.object([("model", .string(model)), ("created_at", .string(Timestamp.now())),
                             ("response", .string(s)), ("done", .bool(false))] + logprobsField(l, c)).line
            }
            return stream(c, contentType: "application/x-ndjson",
                          done: { r in final(r, text: "").line }, failure: { m in JSON.object([("error", .string(m))]).line },
                          piece: chunk)
        }
        let out = await collect(c)
        if let e = out.error { throw APIError(.internalServerError, e) }
        return LLMServer.json(final(out.result!, text: out.text, logprobs: out.logprobs))
    }

    /// An empty prompt: load the model (done_reason "load"), or with keep_alive 0 unload it ("unload").
    func loadOnly(_ m: StoredModel, keepAlive: KeepAlive) async throws -> String {
        if keepAlive == .seconds(0) {
            await manager.unloadIfIdle(m)
            return "unload"
        }
        _ = try await manager.acquire(m)
        await manager.release(m, keepAlive: keepAlive)
        return "load"
    }

    // MARK: - /api/chat

    func chat(_ request: Request, _ context: ServerContext) async throws -> Response {
        let j = try await readJSON(request, type: "ChatRequest")
        let common = try CommonRequest(j, defaultKeepAlive: config.keepAlive)
        let messages = try LLMServer.chatMessages(j)
        let tools = try j.array("tools", of: "api.Tool") ?? []
        guard !common.model.isEmpty else { throw APIError.badRequest("model is required") }
        let m = try resolve(common.model)
        // The template must render the tools (ToolTemplate.swift); the GGUF's is checked once the model is loaded.
        if !tools.isEmpty, let t = m.template { _ = try LLMServer.toolTemplate(t, model: common.model) }
        var settings = try settings(for: m, options: common.options, requestID: context.requestID)
        settings.shift = common.shift
        let model = common.model
        @Sendable func message(_ text: String, _ calls: [IdentifiedToolCall] = []) -> JSON {
            var o: [(String, JSON)] = [("role", .string("assistant")), ("content", .string(text))]
            if !calls.isEmpty { o.append(("tool_calls", .array(calls.map(\.ollama)))) }
            return .object(o)
        }

        if messages.isEmpty {
            let reason = try await loadOnly(m, keepAlive: common.keepAlive)
            return LLMServer.json(.object([("model", .string(model)), ("created_at", .string(Timestamp.now())),
                                           ("message", message("")), ("done_reason", .string(reason)), ("done", .bool(true))]))
        }
        if try j.bool("_debug_render_only") == true {
            let text = try await renderOnly(m, keepAlive: common.keepAlive) { b, _ in
                try b.render(messages, system: m.system, tools: tools)
            }
            return LLMServer.debugRendered(model: model, prompt: text, chat: true)
        }
        var toolTag = "{"
        let c = try await startCompletion(m, settings: settings, keepAlive: common.keepAlive, context: context,
                                          format: common.format, logprobs: common.logprobs) { b, numCtx in
            if !tools.isEmpty { toolTag = try LLMServer.toolTemplate(m.template ?? b.model.chatTemplate, model: model).tag }
            return try b.chatTokens(messages, system: m.system, tools: tools, settings: settings, numCtx: numCtx,
                                    truncate: common.truncate) { [logger] in logger.warning("\($0)", metadata: ["id": .string(context.requestID)]) }
        }
        @Sendable func final(_ r: SequenceResult, text: String, calls: [IdentifiedToolCall] = [], logprobs: [Logprob] = []) -> JSON {
            .object([("model", .string(model)), ("created_at", .string(Timestamp.now())), ("message", message(text, calls)),
                     ("done_reason", .string(r.reason.rawValue)), ("done", .bool(true))] + metrics(r, c) + logprobsField(logprobs, c))
        }
        @Sendable func chunk(_ s: String, _ calls: [IdentifiedToolCall] = [], _ logprobs: [Logprob] = []) -> String {
            JSON.object([("model", .string(model)), ("created_at", .string(Timestamp.now())),
                         ("message", message(s, calls)), ("done", .bool(false))] + logprobsField(logprobs, c)).line
        }
        let toolStream = tools.isEmpty ? nil : ToolCallStream(tag: toolTag, tools: tools)
        if common.stream {
            return stream(c, contentType: "application/x-ndjson", done: { r in final(r, text: toolStream?.finish() ?? "").line },
                          failure: { m in JSON.object([("error", .string(m))]).line }, piece: { s, l in
                guard let toolStream else { return chunk(s, [], l) }
                let (calls, content) = toolStream.add(s)
                return content.isEmpty && calls.isEmpty && l.isEmpty ? nil : chunk(content, calls, l)
            })
        }
        if let toolStream {
            let out = await collect(c, tools: toolStream)
            if let e = out.collected.error { throw APIError(.internalServerError, e) }
            return LLMServer.json(final(out.collected.result!, text: out.collected.text, calls: out.calls, logprobs: out.collected.logprobs))
        }
        let out = await collect(c)
        if let e = out.error { throw APIError(.internalServerError, e) }
        return LLMServer.json(final(out.result!, text: out.text, logprobs: out.logprobs))
    }

    /// `messages` checked field by field (Go's decoding errors), roles lower-cased, only what templates use kept.
    static func chatMessages(_ j: RequestJSON) throws(APIError) -> [JSON] {
        var out: [JSON] = []
        for v in try j.array("messages", of: "api.Message") ?? [] {
            guard case let .object(o) = v else {
                throw .badRequest("json: cannot unmarshal \(RequestJSON.kind(v)) into Go struct field ChatRequest.messages of type api.Message")
            }
            let msg = RequestJSON(type: "Message", fields: o)
            let role = (try msg.string("role") ?? "").lowercased()
            let content = try msg.string("content") ?? ""
            if let images = try msg.array("images", of: "api.ImageData"), !images.isEmpty {
                throw .badRequest("\"\(try j.string("model") ?? "")\" does not support images (vision)")
            }
            guard ["system", "user", "assistant", "tool"].contains(role) else {
                throw .badRequest(role.isEmpty ? "message has no role" : "invalid message role \"\(role)\" (system, user, assistant or tool)")
            }
            var fields: [(String, JSON)] = [("role", .string(role)), ("content", .string(content))]
            if let calls = msg["tool_calls"] { fields.append(("tool_calls", calls)) }
            if let name = try msg.string("tool_name") { fields.append(("tool_name", .string(name))) }
            if let id = try msg.string("tool_call_id") { fields.append(("tool_call_id", .string(id))) }
            out.append(.object(fields))
        }
        return out
    }
}
