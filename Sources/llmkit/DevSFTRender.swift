// llmkit dev sft-render: the tokens `llmkit finetune` trains on for each record of a data file — the prompt (what a
// generation at eval time starts from) and the response (incl. the end-of-turn token) — one JSON object per line,
// for checking the rendering against jinja2 + the tokenizer (Tests/oracle/test_finetune.py) and for eval tools.
import ArgumentParser
import Finetune
import Formats
import Foundation
import Infer

struct DevSFTRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft-render",
        abstract: "Print each data record's prompt and response tokens as finetune renders them (JSON lines).",
        discussion: "Output: {\"source\": \"file:line\", \"format\": …, \"prompt\": [ids], \"response\": [ids], \"prompt_text\": …}.")

    @Argument(help: "Base GGUF (its tokenizer and chat template).") var model: String
    @Option(help: "Data file (alpaca, chat, completion or text).") var data: String

    func run() throws {
        do {
            let file: GGUFFile
            do { file = try GGUFFile(path: model) } catch { throw FinetuneError.data(file: model, message: "\(error)") }
            let tokenizer = try Tokenizers.load(metadata: file.metadata)
            let prompt = try SFTPrompt(tokenizer: tokenizer, chatTemplate: file.metadata["tokenizer.chat_template"]?.string)
            var out = ""
            for r in try SFTData.load(path: data) {
                let (p, resp) = try prompt.render(r)
                out += JSON.object([
                    ("source", .string(r.source)), ("format", .string(r.format.rawValue)),
                    ("prompt", .array(p.map { .int(Int($0)) })), ("response", .array(resp.map { .int(Int($0)) })),
                    ("prompt_text", try prompt.promptText(r).map { .string($0) } ?? .null),
                ]).serialized() + "\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        } catch {
            fail(error)
        }
    }
}
