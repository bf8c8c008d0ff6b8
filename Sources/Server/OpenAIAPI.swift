// OpenAIAPI: the /v1 routes as Ollama maps them onto its own (openai/openai.go): chat completions and completions
// (server-sent events ending in `data: [DONE]`, stream_options.include_usage, temperature and top_p defaulting to
// 1.0, max_tokens → num_predict, stop as a string or a list), the model list, and OpenAI's error shape
// ({"error": {"message", "type", "param", "code"}}, set by the access-log middleware for every /v1 path).
import Formats
import Foundation
import Hummingbird
import Infer

extension LLMServer {
    func addOpenAIRoutes(_ router: Router<ServerContext>) {
        router.post("/v1/chat/completions") { request, context in try await self.openAIChat(request, context) }
        router.post("/v1/completions") { request, context in try await self.openAICompletion(request, context) }
        router.get("/v1/models") { _, _ in self.openAIModels() }
        router.get("/v1/models/:model") { _, context in try self.openAIModel(context.parameters.get("model") ?? "") }
    }

    /// response_format {"type": "json_object"} → format "json"; {"type": "json_schema", "json_schema": {"schema"}}
    /// → that schema; "text" or absent → none.
    static func openAIFormat(_ j: RequestJSON) throws(APIError) -> JSONGrammar? {
        guard let rf = try j.object("response_format", type: "ResponseFormat") else { return nil }
        switch try rf.string("type") {
        case nil, "text": return nil
        case "json_object": return JSONGrammar.jsonObject
        case "json_schema":
            guard let schema = try rf.object("json_schema", type: "JSONSchema")?["schema"] else {
                throw .badRequest("response_format json_schema needs json_schema.schema")
            }
            return try JSONGrammar.compile(schema: schema)
        case let t?: throw .badRequest("invalid response_format type \"\(t)\"")
        }
    }

    /// Options from OpenAI's top-level fields, under Ollama's names.

    static func openAIOptions(_ j: RequestJSON) throws(APIError) -> [(String, JSON)] {
        var o: [(String, JSON)] = []
        o.append(("temperature", .double(try j.double("temperature") ?? 1.0)))
        o.append(("top_p", .double(try j.double("top_p") ?? 1.0)))
        var maxTokens = try j.int("max_tokens")
        if maxTokens == nil { maxTokens = try j.int("max_completion_tokens") }
        if let v = maxTokens {
            guard v >= 0 else { throw .badRequest("max_tokens must be a non-negative integer") }
            o.append(("num_predict", .int(v)))
        }
        if let v = try j.int("seed") { o.append(("seed", .int(v))) }
        if let v = try j.double("frequency_penalty") { o.append(("frequency_penalty", .double(v))) }
        if let v = try j.double("presence_penalty") { o.append(("presence_penalty", .double(v))) }
        switch j["stop"] {
        case nil: break
        case let .string(s)?: o.append(("stop", .array([.string(s)])))
        case let .array(a)?:
            guard a.allSatisfy({ if case .string = $0 { true } else { false } }) else { throw .badRequest("stop must be a string or a list of strings") }
            o.append(("stop", .array(a)))
        default: throw .badRequest("stop must be a string or a list of strings")
        }
        if let n = try j.int("n"), n != 1 { throw .badRequest("n other than 1 is not supported") }
        _ = try openAIFormat(j)
        return o
    }

    static func usage(_ r: SequenceResult) -> JSON {
        .object([("prompt_tokens", .int(r.promptTokens)), ("completion_tokens", .int(r.generatedTokens)),
                 ("total_tokens", .int(r.promptTokens + r.generatedTokens))])
    }

    static func sse(_ v: JSON) -> String { "data: " + v.serialized() + "\n\n" }

    /// The event that ends an SSE stream which failed after it started: OpenAI's error object.
    static func sseError(_ message: String) -> String {
        var e = APIError(.internalServerError, message)
        e.openAI = true
        return sse(e.json)
    }

    // MARK: - /v1/chat/completions

