// llmkit dev chat-template: renders a chat template file over a JSON context, for checking the renderer
// against Python's jinja2 (Tests/oracle/test_chat_template.py). Prints the rendering exactly, with no newline.
import ArgumentParser
import Foundation
import Infer

struct ChatTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-template",
        abstract: "Render a Jinja chat template with the variables of a JSON object (messages, add_generation_prompt …).",
        discussion: "The context is passed as is (Hugging Face also passes tools=None and documents=None; put them in the JSON to match).")

    @Option(help: "Template file (.jinja).") var template: String
    @Option(help: "JSON file holding one object: the template's variables.") var context: String

    func run() throws {
        do {
            guard let source = FileManager.default.contents(atPath: template) else {
                throw ValidationError("cannot read \(template)")
            }
            guard let data = FileManager.default.contents(atPath: context) else {
                throw ValidationError("cannot read \(context)")
            }
            guard case let .object(pairs) = try TemplateValue.parse(String(decoding: data, as: UTF8.self)) else {
                throw ValidationError("\(context): the context must be a JSON object")
            }
            let compiled = try ChatTemplate(String(decoding: source, as: UTF8.self))
            let text = try compiled.render(context: Dictionary(pairs, uniquingKeysWith: { _, last in last }))
            FileHandle.standardOutput.write(Data(text.utf8))
        } catch {
            fail(error)
        }
    }
}
