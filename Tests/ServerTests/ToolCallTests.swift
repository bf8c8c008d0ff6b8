// Tool-call parsing (ToolCalls.swift) on the cases of Ollama's tools/tools_test.go — whole outputs and outputs fed
// in pieces, Qwen's <tool_call>, Mistral's [TOOL_CALLS], bare JSON objects and lists (Llama 3.x), DeepSeek's
// special-token format, invalid JSON and text that only looks like a call — and the tag and tool support that
// ToolTemplate finds in real chat templates (Tests/oracle/templates, the same ones the jinja2 oracle renders).

import Formats
import Foundation
import Infer
import Testing
@testable import Server

@Suite struct ToolCallParserTests {
    static let tools = ["get_temperature", "get_conditions", "say_hello", "say_hello_world", "get_address", "add"]
    static let qwen = "<tool_call>", mistral = "[TOOL_CALLS] [", json = "{", list = "[", deepseek = "<|tool▁calls▁begin|>"

    /// Feeds `inputs` one by one, as Ollama's test does: content concatenated, calls collected.
    func run(_ tag: String, _ inputs: [String]) -> (content: String, calls: [ToolCall]) {
        var p = ToolCallParser(tag: tag, toolNames: Self.tools)
        var content = "", calls: [ToolCall] = []
        for s in inputs {
            let (c, t) = p.add(s)
            calls += c
            content += t
        }
        return (content, calls)
    }

