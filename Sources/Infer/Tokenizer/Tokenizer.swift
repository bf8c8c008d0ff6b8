// Tokenizer: text ⇄ token ids. Implementations: byte-level BPE (GPT-2 / Llama 3 / SmolLM / Qwen2 style),
// SentencePiece-style BPE (`tokenizer.ggml.model = llama`) and char-level (our tiny model). Built from GGUF
// metadata (`Tokenizers.load(metadata:)`) or a Hugging Face tokenizer.json.

public protocol Tokenizer: Sendable {
    /// Number of token ids (rows of the embedding matrix).
    var vocabularySize: Int { get }
    /// Beginning / end of sequence ids from the metadata, if any.
    var bos: Int? { get }
    var eos: Int? { get }
    /// Whether `encode(_:addSpecial: true, …)` prepends BOS / appends EOS (`tokenizer.ggml.add_bos_token` …).
    var addsBOS: Bool { get }
    var addsEOS: Bool { get }

    /// Token ids of `text`. `addSpecial` adds BOS/EOS where the model asks for them; `parseSpecial` turns the
    /// text of control/user-defined tokens (e.g. `<|im_start|>`) into their ids instead of splitting it
    /// (llama.cpp's `parse_special`).
    func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int]

    /// The bytes a token stands for when decoded (control tokens: their text only if `special`).
    func piece(_ id: Int, special: Bool) -> [UInt8]

    /// Whether generation ends at this token (EOS, EOT, `<|eot_id|>`, `<|im_end|>` …).
    func isEndOfGeneration(_ id: Int) -> Bool

    /// Text of `ids` (invalid UTF-8 replaced by U+FFFD), control tokens rendered only if `special`. The default
    /// joins the pieces; SentencePiece-style tokenizers also drop the space their encoder prefixes.
    func decode(_ ids: [Int], special: Bool) -> String
}

extension Tokenizer {
    public func decode(_ ids: [Int], special: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes += piece(id, special: special) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Text of `ids` without control tokens.
    public func decode(_ ids: [Int]) -> String { decode(ids, special: false) }
}
