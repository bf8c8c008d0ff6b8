// ChatTemplate: a model's `tokenizer.chat_template` (a Jinja template), parsed once and rendered as Hugging
// Face's `apply_chat_template` renders it — jinja2's ImmutableSandboxedEnvironment with trim_blocks and
// lstrip_blocks, the loopcontrols extension, its own `tojson` (no HTML escaping, ensure_ascii=False) and the
// globals `raise_exception` and `strftime_now`; `tools` and `documents` are always passed (None when absent).
// Output equals jinja2's for the constructs real templates use; anything else is an `InferError.template`
// naming the line and column, never a crash.

public struct ChatTemplate: Sendable {
    public let source: String
    private let nodes: [TemplateNode]

    /// Parses `source`; a syntax error throws `InferError.template("line L col C: …")`.
    public init(_ source: String) throws {
        self.source = source
        do {
            nodes = try TemplateParser.parse(try TemplateLexer.tokenize(source))
        } catch let e as TemplateError {
            throw ChatTemplate.inferError(e.message, e.position)
        }
    }

    /// Renders a conversation. `messages` are objects with at least `role` and `content`; `tools` are JSON
    /// schemas as Hugging Face passes them; `extra` adds or overrides variables (e.g. `date_string`).
    public func render(messages: [TemplateValue], addGenerationPrompt: Bool, bosToken: String, eosToken: String,
                       tools: [TemplateValue]? = nil, extra: [String: TemplateValue] = [:]) throws -> String {
        var context: [String: TemplateValue] = [
            "messages": .array(messages),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
            "tools": tools.map { .array($0) } ?? .null,
            "documents": .null,
        ]
        for (k, v) in extra { context[k] = v }
        return try render(context: context)
    }

    /// Renders plain `(role, content)` turns.
    public func render(messages: [(role: String, content: String)], addGenerationPrompt: Bool, bosToken: String,
                       eosToken: String, tools: [TemplateValue]? = nil, extra: [String: TemplateValue] = [:]) throws -> String {
        try render(messages: messages.map { .message(role: $0.role, content: $0.content) },
                   addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken,
                   tools: tools, extra: extra)
    }

    /// Renders with exactly these variables (plus the globals); nothing is added.
    public func render(context: [String: TemplateValue]) throws -> String {
        do {
            return try TemplateInterpreter(context: context.mapValues(\.value)).render(nodes)
        } catch let e as TemplateError {
            throw ChatTemplate.inferError(e.message, e.position)
        } catch let e as RaisedException {
            throw ChatTemplate.inferError("raise_exception: \(e.message)", e.position)
        }
    }

    private static func inferError(_ message: String, _ position: TemplatePosition?) -> InferError {
        .template(position.map { "\($0): \(message)" } ?? message)
    }
}
