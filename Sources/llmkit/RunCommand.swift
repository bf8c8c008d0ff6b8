// llmkit run: chat with a model (REPL with its chat template, like `ollama run`), answer one prompt, or continue raw
// text (--raw). Text streams to stdout as it is generated.
import ArgumentParser
import Foundation
import Infer

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Generate text with a model: an interactive chat, one chat turn, or a raw completion.",
        discussion: """
            Without PROMPT and with a terminal on stdin: a chat REPL using the model's chat template (/bye or EOF \
            ends it, /clear forgets the conversation). With PROMPT (or text piped on stdin): one chat turn, or with \
            --raw the text is continued as is. Special tokens written in the prompt are parsed. When the context \
            (--ctx) is full, it is shifted as llama.cpp does: the first --keep tokens (and BOS) stay, half of the rest \
            is dropped, and generation goes on (not for models with learned positions, e.g. gpt2).
            """)

    @Argument(help: "GGUF model file.") var model: String
    @Argument(help: "Prompt (one-shot).") var prompt: String?
    @Flag(help: "Continue the prompt as raw text instead of a chat turn.") var raw = false
    @Option(help: "System message for chat.") var system: String?
    @Flag(help: "Keep generating past end-of-generation tokens.") var ignoreEOS = false
    @Option(help: "Tokens kept from the start of the context when it is shifted (BOS is kept besides; -1: the whole prompt).")
    var keep = 0
    @Flag(inversion: .prefixedNo, help: "Shift the context when it is full instead of stopping.")
    var contextShift = true
    @Flag(help: "Print timings (prompt and generation tokens/s) to stderr at the end of each answer.") var verbose = false
    @OptionGroup var runtime: ModelRuntimeOptions
    @OptionGroup var sampling: SamplingFlags
    @OptionGroup var adapterOptions: AdapterOptions

    func run() throws {
        let m = loadModel(model, adapters: adapterOptions)
        let ctx = runtime.context(for: m.network)
        let cache = m.network.makeCache(contextLength: ctx, precision: runtime.precision)
        var session = ChatSession(model: m, cache: cache, options: generationOptions())
        session.keep = contextShift && sampling.numPredict != -2 ? keep : nil

        if raw {
            let text = prompt ?? readStdin()
            do { try session.complete(text, verbose: verbose) } catch { fail(error) }
            return
        }
        if let prompt {
            do { try session.turn(prompt, system: system, verbose: verbose) } catch { fail(error) }
            return
        }
        if isatty(0) == 0 {
            do { try session.turn(readStdin(), system: system, verbose: verbose) } catch { fail(error) }
            return
        }
        // Interactive.
        FileHandle.standardError.write(Data("llmkit: chatting with \(m.name) (/bye to quit, /clear to forget)\n".utf8))
        while true {
            FileHandle.standardOutput.write(Data(">>> ".utf8))
            guard let line = readLine(strippingNewline: true) else { print(); break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input == "/bye" || input == "/exit" { break }
            if input == "/clear" { session.clear(); continue }
            do { try session.turn(input, system: system, verbose: verbose) } catch let e as InferError {
                printErr("llmkit: error: \(e)")
            }
            print()
        }
    }

    func generationOptions() -> GenerationOptions {
        var o = GenerationOptions()
        o.sampling = sampling.options
        o.maxTokens = sampling.numPredict < 0 ? nil : sampling.numPredict
        o.stop = sampling.stop
        o.ignoreEOS = ignoreEOS
        o.threads = runtime.threads
        return o
    }

    func readStdin() -> String {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
}

/// A conversation over one KV cache: each turn re-renders the whole chat, and only the tokens after the longest
/// prefix already in the cache are run again.
struct ChatSession {
    let model: Model
    let cache: KVCache
    let options: GenerationOptions
    /// --keep when the context shifts (nil: stop at a full context).
    var keep: Int? = nil
    var messages: [(role: String, content: String)] = []
    var cached: [Int] = []  // tokens whose keys/values are in the cache, in order
    private var template: ChatTemplate?  // parsed on the first turn, then reused

    init(model: Model, cache: KVCache, options: GenerationOptions) {
        self.model = model
        self.cache = cache
        self.options = options
    }

    mutating func clear() {
        messages = []
        cached = []
        cache.truncate(to: 0)
    }

    mutating func turn(_ text: String, system: String?, verbose: Bool) throws {
        if template == nil {
            guard let source = model.chatTemplate else {
                throw InferError.invalidRequest("\(model.name) has no chat template; use --raw")
            }
            template = try ChatTemplate(source)
        }
        if messages.isEmpty, let system { messages.append(("system", system)) }
        messages.append(("user", text))
        let tok = model.tokenizer
        let bosText = tok.bos.map { String(decoding: tok.piece($0, special: true), as: UTF8.self) } ?? ""
        let eosText = tok.eos.map { String(decoding: tok.piece($0, special: true), as: UTF8.self) } ?? ""
        func encoded() throws -> [Int] {
            Self.encodePrompt(try template!.render(messages: messages, addGenerationPrompt: true, bosToken: bosText, eosToken: eosText), tok)
        }
        var ids = try encoded()
        // A conversation grown past the context (it shifted): the oldest turns go, as the server truncates chats.
        while keep != nil, ids.count > cache.contextLength,
              let i = messages.firstIndex(where: { $0.role != "system" }), i < messages.count - 1 {
            messages.remove(at: i)
            ids = try encoded()
        }
        let answer = try generate(tokens: ids, verbose: verbose)
        messages.append(("assistant", answer))
    }

    mutating func complete(_ text: String, verbose: Bool) throws {
        _ = try generate(tokens: model.tokenizer.encode(text, addSpecial: true, parseSpecial: true), verbose: verbose)
    }

    /// Tokens of a rendered chat: special tokens parsed, BOS added where the model asks for it unless the template
    /// already wrote one (llama.cpp warns about the double BOS; Ollama avoids it).
    static func encodePrompt(_ rendered: String, _ tok: any Tokenizer) -> [Int] {
        var ids = tok.encode(rendered, addSpecial: true, parseSpecial: true)
        if ids.count >= 2, let bos = tok.bos, tok.addsBOS, ids[0] == bos, ids[1] == bos { ids.removeFirst() }
        return ids
    }

    private mutating func generate(tokens: [Int], verbose: Bool) throws -> String {
        var common = 0
        while common < min(tokens.count - 1, cached.count) && tokens[common] == cached[common] { common += 1 }
        if cache.count != cached.count { common = 0 }
        cache.truncate(to: common)
        var o = options
        if let keep {
            // llama.cpp's n_keep: negative or beyond the prompt → the whole prompt; else BOS kept besides.
            let tok = model.tokenizer
            let bos = tok.addsBOS && tok.bos != nil && tokens.first == tok.bos ? 1 : 0
            o.shiftKeep = keep < 0 || keep > tokens.count ? tokens.count : min(keep + bos, tokens.count)
        }
        let g = try Generator(model: model.network, tokenizer: model.tokenizer, cache: cache,
                              prompt: Array(tokens[common...]), options: o)
        var answer = ""
        let out = FileHandle.standardOutput
        while let piece = try g.next() {
            answer += piece
            out.write(Data(piece.utf8))
        }
        if !answer.hasSuffix("\n") && isatty(1) != 0 { out.write(Data("\n".utf8)) }
        // The cache holds the prompt and every generated token except the last one sampled, less what shifts dropped.
        cached = tokens + g.tokens.dropLast()
        for s in g.shifts { cached.removeSubrange(s.keep..<(s.keep + s.discard)) }
        if cached.count != cache.count { cached = Array(cached.prefix(cache.count)) }
        if verbose {
            if !g.shifts.isEmpty { printErr("context shifted \(g.shifts.count) times (keep \(g.shifts[0].keep), discard \(g.shifts.map { String($0.discard) }.joined(separator: ", ")))") }
            let s = g.stats
            printErr(String(format: "prompt: %d tokens, %.2f tokens/s | generated: %d tokens, %.2f tokens/s | %@",
                            s.promptTokens, Double(s.promptTokens) / max(1e-9, Double(s.promptNanoseconds) / 1e9),
                            s.generatedTokens, Double(s.generatedTokens) / max(1e-9, Double(s.generateNanoseconds) / 1e9),
                            g.finishReason?.rawValue ?? "-"))
        }
        return answer
    }
}
