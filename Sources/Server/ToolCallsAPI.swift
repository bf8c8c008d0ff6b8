// ToolCallsAPI: tool calls on the wire. /api/chat (server/routes.go): each streamed piece goes through the parser
// (ToolCalls.swift); content is sent when it is known not to be a call, each call as soon as it is complete, as
// message.tool_calls [{"id": "call_…", "function": {"index", "name", "arguments": {…}}}]; done_reason stays "stop".
// /v1/chat/completions (openai/openai.go): tool_calls [{"id", "index", "type": "function", "function": {"name",
// "arguments": "<JSON text>"}}] and finish_reason "tool_calls"; tool and assistant messages of the request converted
// to Ollama's. One difference from Ollama: a piece that completes a call and also yields content sends both (Ollama
// sends only the content and loses the call).
import Formats
import Foundation
import Infer

/// A call with the id the server gave it.
struct IdentifiedToolCall: Sendable {
    var id: String
    var call: ToolCall

    /// Ollama's api.ToolCall.
    var ollama: JSON {
        .object([("id", .string(id)), ("function", .object([("index", .int(call.index)), ("name", .string(call.name)),
                                                            ("arguments", call.arguments)]))])
    }

    /// OpenAI's tool call: arguments as JSON text.
    var openAI: JSON {
        .object([("id", .string(id)), ("index", .int(call.index)), ("type", .string("function")),
                 ("function", .object([("name", .string(call.name)), ("arguments", .string(call.arguments.serialized()))]))])
    }

    /// "call_" and 8 of [a-z0-9], as Ollama's toolCallId.
    static func newID() -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return "call_" + String((0..<8).map { _ in letters.randomElement()! })
    }
}

/// One request's parser, shared by the closures that write its stream (they run one after another).
final class ToolCallStream: @unchecked Sendable {
    private let lock = NSLock()
    private var parser: ToolCallParser
    private var calls = 0

    init(tag: String, tools: [JSON]) {
        parser = ToolCallParser(tag: tag, toolNames: ToolCallParser.toolNames(tools))
    }

    /// Calls completed by this piece (with ids) and the content that can be shown now.
    func add(_ s: String) -> (calls: [IdentifiedToolCall], content: String) {
        lock.withLock {
            let (found, content) = parser.add(s)
            calls += found.count
            return (found.map { IdentifiedToolCall(id: IdentifiedToolCall.newID(), call: $0) }, content)
        }
    }

    /// Content still held when the answer ends.
    func finish() -> String { lock.withLock { parser.remainingContent() } }

    var sentCalls: Bool { lock.withLock { calls > 0 } }
}

/// A non-streamed answer split into content and calls.
struct CollectedWithTools {
    var collected: Collected
    var calls: [IdentifiedToolCall]
}

extension LLMServer {
    /// The template's tool handling; a 400 "… does not support tools" when it ignores the tool list.
    static func toolTemplate(_ template: String?, model: String) throws(APIError) -> ToolTemplate {
        guard let template else { throw .badRequest("\"\(model)\" does not support tools") }
        let t = ToolTemplate.analyze(template)
        guard t.supportsTools else { throw .badRequest("\"\(model)\" does not support tools") }
        return t
    }

    /// `collect` with every piece passed through the parser, as Ollama accumulates streamed chunks.
    func collect(_ c: Completion, tools: ToolCallStream) async -> CollectedWithTools {
        var out = Collected()
        var calls: [IdentifiedToolCall] = []
        for await e in c.handle.events {
            switch e {
            case let .piece(s):
                let (found, content) = tools.add(s)
                out.text += content
                calls += found
            case let .logprobs(l): out.logprobs += l
            case let .done(r):
                out.text += tools.finish()
                out.result = r
            case let .failed(m): out.error = m
            }
        }
        if out.result == nil && out.error == nil { out.error = "request canceled" }
        await finish(c, out.result, error: out.error)
        return CollectedWithTools(collected: out, calls: calls)
    }

    /// OpenAI messages' tool parts → Ollama's: an assistant's tool_calls with arguments parsed from their JSON text,
    /// a tool message's tool_call_id and (from the call it answers, or its `name`) tool_name.
    static func openAIToolFields(_ msg: RequestJSON, role: String, names: inout [String: String]) throws(APIError) -> [(String, JSON)] {
        var fields: [(String, JSON)] = []
        if role == "assistant", let calls = try msg.array("tool_calls", of: "openai.ToolCall"), !calls.isEmpty {
            var out: [JSON] = []
            for (i, v) in calls.enumerated() {
                guard case let .object(o) = v, case let .object(f)? = v["function"] else { throw .badRequest("invalid tool call") }
                let call = RequestJSON(type: "ToolCall", fields: o), fn = RequestJSON(type: "ToolCallFunction", fields: f)
                let name = try fn.string("name") ?? ""
                var args: JSON = .object([])
                if let text = try fn.string("arguments"), !text.isEmpty {
                    guard let a = try? JSON.parse(text), case .object = a else { throw .badRequest("invalid tool call arguments") }
                    args = a
                }
                let id = try call.string("id") ?? ""
                if !id.isEmpty { names[id] = name }
                out.append(.object([("id", .string(id)), ("type", .string("function")),
                                    ("function", .object([("index", .int(i)), ("name", .string(name)), ("arguments", args)]))]))
            }
            fields.append(("tool_calls", .array(out)))
        }
        if role == "tool" {
            let id = try msg.string("tool_call_id") ?? ""
            if !id.isEmpty { fields.append(("tool_call_id", .string(id))) }
            if let name = try msg.string("name") ?? names[id] { fields.append(("tool_name", .string(name))) }
        }
        return fields
    }

    /// tool_choice: "none", "auto", "required" or {"type": "function", …}; accepted and not enforced, as Ollama.
    static func checkToolChoice(_ j: RequestJSON) throws(APIError) {
        switch j["tool_choice"] {
        case nil, .string("none")?, .string("auto")?, .string("required")?, .object?: return
        default: throw .badRequest("invalid tool_choice: expected \"none\", \"auto\", \"required\" or an object")
        }
    }
}
