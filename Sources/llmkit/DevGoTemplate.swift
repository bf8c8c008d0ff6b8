// llmkit dev gotemplate: executes Go templates for checking the engine against Go's text/template
// (Tests/oracle/test_go_template.py). Reads JSON lines {"template", "data", "mode"} from stdin and prints one JSON
// line per case, {"output": …} or {"error": …}. Modes: "plain" (text/template's defaults), "zero"
// (missingkey=zero and `json`, Ollama's parse options), "ollama" (data is {"messages", "tools", "prompt",
// "suffix"}, rendered as Ollama's template.Execute renders a chat or a generate).
import ArgumentParser
import Foundation
import Formats
import Infer
import Server

struct DevGoTemplate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gotemplate",
        abstract: "Execute Go text/templates from JSON lines on stdin (template, data, mode) and print JSON lines.")

    func run() throws {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        var out = ""
        for line in String(decoding: input, as: UTF8.self).split(separator: "\n") where !line.isEmpty {
            let result: JSON
            do {
                let c = try TemplateValue.parse(String(line))
                guard case let .string(source)? = c["template"] else { throw ValidationError("each line needs \"template\"") }
                let data = c["data"] ?? .null
                var mode = "plain"
                if case let .string(m)? = c["mode"] { mode = m }
                result = .object([("output", .string(try DevGoTemplate.render(source, data: data, mode: mode)))])
            } catch let e as GoTemplateError {
                result = .object([("error", .string(e.message))])
            } catch let e as APIError {
                result = .object([("error", .string(e.message))])
            }
            out += result.serialized() + "\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    static func render(_ source: String, data: JSON, mode: String) throws -> String {
        switch mode {
        case "plain": return try GoTemplate(source).execute(GoValue(json: data))
        case "zero": return try GoTemplate(source, functions: ["json"]).execute(GoValue(json: data), missingKeyZero: true)
        case "ollama":
            let t = try OllamaTemplate(source)
            let prompt = data["prompt"].flatMap { if case let .string(s) = $0 { s } else { nil } } ?? ""
            let suffix = data["suffix"].flatMap { if case let .string(s) = $0 { s } else { nil } } ?? ""
            if !suffix.isEmpty { return try t.render(prompt: prompt, suffix: suffix) }
            var messages: [JSON] = []
            if case let .array(a)? = data["messages"] { messages = a }
            var tools: [JSON]? = nil
            if case let .array(a)? = data["tools"] { tools = a }
            return try t.render(messages: messages, tools: tools)
        default: throw ValidationError("mode must be plain, zero or ollama")
        }
    }
}

private extension JSON {
    subscript(key: String) -> JSON? {
        guard case let .object(o) = self else { return nil }
        return o.last(where: { $0.0 == key })?.1
    }
}