    func openAIChat(_ request: Request, _ context: ServerContext) async throws -> Response {
        let j = try await readJSON(request, type: "ChatCompletionRequest")
        guard let model = try j.string("model"), !model.isEmpty else { throw APIError.badRequest("model is required") }
        guard let raw = try j.array("messages", of: "openai.Message") else { throw APIError.badRequest("messages is required") }
        guard !raw.isEmpty else { throw APIError.badRequest("[] is too short - 'messages'") }
        var messages: [JSON] = []
        var toolNames: [String: String] = [:]
        for v in raw {
            guard case let .object(f) = v else { throw APIError.badRequest("each message must be an object") }
            let msg = RequestJSON(type: "Message", fields: f)
            let role = (try msg.string("role") ?? "").lowercased()
            guard ["system", "user", "assistant", "tool", "developer"].contains(role) else {
                throw APIError.badRequest(role.isEmpty ? "message has no role" : "invalid message role \"\(role)\"")
            }
            var content = ""
            switch msg["content"] {
            case nil: break
            case let .string(s)?: content = s
            case let .array(parts)?:
                for p in parts {
                    guard p["type"] == .string("text"), case let .string(t)? = p["text"] else {
                        throw APIError.badRequest("only text content parts are supported")
                    }
                    content += t
                }
            default: throw APIError.badRequest("invalid message content type")
            }
            let extra = try LLMServer.openAIToolFields(msg, role: role, names: &toolNames)
            messages.append(.object([("role", .string(role == "developer" ? "system" : role)), ("content", .string(content))] + extra))
        }
        let tools = try j.array("tools", of: "openai.Tool") ?? []
        try LLMServer.checkToolChoice(j)
        let stream = try j.bool("stream") ?? false
        let includeUsage = try j.object("stream_options", type: "StreamOptions")?.bool("include_usage") ?? false
        let options = try LLMServer.openAIOptions(j)
        let logprobs = try requestedLogprobs(enabled: j.bool("logprobs") ?? false, top: j.int("top_logprobs"))
        let m = try resolve(model)
        if !tools.isEmpty, let t = m.template { _ = try LLMServer.toolTemplate(t, model: model) }
        let settings = try settings(for: m, options: options, requestID: context.requestID)
        var toolTag = "{"
        let c = try await startCompletion(m, settings: settings, keepAlive: config.keepAlive, context: context,
                                          format: try LLMServer.openAIFormat(j), logprobs: logprobs) { b, numCtx in
            if !tools.isEmpty { toolTag = try LLMServer.toolTemplate(m.template ?? b.model.chatTemplate, model: model).tag }
            return try b.chatTokens(messages, system: m.system, tools: tools, settings: settings, numCtx: numCtx, truncate: true) { [logger] in
                logger.warning("\($0)", metadata: ["id": .string(context.requestID)])
            }
        }
        let toolStream = tools.isEmpty ? nil : ToolCallStream(tag: toolTag, tools: tools)
        let id = "chatcmpl-\(Int.random(in: 0...998))"
        let created = Int(Date().timeIntervalSince1970)
        @Sendable func head(_ object: String) -> [(String, JSON)] {
            [("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model)),
             ("system_fingerprint", .string("fp_ollama"))]
        }
        @Sendable func delta(_ s: String, _ calls: [IdentifiedToolCall]) -> JSON {
            var d: [(String, JSON)] = [("role", .string("assistant")), ("content", .string(s))]
            if !calls.isEmpty { d.append(("tool_calls", .array(calls.map(\.openAI)))) }
            return .object(d)
        }
        if stream {
            return self.stream(c, contentType: "text/event-stream", done: { r in
                let reason = toolStream?.sentCalls == true ? "tool_calls" : r.reason.rawValue
                var out = LLMServer.sse(.object(head("chat.completion.chunk") + [("choices", .array([.object([
                    ("index", .int(0)), ("delta", delta(toolStream?.finish() ?? "", [])),
                    ("finish_reason", .string(reason))])]))]))
                if includeUsage {
                    out += LLMServer.sse(.object(head("chat.completion.chunk") + [("choices", .array([])), ("usage", LLMServer.usage(r))]))
                }
                return out
            }, failure: LLMServer.sseError, trailer: "data: [DONE]\n\n", piece: { s, l in
                var text = s, calls: [IdentifiedToolCall] = []
                if let toolStream {
                    (calls, text) = toolStream.add(s)
                    if text.isEmpty && calls.isEmpty && l.isEmpty { return nil }
                }
                return LLMServer.sse(.object(head("chat.completion.chunk") + [("choices", .array([.object([
                    ("index", .int(0)), ("delta", delta(text, calls))] + openAILogprobs(l, c) + [("finish_reason", .null)])]))]))
            })
        }
        var out: Collected, calls: [IdentifiedToolCall] = []
        if let toolStream {
            let o = await collect(c, tools: toolStream)
            (out, calls) = (o.collected, o.calls)
        } else {
            out = await collect(c)
        }
        if let e = out.error { throw APIError(.internalServerError, e) }
        let r = out.result!
        return LLMServer.json(.object(head("chat.completion") + [
            ("choices", .array([.object([("index", .int(0)), ("message", delta(out.text, calls))] + openAILogprobs(out.logprobs, c) + [
                                         ("finish_reason", .string(calls.isEmpty ? r.reason.rawValue : "tool_calls"))])])),
            ("usage", LLMServer.usage(r)),
        ]))
    }

    // MARK: - /v1/completions

    func openAICompletion(_ request: Request, _ context: ServerContext) async throws -> Response {
        let j = try await readJSON(request, type: "CompletionRequest")
        guard let model = try j.string("model"), !model.isEmpty else { throw APIError.badRequest("model is required") }
        let prompt: String
        switch j["prompt"] {
        case let .string(s)?: prompt = s
        case let .array(a)? where a.count == 1: guard case let .string(s) = a[0] else { fallthrough }; prompt = s
        case nil: throw APIError.badRequest("prompt is required")
        default: throw APIError.badRequest("prompt must be a string")
        }
        let suffix = try j.string("suffix") ?? ""
        let stream = try j.bool("stream") ?? false
        let includeUsage = try j.object("stream_options", type: "StreamOptions")?.bool("include_usage") ?? false
        let options = try LLMServer.openAIOptions(j)
        // `logprobs: n` (n > 0) as Ollama reads it; answered in OpenAI's legacy shape (CompletionLogprobs.swift).
        let logprobs = try completionLogprobsRequest(j.int("logprobs"))
        let m = try resolve(model)
        let settings = try settings(for: m, options: options, requestID: context.requestID)
        guard !prompt.isEmpty else { throw APIError.badRequest("prompt is required") }
        let c = try await startCompletion(m, settings: settings, keepAlive: config.keepAlive, context: context, logprobs: logprobs) { b, numCtx in
            let ids = !suffix.isEmpty
                ? try b.infillTokens(prefix: prompt, suffix: suffix, settings: settings, numCtx: numCtx, batch: Infill.defaultBatch, modelName: model)
                : b.tokens(rendered: try b.render([.message(role: "user", content: prompt)], system: m.system, tools: nil))
            return try b.fit(ids, numCtx: numCtx, settings: settings, truncate: true) { [logger] in
                logger.warning("\($0)", metadata: ["id": .string(context.requestID)])
            }
        }
        let id = "cmpl-\(Int.random(in: 0...998))"
        let created = Int(Date().timeIntervalSince1970)
        let head: [(String, JSON)] = [("id", .string(id)), ("object", .string("text_completion")), ("created", .int(created)),
                                      ("model", .string(model)), ("system_fingerprint", .string("fp_ollama"))]
        let legacy = CompletionLogprobs(c.runner.model.tokenizer)
        @Sendable func choice(_ text: String, _ reason: JSON, _ l: [Logprob] = []) -> JSON {
            .array([.object([("text", .string(text)), ("index", .int(0)), legacy.field(l), ("finish_reason", reason)])])
        }
        if stream {
            return self.stream(c, contentType: "text/event-stream", done: { r in
                var out = LLMServer.sse(.object(head + [("choices", choice("", .string(r.reason.rawValue)))]))
                if includeUsage { out += LLMServer.sse(.object(head + [("choices", .array([])), ("usage", LLMServer.usage(r))])) }
                return out
            }, failure: LLMServer.sseError, trailer: "data: [DONE]\n\n", piece: { s, l in
                LLMServer.sse(.object(head + [("choices", choice(s, .null, l))]))
            })
        }
        let out = await collect(c)
        if let e = out.error { throw APIError(.internalServerError, e) }
        let r = out.result!
        return LLMServer.json(.object(head + [("choices", choice(out.text, .string(r.reason.rawValue), out.logprobs)), ("usage", LLMServer.usage(r))]))
    }

    // MARK: - /v1/models

    func openAIEntry(_ m: StoredModel) -> JSON {
        .object([("id", .string(m.displayName)), ("object", .string("model")), ("created", .int(Int(m.modifiedAt.timeIntervalSince1970))),
                 ("owned_by", .string(m.name.namespace))])
    }

    func openAIModels() -> Response {
        LLMServer.json(.object([("object", .string("list")), ("data", .array(store.list().map(openAIEntry)))]))
    }

    func openAIModel(_ raw: String) throws -> Response {
        LLMServer.json(openAIEntry(try resolve(raw)))
    }
}
