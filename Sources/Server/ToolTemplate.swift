// ToolTemplate: what a chat template does with tools — whether it renders a request's tool list at all (Ollama's
// "tools" capability; without it a request with tools is a 400 "… does not support tools"), and the tag that starts
// a tool call in the model's output (Ollama's tools.parseTag: the first text of the template's .ToolCalls branch,
// cut before "{", "{" when there is none). For Go templates both come from the parse tree; Jinja ones are probed by rendering: the template
// with a probe tool against without one, and an assistant turn carrying a probe call against the same turn without
// it; the call's text before its JSON (or before the tool's name, for formats that write the name first) is the tag.
import Formats
import Foundation
import Infer

struct ToolTemplate: Equatable, Sendable {
    var supportsTools: Bool
    /// The text the model writes before a tool call ("<tool_call>", "[TOOL_CALLS]"); "{" for bare JSON calls.
    var tag: String

    /// The one entry point for a template source. A Go TEMPLATE supports tools when it names .Tools (Ollama's
    /// capability check on Template.Vars()) and its tag comes from its parse tree (GoToolTag.swift, Ollama's
    /// parseTag; "{" when there is none); a Jinja template is probed by rendering.
    static func analyze(_ source: String) -> ToolTemplate {
        if OllamaTemplate.isGo(source) {
            guard let t = try? OllamaTemplate(source) else { return ToolTemplate(supportsTools: false, tag: "{") }
            let tag = t.template.toolCallTag ?? ""
            return ToolTemplate(supportsTools: t.vars.contains("tools"), tag: tag.isEmpty ? "{" : tag)
        }
        guard let t = try? ChatTemplate(source) else { return ToolTemplate(supportsTools: false, tag: "{") }
        return jinja(t)
    }

    static let probeName = "llmkit_probe_tool"
    static let probeTool: JSON = .object([
        ("type", .string("function")),
        ("function", .object([
            ("name", .string(probeName)), ("description", .string("Probe")),
            ("parameters", .object([("type", .string("object")),
                                    ("properties", .object([("x", .object([("type", .string("string"))]))])),
                                    ("required", .array([.string("x")]))])),
        ])),
    ])
    static let probeCall: JSON = .object([
        ("id", .string("call12345")), ("type", .string("function")),
        ("function", .object([("name", .string(probeName)), ("arguments", .object([("x", .string("y"))]))])),
    ])

    static func jinja(_ t: ChatTemplate) -> ToolTemplate {
        let user = JSON.message(role: "user", content: "What is the weather?")
        func render(_ messages: [JSON], generation: Bool, tools: [JSON]?) -> String? {
            try? t.render(messages: messages, addGenerationPrompt: generation, bosToken: "", eosToken: "", tools: tools)
        }
        let with = render([user], generation: true, tools: [probeTool])
        let without = render([user], generation: true, tools: nil)
        let supports = with != nil && with != without
        guard let prompt = with else { return ToolTemplate(supportsTools: supports, tag: "{") }
        let call: JSON = .object([("role", .string("assistant")), ("content", .string("")), ("tool_calls", .array([probeCall]))])
        let plain: JSON = .message(role: "assistant", content: "")
        guard let turn = render([user, call], generation: false, tools: [probeTool]) else {
            return ToolTemplate(supportsTools: supports, tag: "{")
        }
        let reply = render([user, plain], generation: false, tools: [probeTool])
        return ToolTemplate(supportsTools: supports, tag: tag(turn: turn, without: [prompt, reply].compactMap { $0 }))
    }

    /// The tag in `turn` (the conversation ending in the assistant's probe call): the call's text starts after the
    /// longest prefix `turn` shares with one of `without` (the same conversation ending in the generation prompt,
    /// or in an empty assistant reply — whichever reaches further past the role header and any empty think block),
    /// backed off to a whitespace or closing bracket so a shared "<" of "<think>" and "<tool_call>" stays out; the
    /// tag is that text up to the call's first "{" or the tool's name, trimmed.
    static func tag(turn: String, without: [String]) -> String {
        let b = Array(turn.utf8)
        var n = 0
        for other in without {
            let a = Array(other.utf8)
            var k = 0
            while k < a.count && k < b.count && a[k] == b[k] { k += 1 }
            while k > 0 && !" \t\r\n>]})".utf8.contains(b[k - 1]) { k -= 1 }
            n = max(n, k)
        }
        let rest = Array(b[n...])
        guard let name = ToolCallParser.index(of: Array(probeName.utf8), in: rest[...]) else { return "{" }
        let brace = rest.firstIndex(of: UInt8(ascii: "{")) ?? rest.count
        let tag = String(decoding: rest[..<min(name, brace)], as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return tag.isEmpty ? "{" : tag
    }
}