    func call(_ i: Int, _ name: String, _ args: String) -> ToolCall {
        ToolCall(index: i, name: name, arguments: try! JSON.parse(args))
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String, tag: String, inputs: [String], content: String, calls: [(String, String)]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no tool calls", tag: qwen, inputs: ["Hello, how can I help you today?"], content: "Hello, how can I help you today?", calls: []),
        Case(name: "empty input", tag: qwen, inputs: [""], content: "", calls: []),
        Case(name: "tool call", tag: qwen, inputs: [#"<tool_call>{"name": "get_conditions", "arguments": {"location": "San Francisco"}}</tool_call>"#],
             content: "", calls: [("get_conditions", #"{"location": "San Francisco"}"#)]),
        Case(name: "empty args", tag: qwen, inputs: [#"<tool_call>{"name": "get_conditions", "arguments": {}}</tool_call>"#],
             content: "", calls: [("get_conditions", "{}")]),
        Case(name: "text before tool call", tag: qwen,
             inputs: [#"Let me check the weather. <tool_call>{"name": "get_temperature", "arguments": {"city": "New York"}}</tool_call>"#],
             content: "Let me check the weather. ", calls: [("get_temperature", #"{"city": "New York"}"#)]),
        Case(name: "qwen no args with text", tag: qwen, inputs: ["Let me say hello to the user. I'll use the say_hello tool. "],
             content: "Let me say hello to the user. I'll use the say_hello tool. ", calls: []),
        Case(name: "two tool calls in a list", tag: mistral,
             inputs: [#"[TOOL_CALLS] [{"name": "get_temperature", "arguments": {"city": "London", "format": "fahrenheit"}}, {"name": "get_conditions", "arguments": {"location": "Tokyo"}}][/TOOL_CALLS]"#],
             content: "", calls: [("get_temperature", #"{"city": "London", "format": "fahrenheit"}"#), ("get_conditions", #"{"location": "Tokyo"}"#)]),
        Case(name: "qwen two tool calls", tag: qwen,
             inputs: [#"Okay, let's call both tools! <tool_call>{"name": "get_temperature", "arguments": {"city": "London", "format": "fahrenheit"}}</tool_call><tool_call>{"name": "get_conditions", "arguments": {"location": "Tokyo"}}</tool_call>"#],
             content: "Okay, let's call both tools! ", calls: [("get_temperature", #"{"city": "London", "format": "fahrenheit"}"#), ("get_conditions", #"{"location": "Tokyo"}"#)]),
        Case(name: "empty args followed by args", tag: qwen,
             inputs: [#"Let me say hello and check the weather. <tool_call>{"name": "say_hello", "arguments": {}}</tool_call><tool_call>{"name": "get_temperature", "arguments": {"city": "London", "format": "fahrenheit"}}</tool_call>"#],
             content: "Let me say hello and check the weather. ", calls: [("say_hello", "{}"), ("get_temperature", #"{"city": "London", "format": "fahrenheit"}"#)]),
        Case(name: "deepseek", tag: deepseek,
             inputs: ["<think>Wait, I need to call a tool</think><|tool▁calls▁begin|><|tool▁call▁begin|>function<|tool▁sep|>get_temperature\n```json\n{\"city\": \"Tokyo\"}\n```<|tool▁call▁end|><|tool▁calls▁end|><|end▁of▁sentence|>"],
             content: "<think>Wait, I need to call a tool</think>", calls: [("get_temperature", #"{"city": "Tokyo"}"#)]),
        Case(name: "deepseek incremental", tag: deepseek,
             inputs: ["<think>Wait", ", I need", " to call", " a tool</think><|too", "l▁calls▁begin", "|>",
                      "<|tool▁call▁begin|>function<|tool▁sep|>get_temperature\n", "```json\n", "{\"city\": \"Tokyo\"}\n", "```",
                      "<|tool▁c", "all▁end|>", "<|tool▁calls▁end|>", "<|end▁of▁sentence|>"],
             content: "<think>Wait, I need to call a tool</think>", calls: [("get_temperature", #"{"city": "Tokyo"}"#)]),
        Case(name: "json", tag: json, inputs: ["{", "\"name\": \"get_temperature\",", "\"arguments\": {", "\"city\": \"Tokyo\"", "}", "}"],
             content: "", calls: [("get_temperature", #"{"city": "Tokyo"}"#)]),
        Case(name: "json maybe a tool call", tag: json, inputs: ["{", "\"name\": \"get_temperature\",", "\"arguments\": {"], content: "", calls: []),
        Case(name: "json not a tool call", tag: json,
             inputs: ["{", "\"name\": \"search\", ", "\"arguments\": {", "\"query\": \"What is the capital of Canada?\"", "}", "}"],
             content: #"{"name": "search", "arguments": {"query": "What is the capital of Canada?"}}"#, calls: []),
        Case(name: "json object followed by tool call", tag: json,
             inputs: [#"{"name": "jeff"}"#, #"{"name": "get_conditions", "arguments": {"location": "San Francisco"}}"#],
             content: #"{"name": "jeff"}{"name": "get_conditions", "arguments": {"location": "San Francisco"}}"#, calls: []),
        Case(name: "json object followed by tool call split", tag: json,
             inputs: [#"{"name": "jeff"} {"#, #""name": "get_conditions", "arguments": {"location": "San Francisco"}}"#],
             content: #"{"name": "jeff"} {"name": "get_conditions", "arguments": {"location": "San Francisco"}}"#, calls: []),
        Case(name: "json code", tag: json, inputs: ["for { fmt.Println(\"hello\") }"], content: "for { fmt.Println(\"hello\") }", calls: []),
        Case(name: "list multiple", tag: list,
             inputs: ["[", "{", "\"name\": \"get_temperature\", ", "\"arguments\": {", "\"city\": \"London\"", "}", "},", "{",
                      "\"name\": \"get_conditions\", ", "\"arguments\": {", "\"location\": \"Tokyo\"", "}", "}]"],
             content: "", calls: [("get_temperature", #"{"city": "London"}"#), ("get_conditions", #"{"location": "Tokyo"}"#)]),
        Case(name: "list partial", tag: list, inputs: ["[{", "\"name\": \"get_conditions\", ", "\"arguments\": {", "\"location\": \"Tokyo\"", "}", "}"],
             content: "", calls: [("get_conditions", #"{"location": "Tokyo"}"#)]),
        Case(name: "list invalid", tag: list, inputs: ["[", "{", "\"name\": \"search\", ", "\"arguments\": {", "\"query\": \"What is the capital of Canada?\"", "}", "}"],
             content: "", calls: []),
        Case(name: "list trailing ]", tag: list, inputs: ["[", "{", "\"name\": \"get_conditions\", ", "\"arguments\": {", "\"location\": \"Tokyo\"", "}", "}", "]", "]"],
             content: "", calls: [("get_conditions", #"{"location": "Tokyo"}"#)]),
        Case(name: "list not a tool call", tag: list, inputs: ["[special", " del", "ivery]"], content: "[special delivery]", calls: []),
        Case(name: "tool name with collision", tag: qwen, inputs: ["<tool_call>", "{", "\"name\": \"say_hello", "_world\",", "\"arguments\": {}}", "}"],
             content: "", calls: [("say_hello_world", "{}")]),
        Case(name: "tool name with collision multiple", tag: qwen,
             inputs: ["<tool_call>", "{", "\"name\": \"say_hello", "_world\",", "\"arguments\": {}}", "</tool_call>",
                      "<tool_call>", "{", "\"name\": \"say_hello", "\",", "\"arguments\": {}}", "</tool_call>"],
             content: "", calls: [("say_hello_world", "{}"), ("say_hello", "{}")]),
        Case(name: "tool name with collision non streaming", tag: qwen, inputs: [#"<tool_call>{"name": "say_hello"#], content: "", calls: []),
        Case(name: "tool name with collision non streaming multiple", tag: qwen,
             inputs: [#"<tool_call>{"name": "say_hello", "arguments": {}}</tool_call><tool_call>{"name": "say_hello_world", "arguments": {}}"#],
             content: "", calls: [("say_hello", "{}"), ("say_hello_world", "{}")]),
        Case(name: "tool name with substring of another (json)", tag: json,
             inputs: ["{", "\"name\": \"get_address\",", "\"arguments\": {", "\"location\": \"London\"", "}", "}"],
             content: "", calls: [("get_address", #"{"location": "London"}"#)]),
        Case(name: "args before name", tag: qwen, inputs: [#"<tool_call>{"arguments": {"a": "5", "b": "10"}, "name": "add"}</tool_call>"#],
             content: "", calls: [("add", #"{"a": "5", "b": "10"}"#)]),
        Case(name: "stringified arguments", tag: qwen,
             inputs: [#"<tool_call>{"name": "get_temperature", "arguments": "{\"city\": \"Paris\"}"}</tool_call>"#],
             content: "", calls: [("get_temperature", #"{"city": "Paris"}"#)]),
        Case(name: "llama parameters", tag: json, inputs: [#"{"name": "get_temperature", "parameters": {"city": "Oslo"}}"#],
             content: "", calls: [("get_temperature", #"{"city": "Oslo"}"#)]),
        Case(name: "leading text turns bare JSON off", tag: json,
             inputs: [#"some non json text{"name": "get_temperature", "parameters": {"city": "Oslo"}}"#],
             content: #"some non json text{"name": "get_temperature", "parameters": {"city": "Oslo"}}"#, calls: []),
        Case(name: "invalid JSON after the tag is dropped", tag: qwen, inputs: [#"<tool_call>{"name": "get_temperature", "arguments": {city: Oslo}}</tool_call>"#],
             content: "", calls: []),
        Case(name: "partial tag held, then released", tag: qwen, inputs: ["I think <tool", "_c", "ase is fine"],
             content: "I think <tool_case is fine", calls: []),
        Case(name: "tag split across pieces", tag: qwen, inputs: ["<", "tool_", "call>\n{\"name\": \"get_", "temperature\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"],
             content: "", calls: [("get_temperature", #"{"city": "Rome"}"#)]),
        Case(name: "braces inside strings", tag: qwen, inputs: [#"<tool_call>{"name": "add", "arguments": {"a": "if (x) { y }", "b": "}"}}</tool_call>"#],
             content: "", calls: [("add", #"{"a": "if (x) { y }", "b": "}"}"#)]),
    ]

    @Test(arguments: cases) func ollamaCases(_ c: Case) {
        let (content, calls) = run(c.tag, c.inputs)
        #expect(content == c.content)
        #expect(calls == c.calls.enumerated().map { call($0.offset, $0.element.0, $0.element.1) })
        // The same output in one piece gives the same calls (content may differ only where Ollama's does).
        let whole = run(c.tag, [c.inputs.joined()])
        #expect(whole.calls.map(\.name) == calls.map(\.name))
    }

    @Test func findTag() {
        func find(_ buffer: String, _ tag: String) -> (Int, Bool) {
            ToolCallParser.findTagIn(Array(buffer.utf8), tag: Array(tag.utf8))
        }
        #expect(find("hello world", "<tool_call>") == (-1, false))
        #expect(find("<tool_call>", "<tool_call>") == (0, true))
        #expect(find("    <tool_call>\n {\"name\": \"bob\"}", "<tool_call>") == (4, true))
        #expect(find("text <tool_call>", "<tool_call>") == (5, true))
        #expect(find("<tool_calls><tool_call>", "<tool_calls>") == (0, true))
        #expect(find("<tool>", "<tool_call>") == (-1, false))
        #expect(find("", "<tool_call>") == (-1, false))
        #expect(find("test<", "<tool_call>") == (4, false))
        #expect(find("hello <tool_", "<tool_call>") == (6, false))
        #expect(find("calling tools: [", "[") == (15, true))
        #expect(find("\n\n{\n\"name\": \"bob\"", "{") == (2, true))
    }

    @Test func findArguments() {
        func args(_ s: String, tool: String = "get_temperature") -> JSON? {
            ToolCallParser.findArguments(tool: Array(tool.utf8), Array(s.utf8))?.0
        }
        #expect(args("") == nil)
        #expect(args("   \n\t  ") == nil)
        #expect(args(#"{"format": "fahrenheit", "location": "San Francisco""#) == nil)
        #expect(args(#"{"format": "fahrenheit"}}"#) == (try! JSON.parse(#"{"format": "fahrenheit"}"#)))
        #expect(args(#"{format: fahrenheit, location: "San Francisco"}"#) == nil)
        #expect(args(#"[tool]get_temperature[args]{"format": "fahrenheit"}[end]"#) == (try! JSON.parse(#"{"format": "fahrenheit"}"#)))
        #expect(args(#"{"function": {"name": "get_temperature", "arguments": {"format": "x"}}}"#) == (try! JSON.parse(#"{"format": "x"}"#)))
        #expect(args(#"get_temperature({"location": "SF"})"#) == (try! JSON.parse(#"{"location": "SF"}"#)))
        #expect(args(#"{"name": "batch", "arguments": ["item1", "{\"nested\": true}"]}"#) == nil)
        #expect(args(#"{"name": "t", "arguments": {"text": "Unicode: \u007B and \u007D"}}"#) == (try! JSON.parse(#"{"text": "Unicode: { and }"}"#)))
        #expect(args(#"{"name": "t", "arguments": {"dir": "C:\\Program Files\\{App}\\"}}"#) == .object([("dir", .string(#"C:\Program Files\{App}\"#))]))
        #expect(args(#"{"name": "test", "arguments": {"data": "some {""#) == nil)
        #expect(args(#"{"get_temperature": {"city": "Lima"}}"#) == (try! JSON.parse(#"{"city": "Lima"}"#)))
    }

    @Test func remainingContent() {
        var p = ToolCallParser(tag: "{", toolNames: Self.tools)
        #expect(p.add("{ fmt.Println(\"hello\")").content == "")
        #expect(p.remainingContent() == "{ fmt.Println(\"hello\")")
        var q = ToolCallParser(tag: "<tool_call>", toolNames: Self.tools)
        #expect(q.add("<tool_call>{\"name\": \"get_temperature\"").content == "")
        #expect(q.remainingContent() == "")
        var r = ToolCallParser(tag: "{", toolNames: Self.tools)
        #expect(r.add(#"{"name": "add", "arguments": {"a": "1"}} and more"#).calls.count == 1)
        #expect(r.remainingContent() == "")
    }
}

@Suite struct ToolTemplateTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("oracle/templates")

    /// Tags as Python jinja2 renders the same probes (the oracle gives the same table).
    @Test(arguments: [
        ("Qwen-Qwen2.5-7B-Instruct", true, "<tool_call>"),
        ("Qwen-Qwen3-0.6B", true, "<tool_call>"),
        ("Qwen-QwQ-32B", true, "<tool_call>"),
        ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", true, "<tool_call>"),
        ("meta-llama-Llama-3.2-3B-Instruct", true, "{"),
        ("meta-llama-Llama-3.3-70B-Instruct", true, "{"),
        ("mistralai-Mistral-Nemo-Instruct-2407", true, "[TOOL_CALLS]["),
        ("mistralai-Mistral-Small-3.1-24B-Instruct-2503", true, "[TOOL_CALLS] ["),
        ("unsloth-mistral-Devstral-Small-2507", true, "[TOOL_CALLS]"),
        ("llama-cpp-microsoft-Phi-4-mini-instruct", true, "<|tool_call|>"),
        ("GLM-4.6", true, "<tool_call>"),
        ("ibm-granite-granite-3.3-2B-Instruct", true, "{"),
        ("HuggingFaceTB-SmolLM2-135M-Instruct", false, "{"),
        ("google-gemma-2-2b-it", false, "{"),
        ("Qwen-Qwen2-7B-Instruct", false, "{"),
    ])
    func realTemplates(_ name: String, _ supports: Bool, _ tag: String) throws {
        let source = try String(contentsOf: Self.dir.appendingPathComponent(name + ".jinja"), encoding: .utf8)
        let t = ToolTemplate.analyze(source)
        #expect(t.supportsTools == supports)
        #expect(t.tag == tag)
    }

    @Test func brokenTemplateHasNoTools() {
        #expect(ToolTemplate.analyze("{% if %}") == ToolTemplate(supportsTools: false, tag: "{"))
        #expect(ToolTemplate.analyze("{{ raise_exception('no') }}").supportsTools == false)
    }
}

@Suite struct ToolCallWireTests {
    @Test func ollamaAndOpenAIShapes() throws {
        let c = IdentifiedToolCall(id: "call_abc12345", call: ToolCall(index: 1, name: "add", arguments: try JSON.parse(#"{"a": 1, "b": "x"}"#)))
        #expect(c.ollama.serialized() == #"{"id":"call_abc12345","function":{"index":1,"name":"add","arguments":{"a":1,"b":"x"}}}"#)
        #expect(c.openAI.serialized() == #"{"id":"call_abc12345","index":1,"type":"function","function":{"name":"add","arguments":"{\"a\":1,\"b\":\"x\"}"}}"#)
        let id = IdentifiedToolCall.newID()
        #expect(id.hasPrefix("call_") && id.count == 13 && id.dropFirst(5).allSatisfy { $0.isLowercase || $0.isNumber })
    }

    @Test func streamGivesIdsAndRemembersCalls() {
        let tools: [JSON] = [.object([("type", .string("function")), ("function", .object([("name", .string("add"))]))])]
        let s = ToolCallStream(tag: "<tool_call>", tools: tools)
        #expect(s.add("Sure. <tool").content == "Sure. ")
        #expect(!s.sentCalls)
        let (calls, content) = s.add(#"_call>{"name": "add", "arguments": {"a": 2}}</tool_call>"#)
        #expect(content == "" && calls.count == 1 && calls[0].call.name == "add" && calls[0].id.hasPrefix("call_"))
        #expect(s.sentCalls && s.finish() == "")
    }

    @Test func openAIMessagesConverted() throws {
        var names: [String: String] = [:]
        let assistant = try RequestJSON.parse(Array(#"{"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 1}"}}]}"#.utf8), type: "Message")
        let a = try LLMServer.openAIToolFields(assistant, role: "assistant", names: &names)
        #expect(JSON.object(a).serialized() == #"{"tool_calls":[{"id":"call_1","type":"function","function":{"index":0,"name":"add","arguments":{"a":1}}}]}"#)
        let tool = try RequestJSON.parse(Array(#"{"role": "tool", "tool_call_id": "call_1", "content": "3"}"#.utf8), type: "Message")
        #expect(JSON.object(try LLMServer.openAIToolFields(tool, role: "tool", names: &names)).serialized() == #"{"tool_call_id":"call_1","tool_name":"add"}"#)
        let bad = try RequestJSON.parse(Array(#"{"role": "assistant", "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": "{oops"}}]}"#.utf8), type: "Message")
        #expect(throws: APIError.self) { try LLMServer.openAIToolFields(bad, role: "assistant", names: &names) }
    }
}
