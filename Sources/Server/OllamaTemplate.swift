// OllamaTemplate: a Modelfile TEMPLATE in Go's text/template syntax, rendered as Ollama's template package
// renders it — parsed with missingkey=zero and the `json` function, `{{ .Response }}` appended when the template
// names neither .Messages nor .Response, messages collated (consecutive same-role messages joined by a blank line,
// system messages gathered into .System), and the three ways Ollama executes one:
//   - .Prompt and .Suffix (generate with `suffix`, when the template uses .Suffix),
//   - .Messages (with .System, .Tools, .Response = ""), when the template names .Messages,
//   - the legacy path: one execution per system/user/assistant turn with .System/.Prompt/.Response, the last one
//     cut after its first .Response so the answer can follow.
// Which syntax a template is: Jinja when it has `{%` or `{#`, or when Go cannot parse it and Jinja can; otherwise
// Go. A GGUF's `tokenizer.chat_template` is always Jinja.
import Formats
import Hummingbird
import Infer

public struct OllamaTemplate {
    public let template: GoTemplate
    public let vars: [String]

    /// Parses as Ollama's template.Parse; a syntax error is a 500 with Go's text, as generate answers a bad request
    /// `template` (server/routes.go GenerateHandler); /api/create's check (`validate`) makes it a 400.
    public init(_ source: String) throws(APIError) {
        do {
            var t = try GoTemplate(source, functions: ["json"])
            let vars = t.identifiers
            if !vars.contains("messages"), !vars.contains("response") { t = t.appendingField("Response") }
            template = t
            self.vars = vars
        } catch {
            throw APIError(.internalServerError, error.message)
        }
    }

    /// Whether a manifest or request template is Go (as opposed to Jinja).
    public static func isGo(_ source: String) -> Bool {
        if source.contains("{%") || source.contains("{#") { return false }
        if (try? GoTemplate(source, functions: ["json"])) != nil { return true }
        if hasGoOperand(source) { return true }   // broken Go (`{{ if .System }}`), reported as Go's error
        return (try? ChatTemplate(source)) == nil
    }

    /// An action with a Go field or variable operand: `.Name`, `.` or `$x` at the start of an operand (after `{{`,
    /// a space, `(` or `|`), which Jinja never writes.
    private static func hasGoOperand(_ source: String) -> Bool {
        let b = Array(source.utf8)
        var i = 0
        var inAction = false
        while i + 1 < b.count {
            if !inAction {
                if b[i] == 0x7B, b[i + 1] == 0x7B { inAction = true; i += 2; if i < b.count, b[i] == 0x2D { i += 1 }; continue }
            } else {
                if b[i] == 0x7D, b[i + 1] == 0x7D { inAction = false; i += 2; continue }
                let prev: UInt8 = i > 0 ? b[i - 1] : 0x20
                let atOperand = prev == 0x20 || prev == 0x09 || prev == 0x0A || prev == 0x28 || prev == 0x7C || prev == 0x7B || prev == 0x2D
                if atOperand, b[i] == 0x24 || (b[i] == 0x2E && !(b[i + 1] >= 0x30 && b[i + 1] <= 0x39)) { return true }
            }
            i += 1
        }
        if inAction, let last = b.last, last == 0x24 || last == 0x2E { return true }
        return false
    }

    /// /api/create: a Go template must parse (400 with the parse error); Jinja ones are checked when used.
    static func validate(_ source: String) throws(APIError) {
        guard isGo(source) else { return }
        do { _ = try OllamaTemplate(source) } catch { throw .badRequest(error.message) }
    }

    /// Ollama's rule for `suffix`: the template uses .Suffix.
    public var usesSuffix: Bool { vars.contains("suffix") }

    /// The Go template to fill in for generate's `suffix`, or nil when the template is not Go or has no .Suffix.
    static func insertTemplate(_ source: String?) throws(APIError) -> OllamaTemplate? {
        guard let source, isGo(source) else { return nil }
        let t = try OllamaTemplate(source)
        return t.usesSuffix ? t : nil
    }

    // MARK: rendering

    /// generate with a suffix: {Prompt, Suffix, Response: ""}.
    public func render(prompt: String, suffix: String) throws(APIError) -> String {
        if prompt.isEmpty || suffix.isEmpty { return try render(messages: [.message(role: "user", content: prompt)], tools: nil) }
        return try execute(template, .map(GoMap([("Prompt", .string(prompt)), ("Suffix", .string(suffix)),
                                                 ("Response", .string("")), ("Think", .bool(false)),
                                                 ("IsThinkSet", .bool(false))])))
    }

