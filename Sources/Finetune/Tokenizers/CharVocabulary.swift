// CharVocabulary: the character-level tokenizer of a corpus (nanoGPT's shakespeare_char style), as the GGUF
// `tokenizer.*` keys Infer's CharTokenizer reads (see the header of Sources/Infer/Tokenizer/CharTokenizer.swift),
// so the trainer, the exported GGUF, `llmkit run` and `llmkit serve` all tokenize through the same code.
//
// Token ids: the distinct Unicode scalars of the corpus sorted by scalar value (ids 0..<n), then the optional
// end-of-text control token (`<|endoftext|>`, also BOS/EOS; never added by encode), then the optional unknown
// token (`<unk>`, when the policy is `.unk`). Policy `.skip` drops characters missing from the vocabulary.
//
//   let md = CharVocabulary.metadata(corpus: text, unknown: .unk)        // GGUFMetadata
//   let tok = try Infer.Tokenizers.load(metadata: md)                     // CharTokenizer

import Formats
import Infer

public enum CharVocabulary {
    public static let endOfText = "<|endoftext|>"
    public static let unknownToken = "<unk>"

    /// The distinct Unicode scalars of `corpus`, sorted by value.
    public static func characters(of corpus: String) -> [Unicode.Scalar] {
        var seen = [Bool](repeating: false, count: 0x11_0000)
        var n = 0
        for s in corpus.unicodeScalars where !seen[Int(s.value)] {
            seen[Int(s.value)] = true
            n += 1
        }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(n)
        for (v, isIn) in seen.enumerated() where isIn { out.append(Unicode.Scalar(UInt32(v))!) }
        return out
    }

    /// GGUF tokenizer keys for a character vocabulary of `corpus`. `endOfText`: add the `<|endoftext|>` control
    /// token (BOS and EOS id; generation stops at it). Throws for an empty corpus.
    public static func metadata(corpus: String, unknown: CharTokenizer.UnknownPolicy = .unk,
                                endOfText addEndOfText: Bool = true) throws -> GGUFMetadata {
        let chars = characters(of: corpus)
        guard !chars.isEmpty else { throw FinetuneError.config("cannot build a character vocabulary from an empty corpus") }
        var tokens = chars.map { String(Character($0)) }
        var types = [Int32](repeating: GGUFTokenType.normal.rawValue, count: tokens.count)
        var md = GGUFMetadata()
        md["tokenizer.ggml.model"] = .string("char")
        var eot: Int? = nil, unk: Int? = nil
        if addEndOfText {
            eot = tokens.count
            tokens.append(endOfText)
            types.append(GGUFTokenType.control.rawValue)
        }
        if unknown == .unk {
            unk = tokens.count
            tokens.append(unknownToken)
            types.append(GGUFTokenType.unknown.rawValue)
        }
        md["tokenizer.ggml.tokens"] = .strings(tokens)
        md["tokenizer.ggml.token_type"] = .int32s(types)
        if let eot {
            md["tokenizer.ggml.bos_token_id"] = .uint32(UInt32(eot))
            md["tokenizer.ggml.eos_token_id"] = .uint32(UInt32(eot))
        }
        if let unk { md["tokenizer.ggml.unknown_token_id"] = .uint32(UInt32(unk)) }
        md["tokenizer.ggml.add_bos_token"] = .bool(false)
        md["tokenizer.ggml.add_eos_token"] = .bool(false)
        md["tokenizer.char.unknown"] = .string(unknown.rawValue)
        return md
    }
}
