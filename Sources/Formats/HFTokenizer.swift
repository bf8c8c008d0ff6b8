// HFTokenizer: byte-level BPE vocabularies between Hugging Face `tokenizer.json` / `tokenizer_config.json`
// and GGUF `tokenizer.ggml.*` keys, following llama.cpp's converter (get_vocab_base + SpecialVocab):
// tokens by id with `[PADn]` fill up to the model's vocab size, token types (normal / control /
// user-defined / unused), merges as "a b" strings, special token ids, add_bos/add_eos, the chat template,
// and the pre-tokenizer name llama.cpp uses to pick its split regex.

import Foundation

public enum GGUFTokenType: Int32, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

public enum HFTokenizer {
    /// Split regexes of the pre-tokenizers llama.cpp knows by name, as Hugging Face writes them.
    public static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    public static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    // MARK: - tokenizer.json → GGUF

    /// The `tokenizer.*` GGUF keys for the tokenizer in `dir` (tokenizer.json required; tokenizer_config.json,
    /// chat_template.jinja and config.json consulted), padded to `vocabSize` tokens. Warnings go to `warn`.
    public static func ggufKeys(directory dir: String, vocabSize: Int, warn: (String) -> Void) throws -> [(String, GGUFValue)] {
        let tjPath = dir + "/tokenizer.json"
        guard let tj = try JSON.parseFile(tjPath) as? [String: Any] else {
            throw FormatError.json(file: tjPath, message: "tokenizer.json must be an object")
        }
        guard let model = tj["model"] as? [String: Any], (model["type"] as? String ?? "BPE") == "BPE",
              let vocab = model["vocab"] as? [String: Any] else {
            throw FormatError.unsupported(file: tjPath, what: "tokenizer model other than byte-level BPE")
        }
        let cfgPath = dir + "/tokenizer_config.json"
        let cfg = (FileManager.default.fileExists(atPath: cfgPath) ? try JSON.parseFile(cfgPath) : nil) as? [String: Any] ?? [:]

        // Tokens by id: the BPE vocab, then added tokens (which may repeat or extend it).
        var byID: [Int: String] = [:]
        for (tok, v) in vocab {
            guard let id = JSON.int(v), id >= 0 else {
                throw FormatError.invalid(file: tjPath, field: "model.vocab[\(tok)]", value: "\(v)", reason: "ids must be non-negative integers")
            }
            byID[id] = tok
        }
        var added: [Int: (content: String, special: Bool)] = [:]
        var addedByContent: [String: Int] = [:]
        for case let a as [String: Any] in (tj["added_tokens"] as? [Any]) ?? [] {
            guard let id = JSON.int(a["id"]), id >= 0, let content = a["content"] as? String else { continue }
            added[id] = (content, JSON.bool(a["special"]) ?? false)
            if addedByContent[content] == nil { addedByContent[content] = id }
            byID[id] = content
        }
        let maxID = byID.keys.max() ?? -1
        guard maxID < vocabSize else {
            throw FormatError.invalid(file: tjPath, field: "token id", value: String(maxID),
                                      reason: "not below the model's vocab_size \(vocabSize)")
        }
        var tokens: [String] = []
        var types: [Int32] = []
        tokens.reserveCapacity(vocabSize)
        types.reserveCapacity(vocabSize)
        for i in 0..<vocabSize {
            if let tok = byID[i] {
                tokens.append(tok)
                if let a = added[i] {
                    types.append((a.special || looksSpecial(tok) ? GGUFTokenType.control : .userDefined).rawValue)
                } else {
                    types.append(GGUFTokenType.normal.rawValue)
                }
            } else {
                tokens.append("[PAD\(i)]")
                types.append(GGUFTokenType.unused.rawValue)
            }
        }

        var kv: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(preTokenizerName(tj["pre_tokenizer"], warn: warn))),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .int32s(types)),
        ]
        let merges = try mergeStrings(model["merges"], file: tjPath)
        if merges.isEmpty { warn("\(tjPath): no merges; the vocabulary may not work") }
        else { kv.append(("tokenizer.ggml.merges", .strings(merges))) }

        // Special tokens: tokenizer_config names them by content; config.json by id as a fallback.
        var special: [(String, Int)] = []
        let cfgModel = (try? JSON.parseFile(dir + "/config.json")) as? [String: Any] ?? [:]
        for typ in ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] {
            var id: Int? = nil
            if let content = tokenContent(cfg["\(typ)_token"]) { id = addedByContent[content] }
            if id == nil, let v = JSON.int(cfgModel["\(typ)_token_id"]) { id = v }
            if id == nil, let arr = cfgModel["\(typ)_token_id"] as? [Any], let v = JSON.int(arr.first) { id = v }
            if let id, id >= 0, id < vocabSize { special.append((typ, id)) }
        }
        let keyName = ["bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
                       "sep": "seperator_token_id", "pad": "padding_token_id", "cls": "cls_token_id", "mask": "mask_token_id"]
        for (typ, id) in special { kv.append(("tokenizer.ggml." + keyName[typ]!, .uint32(UInt32(id)))) }

        // add_bos / add_eos / add_sep: the post-processor's template (as gguf-py's SpecialVocab reads it),
        // then tokenizer_config's explicit flags.
        var addBOS: Bool? = nil, addEOS: Bool? = nil, addSEP: Bool? = nil
        if let pp = tj["post_processor"] as? [String: Any] {
            let procs = (pp["processors"] as? [Any]) ?? [pp]
            let eosContent = tokenContent(cfg["eos_token"]), sepContent = tokenContent(cfg["sep_token"])
            func specialID(_ e: Any?) -> String? { ((e as? [String: Any])?["SpecialToken"] as? [String: Any])?["id"] as? String }
            func sequenceID(_ e: Any?) -> String? { ((e as? [String: Any])?["Sequence"] as? [String: Any])?["id"] as? String }
            for case let p as [String: Any] in procs where p["type"] as? String == "TemplateProcessing" {
                let single = (p["single"] as? [Any]) ?? []
                var first: String? = nil, last: String? = nil
                if single.count > 1 {
                    first = specialID(single.first)
                    last = specialID(single.last)
                    if first != nil { addBOS = true }
                    if last != nil { addEOS = true }
                }
                var pair = ArraySlice((p["pair"] as? [Any]) ?? [])
                if !pair.isEmpty {
                    if let first, specialID(pair.first) == first { pair = pair.dropFirst() }
                    if let last, specialID(pair.last) == last { pair = pair.dropLast() }
                    if pair.count > 2, sequenceID(pair.first) == "A", sequenceID(pair.last) == "B" {
                        let middle = Array(pair.dropFirst().dropLast())
                        let isSep = { (e: Any) in specialID(e).map { $0 == sepContent || $0 == eosContent } ?? false }
                        var sep = isSep(middle[0]) && last == nil
                        if middle.count == 2 && isSep(middle[1]) { sep = true }
                        addSEP = sep
                    }
                }
            }
        }
        if let b = JSON.bool(cfg["add_bos_token"]) { addBOS = b }
        if let b = JSON.bool(cfg["add_eos_token"]) { addEOS = b }
        if let b = JSON.bool(cfg["add_sep_token"]) { addSEP = b }
        if let addBOS { kv.append(("tokenizer.ggml.add_bos_token", .bool(addBOS))) }
        if let addSEP { kv.append(("tokenizer.ggml.add_sep_token", .bool(addSEP))) }
        if let addEOS { kv.append(("tokenizer.ggml.add_eos_token", .bool(addEOS))) }

        var template = cfg["chat_template"] as? String
        if template == nil, let t = try? String(contentsOfFile: dir + "/chat_template.jinja", encoding: .utf8) { template = t }
        if template == nil, let list = cfg["chat_template"] as? [Any] {  // named templates: keep "default"
            template = list.compactMap { $0 as? [String: Any] }.first { $0["name"] as? String == "default" }?["template"] as? String
        }
        if let template { kv.append(("tokenizer.chat_template", .string(template))) }
        return kv
    }

    /// llama.cpp's converter treats these added tokens as control tokens even when not marked special.
    static func looksSpecial(_ t: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(t)
            || (t.hasPrefix("<|") && t.hasSuffix("|>"))
            || (t.hasPrefix("<｜") && t.hasSuffix("｜>"))
            || (t.hasPrefix("<unused") && t.hasSuffix(">"))
    }

    static func tokenContent(_ v: Any?) -> String? {
        if let s = v as? String { return s }
        return (v as? [String: Any])?["content"] as? String
    }

    /// Merges as "a b" strings; the newer pair form has spaces inside parts encoded as U+0120 (as gguf-py does).
    static func mergeStrings(_ v: Any?, file: String) throws -> [String] {
        guard let list = v as? [Any], !list.isEmpty else { return [] }
        if list[0] is String { return list.map { $0 as? String ?? "" } }
        return try list.map { e in
            guard let pair = e as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String else {
                throw FormatError.invalid(file: file, field: "model.merges", value: "\(e)", reason: "unknown merges format")
            }
            let enc = { (s: String) in s.replacingOccurrences(of: " ", with: "\u{120}") }
            return enc(a) + " " + enc(b)
        }
    }

    /// The name llama.cpp's loader knows this pre-tokenizer by (llama.cpp's converter hashes the encoding
    /// of a probe text; we recognise the tokenizer.json structure that produces the same split).
    static func preTokenizerName(_ pre: Any?, warn: (String) -> Void) -> String {
        let p = pre as? [String: Any]
        let parts = (p?["pretokenizers"] as? [[String: Any]]) ?? (p.map { [$0] } ?? [])
        let types = parts.map { $0["type"] as? String ?? "" }
        let splitPattern = parts.first { $0["type"] as? String == "Split" }.flatMap { ($0["pattern"] as? [String: Any])?["Regex"] as? String }
        if let splitPattern {
            if splitPattern == llama3Pattern { return "llama-bpe" }
            if splitPattern == qwen2Pattern { return "qwen2" }
        }
        if types == ["Digits", "ByteLevel"], JSON.bool(parts[0]["individual_digits"]) == true { return "smollm" }
        if types == ["ByteLevel"], JSON.bool(parts[0]["use_regex"]) ?? true { return "gpt2" }
        warn("unrecognised pre-tokenizer \(types) \(splitPattern ?? ""); writing tokenizer.ggml.pre = \"default\"")
        return "default"
    }

    // MARK: - GGUF → tokenizer.json

    /// tokenizer.json and tokenizer_config.json rebuilt from a GGUF's byte-level BPE vocabulary.
    public static func huggingFaceFiles(from g: GGUFFile) throws -> (tokenizer: JSON, config: JSON) {
        let md = g.metadata
        guard let model = md["tokenizer.ggml.model"]?.string else { throw FormatError.missing(file: g.path, field: "tokenizer.ggml.model") }
        guard model == "gpt2" else {
            throw FormatError.unsupported(file: g.path, what: "rebuilding tokenizer.json for tokenizer.ggml.model = \(model) (only gpt2 byte-level BPE)")
        }
        guard let tokens = md["tokenizer.ggml.tokens"]?.strings else { throw FormatError.missing(file: g.path, field: "tokenizer.ggml.tokens") }
        let types = md["tokenizer.ggml.token_type"]?.array?.map { Int32($0.int ?? 1) } ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw FormatError.invalid(file: g.path, field: "tokenizer.ggml.token_type", value: "\(types.count) entries",
                                      reason: "expected one per token (\(tokens.count))")
        }
        let merges = md["tokenizer.ggml.merges"]?.strings ?? []
        let pre = md["tokenizer.ggml.pre"]?.string ?? "default"
        func id(_ k: String) -> Int? { md["tokenizer.ggml." + k]?.int.flatMap { $0 < tokens.count ? $0 : nil } }
        let bos = id("bos_token_id"), eos = id("eos_token_id"), unk = id("unknown_token_id"), pad = id("padding_token_id")
        let addBOS = md["tokenizer.ggml.add_bos_token"]?.bool ?? false
        let addEOS = md["tokenizer.ggml.add_eos_token"]?.bool ?? false

        var vocab: [(String, JSON)] = []
        var addedTokens: [JSON] = []
        var addedDecoder: [(String, JSON)] = []
        var seen = Set<String>()
        for (i, t) in tokens.enumerated() {
            let type = types.isEmpty ? GGUFTokenType.normal.rawValue : types[i]
            if type == GGUFTokenType.control.rawValue || type == GGUFTokenType.userDefined.rawValue {
                let special = type == GGUFTokenType.control.rawValue
                addedTokens.append(.object([
                    ("id", .int(i)), ("content", .string(t)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                    ("rstrip", .bool(false)), ("normalized", .bool(!special)), ("special", .bool(special)),
                ]))
                addedDecoder.append((String(i), .object([
                    ("content", .string(t)), ("lstrip", .bool(false)), ("normalized", .bool(!special)),
                    ("rstrip", .bool(false)), ("single_word", .bool(false)), ("special", .bool(special)),
                ])))
            }
            // Every id is in the BPE vocab too (as SmolLM2's tokenizer.json has it): `tokenizers` gives an
            // added token that is missing from the vocab a new id past the end.
            if seen.insert(t).inserted { vocab.append((t, .int(i))) }
        }

        let byteLevel = { (regex: Bool) -> JSON in
            .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
                     ("trim_offsets", .bool(true)), ("use_regex", .bool(regex))])
        }
        let split = { (pattern: String) -> JSON in
            .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern))])),
                     ("behavior", .string("Isolated")), ("invert", .bool(false))])
        }
        let preTokenizer: JSON
        switch pre {
        case "llama-bpe", "llama3", "llama-v3":
            preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([split(llama3Pattern), byteLevel(false)]))])
        case "qwen2":
            preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([split(qwen2Pattern), byteLevel(false)]))])
        case "smollm", "starcoder", "refact", "codeshell":
            preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Digits")), ("individual_digits", .bool(true))]), byteLevel(true)]))])
        default:
            preTokenizer = byteLevel(true)
        }
        var postProcessor: JSON = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                           ("trim_offsets", .bool(false)), ("use_regex", .bool(true))])
        if (addBOS && bos != nil) || (addEOS && eos != nil) {
            func spec(_ id: Int) -> JSON { .object([("SpecialToken", .object([("id", .string(tokens[id])), ("type_id", .int(0))]))]) }
            func seq(_ n: String, _ tid: Int) -> JSON { .object([("Sequence", .object([("id", .string(n)), ("type_id", .int(tid))]))]) }
            var single: [JSON] = [], pair: [JSON] = [], specials: [(String, JSON)] = []
            if addBOS, let bos { single.append(spec(bos)); pair.append(spec(bos)) }
            single.append(seq("A", 0)); pair.append(seq("A", 0))
            if addEOS, let eos { single.append(spec(eos)); pair.append(spec(eos)) }
            if addBOS, let bos { pair.append(spec(bos)) }
            pair.append(seq("B", 1))
            if addEOS, let eos { pair.append(spec(eos)) }
            for id in Set([addBOS ? bos : nil, addEOS ? eos : nil].compactMap { $0 }).sorted() {
                specials.append((tokens[id], .object([("id", .string(tokens[id])), ("ids", .array([.int(id)])),
                                                      ("tokens", .array([.string(tokens[id])]))])))
            }
            postProcessor = .object([("type", .string("Sequence")), ("processors", .array([
                .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(false)), ("use_regex", .bool(true))]),
                .object([("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                         ("special_tokens", .object(specials))]),
            ]))])
        }
        let tokenizer = JSON.object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(addedTokens)),
            ("normalizer", .null),
            ("pre_tokenizer", preTokenizer),
            ("post_processor", postProcessor),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                 ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", unk.map { .string(tokens[$0]) } ?? .null),
                ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)),
                ("byte_fallback", .bool(false)), ("ignore_merges", .bool(pre == "llama-bpe" || pre == "llama3")),
                ("vocab", .object(vocab)), ("merges", .array(merges.map { .string($0) })),
            ])),
        ])
        var config: [(String, JSON)] = [
            ("add_bos_token", .bool(addBOS)),
            ("add_eos_token", .bool(addEOS)),
            ("added_tokens_decoder", .object(addedDecoder)),
        ]
        if let bos { config.append(("bos_token", .string(tokens[bos]))) }
        if let t = md["tokenizer.chat_template"]?.string { config.append(("chat_template", .string(t))) }
        config.append(("clean_up_tokenization_spaces", .bool(false)))
        if let eos { config.append(("eos_token", .string(tokens[eos]))) }
        if let ctx = md["llama.context_length"]?.int { config.append(("model_max_length", .int(ctx))) }
        if let pad { config.append(("pad_token", .string(tokens[pad]))) }
        config.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))
        if let unk { config.append(("unk_token", .string(tokens[unk]))) }
        return (tokenizer, .object(config))
    }
}