    /// chat, and generate without a suffix (its system and prompt as messages).
    public func render(messages: [JSON], tools: [JSON]?) throws(APIError) -> String {
        let (system, collated) = OllamaTemplate.collate(messages)
        if vars.contains("messages") || vars.contains("document") {
            let data: [(String, GoValue)] = [
                ("System", .string(system)), ("Messages", .list(collated.map(OllamaTemplate.message))),
                ("Tools", .list((tools ?? []).map(OllamaTemplate.tool))), ("Response", .string("")),
                ("Think", .bool(false)), ("IsThinkSet", .bool(false)), ("Query", .string("")),
                ("Document", .string("")), ("Instruction", .string("")),
            ]
            return try execute(template, .map(GoMap(data)))
        }
        // Legacy: one execution per turn.
        var out = ""
        var sys = "", prompt = "", response = ""
        func turn() -> GoValue {
            .map(GoMap([("System", .string(sys)), ("Prompt", .string(prompt)), ("Response", .string(response)),
                        ("Think", .bool(false)), ("IsThinkSet", .bool(false))]))
        }
        for m in collated {
            let content = m["content"]?.stringValue ?? ""
            switch m["role"]?.stringValue {
            case "system":
                if !prompt.isEmpty || !response.isEmpty { out += try execute(template, turn()); sys = ""; prompt = ""; response = "" }
                sys = content
            case "user":
                if !response.isEmpty { out += try execute(template, turn()); sys = ""; prompt = ""; response = "" }
                prompt = content
            case "assistant":
                response = content
            default: break
            }
        }
        // The last turn runs in a fresh template (no defined templates, no `json`, missingkey default).
        out += try execute(template.cutAfterField("Response"), turn(), standalone: true)
        return out
    }

    /// An execution error is a 500 with Go's text: Ollama's handlers answer a failed tmpl.Execute / chatPrompt so.
    private func execute(_ t: GoTemplate, _ data: GoValue, standalone: Bool = false) throws(APIError) -> String {
        do {
            return try t.execute(data, missingKeyZero: !standalone, standalone: standalone,
                                 limits: GoExecutorLimits(maxSteps: 2_000_000, maxOutputBytes: 16 << 20, maxDepth: 100))
        } catch {
            throw APIError(.internalServerError, error.message)
        }
    }

    // MARK: values

    /// Ollama's collate: system contents joined into .System; consecutive messages of one role (not tool) merged
    /// with a blank line, the first message's other fields kept.
    static func collate(_ messages: [JSON]) -> (String, [JSON]) {
        var system: [String] = []
        var out: [JSON] = []
        for m in messages {
            let role = m["role"]?.stringValue ?? ""
            let content = m["content"]?.stringValue ?? ""
            if role == "system" { system.append(content) }
            if let last = out.last, last["role"]?.stringValue == role, role != "tool",
               case var .object(fields) = last, let k = fields.firstIndex(where: { $0.0 == "content" }) {
                fields[k].1 = .string((last["content"]?.stringValue ?? "") + "\n\n" + content)
                out[out.count - 1] = .object(fields)
            } else {
                out.append(m)
            }
        }
        return (system.joined(separator: "\n\n"), out)
    }

    private static func record(_ type: String, _ fields: [(String, String, Bool, GoValue)]) -> GoValue {
        var json: [String: GoMap.JSONField] = [:]
        for f in fields { json[f.0] = GoMap.JSONField(f.1, omitEmpty: f.2) }
        return .map(GoMap(fields.map { ($0.0, $0.3) }, record: GoMap.Record(typeName: type, json: json)))
    }

    /// A JSON object as one of Ollama's ordered maps (its keys keep their order in `json`).
    private static func ordered(_ j: JSON) -> GoValue {
        guard case var .map(m) = GoValue(json: j) else { return GoValue(json: j) }
        m.ordered = true
        return .map(m)
    }

    private static func str(_ j: JSON?) -> GoValue { .string(j?.stringValue ?? "") }

