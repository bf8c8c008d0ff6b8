// CharTokenizer: one token per Unicode scalar, for our tiny GPT (nanoGPT's shakespeare_char style). The GGUF
// keys it reads — the training issue exports with exactly these:
//
//   tokenizer.ggml.model        = "char"
//   tokenizer.ggml.tokens       = [String]  one Unicode scalar per normal token (e.g. "\n", " ", "!", …, "z");
//                                           control / user-defined tokens may be any text ("<|endoftext|>")
//   tokenizer.ggml.token_type   = [Int32]   optional; 1 normal, 3 control, 4 user-defined (llama.cpp's values)
//   tokenizer.ggml.bos_token_id, eos_token_id, unknown_token_id   optional
//   tokenizer.ggml.add_bos_token, add_eos_token                   optional, default false
//   tokenizer.char.unknown      = "unk" | "skip"   what encode does with a scalar not in the vocabulary:
//                                           the unknown token (needs unknown_token_id; the default when it is
//                                           set) or drop it (the default otherwise)
//
// Special tokens are split out of the text as for the other tokenizers (control ones only when parsing
// special tokens). Not here: merges of any kind.

import Formats

public struct CharTokenizer: Tokenizer {
    public enum UnknownPolicy: String, Sendable { case unk, skip }

    let vocab: Vocabulary
    let idOfScalar: [UInt32: Int]
    public let unknownPolicy: UnknownPolicy

    public var vocabularySize: Int { vocab.count }
    public var bos: Int? { vocab.bos }
    public var eos: Int? { vocab.eos }
    public var addsBOS: Bool { vocab.addBOS }
    public var addsEOS: Bool { vocab.addEOS }

    public init(metadata md: GGUFMetadata) throws {
        let vocab = try Vocabulary(metadata: md, kind: .char, addBOSDefault: false)
        var map: [UInt32: Int] = [:]
        for i in 0..<vocab.count where vocab.attrs[i] == .normal {
            let s = String(decoding: vocab.texts[i], as: UTF8.self).unicodeScalars
            guard s.count == 1, let c = s.first else {
                throw InferError.tokenizer("char tokenizer: normal token \(i) '\(String(decoding: vocab.texts[i], as: UTF8.self))' is not one Unicode scalar")
            }
            guard map[c.value] == nil else { throw InferError.tokenizer("char tokenizer: character U+\(String(c.value, radix: 16, uppercase: true)) has two tokens") }
            map[c.value] = i
        }
        guard !map.isEmpty else { throw InferError.tokenizer("char tokenizer: no normal (single-character) tokens") }
        let policyValue = md["tokenizer.char.unknown"]
        var policy: UnknownPolicy = vocab.unk != nil ? .unk : .skip
        if let policyValue {
            guard let s = policyValue.string, let p = UnknownPolicy(rawValue: s) else {
                throw InferError.tokenizer("tokenizer.char.unknown must be \"unk\" or \"skip\" (is \(policyValue))")
            }
            policy = p
        }
        if policy == .unk && vocab.unk == nil {
            throw InferError.tokenizer("tokenizer.char.unknown is \"unk\" but tokenizer.ggml.unknown_token_id is not set")
        }
        self.vocab = vocab
        self.idOfScalar = map
        self.unknownPolicy = policy
    }

    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        out.reserveCapacity(bytes.count)
        if addSpecial && vocab.addBOS, let b = vocab.bos { out.append(b) }
        bytes.withUnsafeBufferPointer { bp in
            for f in vocab.partition(bytes, parseSpecial: parseSpecial) {
                switch f {
                case let .token(t): out.append(t)
                case let .text(r):
                    var i = r.lowerBound
                    while i < r.upperBound {
                        let (cp, len) = decodeUTF8(bp, i)
                        i += len
                        if let id = idOfScalar[cp] { out.append(id) } else if unknownPolicy == .unk, let u = vocab.unk { out.append(u) }
                    }
                }
            }
        }
        if addSpecial && vocab.addEOS, let e = vocab.eos { out.append(e) }
        return out
    }

    public func piece(_ id: Int, special: Bool) -> [UInt8] {
        guard id >= 0 && id < vocab.count else { return [] }
        let a = vocab.attrs[id]
        if !a.isDisjoint(with: [.unknown, .control]) { return special ? vocab.texts[id] : [] }
        if a.contains(.normal) || a.contains(.userDefined) { return vocab.texts[id] }
        return []
    }

    public func isEndOfGeneration(_ id: Int) -> Bool { vocab.endOfGeneration.contains(id) }
}
