// llmkit tokenize: the token ids of a text under a model's tokenizer, printed like llama.cpp's llama-tokenize.
import ArgumentParser
import Foundation
import Infer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize a text with a model's tokenizer (like llama-tokenize).",
        discussion: """
            MODEL is a GGUF file, a tokenizer.json, or a Hugging Face folder holding one. Prints one line per \
            token, `id -> 'piece'`; with --ids a list `[1, 2, 3]`; with --detokenize the text the ids decode to. \
            BOS/EOS are added when the model asks for them (not with --no-bos); special tokens written in the \
            text (e.g. <|im_start|>) become their ids unless --no-special. The text is taken as is (no escape \
            processing, like llama-tokenize --no-escape).
            """)

    @Argument(help: "A .gguf file, a tokenizer.json, or a Hugging Face folder.")
    var model: String

    @Argument(help: "The text (or use --file).")
    var text: String?

    @Option(help: "Read the text from this file (UTF-8).")
    var file: String?

    @Flag(help: "Print only the ids, as a list.")
    var ids = false

    @Flag(help: "Do not parse special tokens in the text (llama-tokenize --no-parse-special).")
    var noSpecial = false

    @Flag(help: "Add no BOS/EOS even if the model asks for them (llama-tokenize --no-bos).")
    var noBos = false

    @Flag(help: "Print the text the ids decode back to (special tokens rendered) instead of the tokens.")
    var detokenize = false

    @Flag(help: "Print the encode time to stderr.")
    var timing = false

    func run() throws {
        let input: String
        switch (text, file) {
        case let (t?, nil): input = t
        case let (nil, f?):
            guard let d = FileManager.default.contents(atPath: f) else { fail(ValidationError("cannot read \(f)")) }
            input = String(decoding: d, as: UTF8.self)
        default: throw ValidationError("give either TEXT or --file")
        }
        let tokenizer: any Tokenizer
        do { tokenizer = try Tokenizers.load(path: model) } catch { fail(error) }

        let t0 = DispatchTime.now().uptimeNanoseconds
        let tokens = tokenizer.encode(input, addSpecial: !noBos, parseSpecial: !noSpecial)
        let t1 = DispatchTime.now().uptimeNanoseconds
        if timing {
            printErr(String(format: "encode: %d bytes -> %d tokens in %.1f ms", input.utf8.count, tokens.count, Double(t1 - t0) / 1e6))
        }

        var out = ""
        if detokenize {
            out = tokenizer.decode(tokens, special: true)
        } else if ids {
            out = "[" + tokens.map(String.init).joined(separator: ", ") + "]\n"
        } else {
            for t in tokens {
                let bytes = tokenizer.piece(t, special: true)
                let valid = String(validating: bytes, as: UTF8.self)
                let idText = String(t)
                out += String(repeating: " ", count: max(0, 6 - idText.count)) + idText + " -> '"
                out += valid ?? String(decoding: bytes, as: UTF8.self)
                out += valid == nil ? "' (utf-8 decode failure)\n" : "'\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