    /// An api.Message as a *api.Message struct.
    static func message(_ m: JSON) -> GoValue {
        let calls: [GoValue] = (m["tool_calls"]?.arrayValue ?? []).map { c in
            let f = c["function"]
            let function = record("api.ToolCallFunction", [
                ("Index", "index", true, .int(f?["index"]?.intValue ?? 0)),
                ("Name", "name", false, str(f?["name"])),
                ("Arguments", "arguments", false, f?["arguments"].map(ordered) ?? .map(GoMap())),
            ])
            return record("api.ToolCall", [("ID", "id", true, str(c["id"])), ("Function", "function", false, function)])
        }
        return record("*api.Message", [
            ("Role", "role", false, str(m["role"])), ("Content", "content", false, str(m["content"])),
            ("Thinking", "thinking", true, str(m["thinking"])), ("Images", "images", true, .list([])),
            ("ToolCalls", "tool_calls", true, .list(calls)), ("ToolName", "tool_name", true, str(m["tool_name"])),
            ("ToolCallID", "tool_call_id", true, str(m["tool_call_id"])),
        ])
    }

    /// A tool's parameter properties: an ordered map of api.ToolProperty.
    private static func properties(_ j: JSON) -> GoValue {
        guard case let .object(o) = j else { return GoValue(json: j) }
        var m = GoMap(o.map { name, p in
            (name, record("api.ToolProperty", [
                ("Type", "type", true, str(p["type"])),
                ("Items", "items", true, p["items"].map { GoValue(json: $0) } ?? .null),
                ("Description", "description", true, str(p["description"])),
                ("Enum", "enum", true, p["enum"].map { GoValue(json: $0) } ?? .list([])),
            ]))
        })
        m.ordered = true
        return .map(m)
    }

    /// An api.Tool.
    static func tool(_ t: JSON) -> GoValue {
        let f = t["function"]
        let p = f?["parameters"]
        let parameters = record("api.ToolFunctionParameters", [
            ("Type", "type", false, str(p?["type"])),
            ("Defs", "$defs", true, p?["$defs"].map { GoValue(json: $0) } ?? .null),
            ("Items", "items", true, p?["items"].map { GoValue(json: $0) } ?? .null),
            ("Required", "required", true, p?["required"].map { GoValue(json: $0) } ?? .list([])),
            ("Properties", "properties", false, p?["properties"].map(properties) ?? .null),
        ])
        let function = record("api.ToolFunction", [
            ("Name", "name", false, str(f?["name"])), ("Description", "description", true, str(f?["description"])),
            ("Parameters", "parameters", false, parameters),
        ])
        return record("api.Tool", [("Type", "type", false, str(t["type"])),
                                   ("Items", "items", true, t["items"].map { GoValue(json: $0) } ?? .null),
                                   ("Function", "function", false, function)])
    }
}

extension LLMServer {
    /// `_debug_render_only`: the prompt as it would be rendered, without generating (the model is loaded for its
    /// tokenizer and template, as Ollama's handlers do).
    func renderOnly(_ m: StoredModel, keepAlive: KeepAlive, templateOverride: String? = nil,
                    _ render: (PromptBuilder, _ defaultContext: Int) throws -> String) async throws -> String {
        let (runner, _) = try await manager.acquire(m)
        defer { Task { await manager.release(m, keepAlive: keepAlive) } }
        return try render(PromptBuilder(model: runner.model, stored: m, templateOverride: templateOverride), runner.defaultContext)
    }

    /// generate's `context` as text, as Ollama's Detokenize gives it (each token's piece, special tokens included);
    /// an id outside the vocabulary is the 400 generation gives.
    static func detokenizeContext(_ ids: [Int], _ model: Model) throws(APIError) -> String {
        let n = model.network.vocabularySize
        if let bad = ids.first(where: { $0 < 0 || $0 >= n }) {
            throw .badRequest("context token \(bad) is outside the vocabulary (0..<\(n))")
        }
        return String(decoding: ids.flatMap { model.tokenizer.piece($0, special: true) }, as: UTF8.self)
    }

    /// Ollama's reply to `_debug_render_only`: generate's or chat's response shape with `_debug_info`.
    static func debugRendered(model: String, prompt: String, chat: Bool) -> Response {
        let body: (String, JSON) = chat
            ? ("message", .object([("role", .string("")), ("content", .string(""))]))
            : ("response", .string(""))
        return json(.object([("model", .string(model)), ("created_at", .string(Timestamp.now())), body,
                             ("done", .bool(false)),
                             ("_debug_info", .object([("rendered_template", .string(prompt))]))]))
    }
}

private extension JSON {
    var stringValue: String? { if case let .string(s) = self { s } else { nil } }
    var arrayValue: [JSON]? { if case let .array(a) = self { a } else { nil } }
    var intValue: Int? {
        switch self {
        case let .int(i): i
        case let .double(d) where d == d.rounded() && abs(d) < 1e15: Int(d)
        default: nil
        }
    }
}
