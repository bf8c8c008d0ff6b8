// llmkit tokenizer train: learns a byte-level BPE tokenizer (GPT-2 style) from a corpus and writes a Hugging Face
// tokenizer.json (loadable by `tokenizers`, by `llmkit tokenize`, by the trainer). Prints the vocabulary size,
// the number of merges, the training time and the compression on the corpus (characters per token).
import ArgumentParser
import Finetune
import Formats
import Foundation

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Train tokenizers.", subcommands: [TokenizerTrain.self])
}

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level BPE tokenizer (GPT-2 style) on a corpus; write tokenizer.json.",
        discussion: """
            The vocabulary holds the special tokens (ids 0…), the 256 byte symbols, then one token per learned merge \
            (most frequent pair first, ties to the smaller pair of ids, as Hugging Face's BpeTrainer). Words come \
            from the GPT-2 pre-tokenizer regex; occurrences of special tokens in the corpus are not learned from.
            """)

    @Argument(help: "UTF-8 corpus (e.g. from `llmkit corpus collect`).") var corpus: String
    @Option(help: "Vocabulary size (special tokens + 256 bytes + merges).") var vocabSize: Int
    @Option(name: .shortAndLong, help: "Output tokenizer.json.") var output: String
    @Option(help: "Stop when the best pair occurs fewer times than this.") var minFrequency = 2
    @Option(name: .customLong("special"), help: "Special token (repeatable; default <|endoftext|>).") var specials: [String] = []
    @Flag(help: "No special tokens at all.") var noSpecial = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: corpus) else { fail(FinetuneError.data(file: corpus, message: "cannot read the file")) }
        guard let text = String(validating: data, as: UTF8.self) else { fail(FinetuneError.data(file: corpus, message: "not valid UTF-8")) }
        guard !text.isEmpty else { fail(FinetuneError.data(file: corpus, message: "the corpus is empty")) }
        let sp = noSpecial ? [] : (specials.isEmpty ? ["<|endoftext|>"] : specials)
        do {
            let t0 = Date()
            let bpe = try BPETrainer.train(text: text, vocabSize: vocabSize, minFrequency: minFrequency, specials: sp)
            let secs = Date().timeIntervalSince(t0)
            try AtomicOutput.write(bpe.tokenizerJSON(), to: output)
            let tok = try bpe.tokenizer()
            let n = tok.encode(text, addSpecial: false, parseSpecial: true).count  // special-token text as the token, as in training
            let chars = text.unicodeScalars.count  // characters = Unicode scalars (as Python counts them)
            print("vocabulary: \(bpe.vocabularySize) tokens (\(sp.count) special, 256 bytes, \(bpe.merges.count) merges) in \(String(format: "%.2f", secs)) s")
            if bpe.vocabularySize < vocabSize { print("stopped early: no pair occurs \(minFrequency) times or more") }
            print("corpus: \(chars) characters, \(data.count) bytes → \(n) tokens: \(String(format: "%.3f", Double(chars) / Double(max(n, 1)))) characters/token, \(String(format: "%.3f", Double(data.count) / Double(max(n, 1)))) bytes/token")
            print("wrote \(output)")
        } catch { fail(error) }
    }
}
