// Tokenizer tests: the BPE merge loop (rank order, leftmost ties), pre-tokenizer splits on tricky strings
// (golden splits from Hugging Face `tokenizers`' Split with the same regexes), special-token partition, the
// SentencePiece merge loop and byte fallback on a small real-shaped vocab, the char tokenizer, malformed
// metadata → InferError, and the real SmolLM2 GGUF against llama.cpp's ids (../shared/reference/tokenize.json).

import Foundation
import Testing
import Formats
@testable import Infer

// MARK: - helpers

/// Byte-level spelling of a plain string (space → Ġ, newline → Ċ …).
private func bl(_ s: String) -> String { String(decoding: ByteLevel.encode(Array(s.utf8)), as: UTF8.self) }

private func bpeMetadata(tokens: [String], merges: [String], types: [Int32]? = nil, pre: String = "gpt-2",
                         extra: [(String, GGUFValue)] = []) -> GGUFMetadata {
    var md = GGUFMetadata()
    md["tokenizer.ggml.model"] = .string("gpt2")
    md["tokenizer.ggml.pre"] = .string(pre)
    md["tokenizer.ggml.tokens"] = .strings(tokens)
    md["tokenizer.ggml.merges"] = .strings(merges)
    if let types { md["tokenizer.ggml.token_type"] = .int32s(types) }
    for (k, v) in extra { md[k] = v }
    return md
}

/// Every byte as a token (ids 0…255 in byte order), like a real byte-level vocabulary's base.
private let byteTokens: [String] = (0..<256).map { String(decoding: ByteLevel.encode([UInt8($0)]), as: UTF8.self) }

/// Words of `s` under the pre-tokenizer `name`.
private func words(_ name: String, _ s: String) -> [String] {
    let pre = PreTokenizer.named(name)!.pre
    let cps = s.unicodeScalars.map(\.value)
    let flags = cps.map { UnicodeFlags.of($0) }
    let lens = cps.withUnsafeBufferPointer { c in flags.withUnsafeBufferPointer { f in pre.split(c, f) } }
    var out: [String] = [], i = 0
    for l in lens {
        out.append(String(String.UnicodeScalarView(cps[i..<(i + l)].map { Unicode.Scalar($0)! })))
        i += l
    }
    return out
}

private func expectThrowsTokenizerError(_ md: GGUFMetadata, containing part: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try Tokenizers.load(metadata: md)
        Issue.record("expected InferError.tokenizer containing \"\(part)\"", sourceLocation: sourceLocation)
    } catch let InferError.tokenizer(m) {
        #expect(m.contains(part), "message: \(m)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - BPE merge loop

@Test func bpeMergesLowestRankFirst() throws {
    let tokens = byteTokens + ["aa", "ab", "aab"]  // 256, 257, 258
    let a = 97, b = 98
    // "a a" ranks first: a a b → aa b → aab.
    let t1 = try BPETokenizer(metadata: bpeMetadata(tokens: tokens, merges: ["a a", "a b", "aa b"]))
    #expect(t1.encode("aab", addSpecial: false, parseSpecial: false) == [258])
    // "a b" ranks first: a a b → a ab, and no merge "a ab".
    let t2 = try BPETokenizer(metadata: bpeMetadata(tokens: tokens, merges: ["a b", "a a", "aa b"]))
    #expect(t2.encode("aab", addSpecial: false, parseSpecial: false) == [a, 257])
    // Equal ranks: the leftmost pair merges first.
    #expect(t1.encode("aaa", addSpecial: false, parseSpecial: false) == [256, a])
    #expect(t1.encode("aaaa", addSpecial: false, parseSpecial: false) == [256, 256])
    #expect(t1.encode("ba", addSpecial: false, parseSpecial: false) == [b, a])
    // Pieces and decode invert it.
    #expect(t1.decode([258, 256, a]) == "aabaaa")
}

@Test func bpeMergeResultNotInVocabFallsBackLikeLlamaCpp() throws {
    // "x y" merges into "xy", which is no token: llama.cpp then emits the one-byte tokens of the spelling.
    let tokens = byteTokens
    let t = try BPETokenizer(metadata: bpeMetadata(tokens: tokens, merges: ["x y"]))
    #expect(t.encode("xy", addSpecial: false, parseSpecial: false) == [120, 121])
}

@Test func bpeIgnoreMergesEmitsWholeWordTokens() throws {
    // llama-bpe sets ignore_merges: a word that is a token is taken whole even without a merge path to it.
    let tokens = byteTokens + ["hello"]
    let md = bpeMetadata(tokens: tokens, merges: ["h e"], pre: "llama-bpe", extra: [("tokenizer.ggml.add_bos_token", .bool(false))])
    let t = try BPETokenizer(metadata: md)
    #expect(t.encode("hello", addSpecial: true, parseSpecial: false) == [256])
    let g = try BPETokenizer(metadata: bpeMetadata(tokens: tokens, merges: ["h e"], pre: "gpt-2"))
    #expect(g.encode("hello", addSpecial: false, parseSpecial: false) == [104, 101, 108, 108, 111])
}

// MARK: - pre-tokenizers (golden splits from tokenizers' Split(Regex(…), "isolated"))

@Test func llama3Splits() {
    #expect(words("llama-bpe", "  Hello   world  ") == [" ", " Hello", "  ", " world", "  "])
    #expect(words("llama-bpe", "don't I'LL we'Ve") == ["don", "'t", " I", "'LL", " we", "'Ve"])
    #expect(words("llama-bpe", "1234567 89") == ["123", "456", "7", " ", "89"])
    #expect(words("llama-bpe", "\r\n\n  x\t\ty ") == ["\r\n\n", " ", " x", "\t", "\ty", " "])
    #expect(words("llama-bpe", "a\u{a0}b\u{3000}c") == ["a", "\u{a0}b", "\u{3000}c"])
    #expect(words("llama-bpe", "x  \n\n  y") == ["x", "  \n\n", " ", " y"])
    #expect(words("llama-bpe", "$$$ ...!!\n\nz") == ["$$$", " ...!!\n\n", "z"])
    #expect(words("llama-bpe", "Привет,мир 你好123") == ["Привет", ",мир", " 你好", "123"])
    #expect(words("llama-bpe", "'s'S 'x") == ["'s", "'S", " '", "x"])
    #expect(words("llama-bpe", "tab\t\tend\t") == ["tab", "\t", "\tend", "\t"])
    #expect(words("llama-bpe", "🙂🙂 e\u{301}") == ["🙂🙂", " e", "\u{301}"])
}

@Test func qwen2SplitsDigitsOneByOne() {
    #expect(words("qwen2", "1234567 89") == ["1", "2", "3", "4", "5", "6", "7", " ", "8", "9"])
    #expect(words("qwen2", "Привет,мир 你好123") == ["Привет", ",мир", " 你好", "1", "2", "3"])
}

@Test func gpt2Splits() {
    #expect(words("gpt-2", "don't I'LL we'Ve") == ["don", "'t", " I", "'", "LL", " we", "'", "Ve"])
    #expect(words("gpt-2", "1234567 89") == ["1234567", " 89"])
    #expect(words("gpt-2", "\r\n\n  x\t\ty ") == ["\r\n\n ", " x", "\t", "\t", "y", " "])
    #expect(words("gpt-2", "a\u{a0}b\u{3000}c") == ["a", "\u{a0}", "b", "\u{3000}", "c"])
    #expect(words("gpt-2", "$$$ ...!!\n\nz") == ["$$$", " ...!!", "\n", "\n", "z"])
    #expect(words("gpt-2", "tab\t\tend\t") == ["tab", "\t", "\t", "end", "\t"])
}

@Test func smollmSplitsEveryDigitFirst() {
    #expect(words("smollm", "1234567 89") == ["1", "2", "3", "4", "5", "6", "7", " ", "8", "9"])
    #expect(words("smollm", "Привет,мир 你好123") == ["Привет", ",", "мир", " 你好", "1", "2", "3"])
    #expect(words("smollm", "x  \n\n  y") == ["x", "  \n\n ", " y"])
}

@Test func defaultAndSmallRegexPasses() {
    // default: [\p{P}$+<=>^~|]+ , gpt2, \p{N}+ , [0-9][0-9][0-9]
    #expect(words("default", "a+=b 12345") == ["a", "+=", "b", " ", "123", "45"])
    // deepseek-coder: [\r\n], \s?\p{L}+, \s?\p{P}+, CJK runs, \p{N}
    #expect(words("deepseek-coder", "ab 12\n, 你好") == ["ab", " ", "1", "2", "\n", ",", " ", "你好"])
    #expect(PreTokenizer.named("no-such-pre") == nil)
}

// MARK: - special tokens

@Test func specialTokensSplitLongestFirstAndOnlyWhenAsked() throws {
    let tokens = byteTokens + ["<|a|>", "<|a|><|b|>", "<u>"]  // 256 control, 257 control, 258 user-defined
    var types = [Int32](repeating: 1, count: 256)
    types += [3, 3, 4]
    let t = try BPETokenizer(metadata: bpeMetadata(tokens: tokens, merges: [], types: types))
    #expect(t.encode("x<|a|><|b|>y<|a|>", addSpecial: false, parseSpecial: true) == [120, 257, 121, 256])
    // Not parsing special tokens: control tokens are text, user-defined ones are still split out.
    let plain = t.encode("<|a|><u>", addSpecial: false, parseSpecial: false)
    #expect(plain.count > 2 && plain.last == 258 && !plain.contains(256))
    // Control tokens decode to nothing unless asked.
    #expect(t.piece(256, special: false) == [] && t.piece(256, special: true) == Array("<|a|>".utf8))
    #expect(t.piece(258, special: false) == Array("<u>".utf8))
}

@Test func endOfGenerationFoundByText() throws {
    let tokens = byteTokens + ["<|im_end|>", "<|eot_id|>", "<|im_start|>"]
    let t = try BPETokenizer(metadata: bpeMetadata(tokens: tokens, merges: [], extra: [("tokenizer.ggml.eos_token_id", .uint32(10))]))
    #expect(t.isEndOfGeneration(256) && t.isEndOfGeneration(257) && t.isEndOfGeneration(10))
    #expect(!t.isEndOfGeneration(258) && !t.isEndOfGeneration(11))
    // Found by text, the EOG tokens become control tokens (parsed as specials).
    #expect(t.encode("<|im_end|>", addSpecial: false, parseSpecial: true) == [256])
}

@Test func phi3SpecialTokensStripSpacesToTheRight() throws {
    let tokens = byteTokens + ["<|user|>"]
    var types = [Int32](repeating: 1, count: 256)
    types.append(3)
    let t = try BPETokenizer(metadata: bpeMetadata(tokens: tokens, merges: [], types: types, extra: [("general.name", .string("Phi-3 mini"))]))
    #expect(t.encode("<|user|>  \nx", addSpecial: false, parseSpecial: true) == [256, 120])
}

// MARK: - SentencePiece-style BPE

/// A small vocab shaped like Llama 2's: <unk> <s> </s>, 256 byte tokens, then scored pieces.
private func spmMetadata(addSpacePrefix: Bool? = nil) -> GGUFMetadata {
    var tokens = ["<unk>", "<s>", "</s>"] + (0..<256).map { "<0x\(hex2(UInt8($0)))>" }
    var scores = [Float](repeating: 0, count: tokens.count)
    var types: [Int32] = [2, 3, 3] + [Int32](repeating: 6, count: 256)
    let pieces: [(String, Float)] = [("▁t", -1), ("he", -2), ("▁the", -3), ("ll", -4), ("▁he", -5), ("llo", -6), ("▁hello", -7),
                                     ("▁", -100), ("t", -101), ("h", -102), ("e", -103), ("l", -104), ("o", -105), ("w", -106),
                                     ("r", -107), ("d", -108)]
    for (p, s) in pieces { tokens.append(p); scores.append(s); types.append(1) }
    var md = GGUFMetadata()
    md["tokenizer.ggml.model"] = .string("llama")
    md["tokenizer.ggml.tokens"] = .strings(tokens)
    md["tokenizer.ggml.scores"] = .float32s(scores)
    md["tokenizer.ggml.token_type"] = .int32s(types)
    md["tokenizer.ggml.bos_token_id"] = .uint32(1)
    md["tokenizer.ggml.eos_token_id"] = .uint32(2)
    md["tokenizer.ggml.unknown_token_id"] = .uint32(0)
    if let addSpacePrefix { md["tokenizer.ggml.add_space_prefix"] = .bool(addSpacePrefix) }
    return md
}

@Test func spmMergesByScoreWithByteFallback() throws {
    let t = try SPMTokenizer(metadata: spmMetadata())
    let id = { (p: String) in t.vocab.id(of: p)! }
    #expect(t.addsBOS && t.bos == 1)
    #expect(t.encode("the hello world", addSpecial: true, parseSpecial: false)
            == [1, id("▁the"), id("▁hello"), id("▁"), id("w"), id("o"), id("r"), id("l"), id("d")])
    // ü is no piece: its UTF-8 bytes C3 BC become <0xC3> <0xBC>.
    #expect(t.encode("the ü", addSpecial: false, parseSpecial: false) == [id("▁the"), id("▁"), 3 + 0xC3, 3 + 0xBC])
    // A space is prefixed again after a special token.
    #expect(t.encode("<s>hello", addSpecial: false, parseSpecial: true) == [1, id("▁hello")])
    #expect(t.decode([id("▁the"), id("▁hello")]) == "the hello")
    #expect(t.decode([id("▁the"), 3 + 0xC3, 3 + 0xBC]) == "theü")
    let noPrefix = try SPMTokenizer(metadata: spmMetadata(addSpacePrefix: false))
    #expect(noPrefix.encode("the", addSpecial: false, parseSpecial: false) == [id("t"), id("he")])
}

@Test func spmRoundTrip() throws {
    let t = try SPMTokenizer(metadata: spmMetadata())
    for s in ["the hello", "  leading and trailing  ", "ünïcödé 🙂 中文", "x\ny\r\n\tz", ""] {
        #expect(t.decode(t.encode(s, addSpecial: false, parseSpecial: false)) == s)
    }
}

// MARK: - char-level

private func charMetadata(_ chars: [String], extra: [(String, GGUFValue)] = []) -> GGUFMetadata {
    var md = GGUFMetadata()
    md["tokenizer.ggml.model"] = .string("char")
    md["tokenizer.ggml.tokens"] = .strings(chars)
    for (k, v) in extra { md[k] = v }
    return md
}

@Test func charTokenizerRoundTrip() throws {
    let chars = ["\n", " ", "!", "'", ",", ".", "?"] + (97...122).map { String(UnicodeScalar(UInt8($0))) } + ["é", "🙂"]
    let t = try CharTokenizer(metadata: charMetadata(chars))
    let s = "hello, world! é 🙂\nwhat's up?"
    let ids = t.encode(s, addSpecial: true, parseSpecial: true)
    #expect(ids.count == s.unicodeScalars.count)
    #expect(t.decode(ids) == s)
    #expect(t.unknownPolicy == .skip)
    #expect(t.encode("aXb", addSpecial: false, parseSpecial: false) == [7, 8])
}

@Test func charTokenizerUnknownAndSpecials() throws {
    let md = charMetadata(["<unk>", "<|endoftext|>", "a", "b"], extra: [
        ("tokenizer.ggml.token_type", .int32s([2, 3, 1, 1])), ("tokenizer.ggml.unknown_token_id", .uint32(0)),
        ("tokenizer.ggml.eos_token_id", .uint32(1)), ("tokenizer.ggml.add_eos_token", .bool(true)),
    ])
    let t = try CharTokenizer(metadata: md)
    #expect(t.unknownPolicy == .unk)
    #expect(t.encode("aXb<|endoftext|>", addSpecial: true, parseSpecial: true) == [2, 0, 3, 1, 1])
    #expect(t.isEndOfGeneration(1))
    #expect(t.decode([2, 1, 3]) == "ab" && t.decode([2, 1, 3], special: true) == "a<|endoftext|>b")
}

// MARK: - malformed metadata

@Test func malformedMetadataIsAnInferError() {
    var md = bpeMetadata(tokens: byteTokens, merges: [])
    md["tokenizer.ggml.model"] = nil
    expectThrowsTokenizerError(md, containing: "tokenizer.ggml.model")
    md["tokenizer.ggml.model"] = .string("wordpiece")
    expectThrowsTokenizerError(md, containing: "unsupported tokenizer.ggml.model")
    md["tokenizer.ggml.model"] = .uint32(3)
    expectThrowsTokenizerError(md, containing: "must be a string")

    expectThrowsTokenizerError(bpeMetadata(tokens: byteTokens, merges: [], pre: "klingon"), containing: "unknown pre-tokenizer type 'klingon'")
    var noMerges = bpeMetadata(tokens: byteTokens, merges: [])
    noMerges["tokenizer.ggml.merges"] = nil
    expectThrowsTokenizerError(noMerges, containing: "merges")
    var badTokens = bpeMetadata(tokens: byteTokens, merges: [])
    badTokens["tokenizer.ggml.tokens"] = .int32s([1, 2])
    expectThrowsTokenizerError(badTokens, containing: "array of strings")
    var noTokens = bpeMetadata(tokens: byteTokens, merges: [])
    noTokens["tokenizer.ggml.tokens"] = nil
    expectThrowsTokenizerError(noTokens, containing: "no tokenizer.ggml.tokens")
    expectThrowsTokenizerError(bpeMetadata(tokens: [], merges: []), containing: "empty")
    expectThrowsTokenizerError(bpeMetadata(tokens: ["a", "b", "a"], merges: []), containing: "duplicate token")
    expectThrowsTokenizerError(bpeMetadata(tokens: byteTokens, merges: [], types: [1, 1]), containing: "token_type has 2 entries")
    var badTypes = bpeMetadata(tokens: byteTokens, merges: [])
    badTypes["tokenizer.ggml.token_type"] = .strings(["x"])
    expectThrowsTokenizerError(badTypes, containing: "token_type must be")
    var spm = spmMetadata()
    spm["tokenizer.ggml.scores"] = .float32s([0, 1])
    expectThrowsTokenizerError(spm, containing: "scores has 2 entries")
    spm["tokenizer.ggml.scores"] = .strings(["x"])
    expectThrowsTokenizerError(spm, containing: "scores must be")
    // BOS asked for but no BOS id (and the BPE default 11 is outside a 5-token vocab).
    expectThrowsTokenizerError(bpeMetadata(tokens: ["a", "b", "c", "d", "e"], merges: [], extra: [("tokenizer.ggml.add_bos_token", .bool(true))]),
                               containing: "add_bos_token is true")
    expectThrowsTokenizerError(charMetadata(["a", "bc"]), containing: "not one Unicode scalar")
    expectThrowsTokenizerError(charMetadata(["a", "a"]), containing: "duplicate token")
    expectThrowsTokenizerError(charMetadata(["a"], extra: [("tokenizer.char.unknown", .string("error"))]), containing: "tokenizer.char.unknown")
    expectThrowsTokenizerError(charMetadata(["a"], extra: [("tokenizer.char.unknown", .string("unk"))]), containing: "unknown_token_id")
}

@Test func outOfRangeIdsDecodeToNothing() throws {
    let t = try BPETokenizer(metadata: bpeMetadata(tokens: byteTokens, merges: []))
    #expect(t.piece(-1, special: true) == [] && t.piece(1 << 40, special: true) == [])
    #expect(!t.isEndOfGeneration(-5))
}

@Test func missingFilesAreInferErrors() {
    #expect(throws: InferError.self) { try Tokenizers.load(path: "/nonexistent/model.gguf") }
    #expect(throws: InferError.self) { try Tokenizers.load(tokenizerJSON: "/nonexistent/tokenizer.json") }
}

// MARK: - the real SmolLM2 file against llama.cpp

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Test func smollm2MatchesLlamaCppReference() throws {
    let model = root.appendingPathComponent(".assets/SmolLM2-135M-Instruct.Q4_1.gguf").path
    let refDir = ProcessInfo.processInfo.environment["LLMKIT_REFERENCE"] ?? root.deletingLastPathComponent().appendingPathComponent("shared/reference").path
    let ref = refDir + "/tokenize.json"
    guard FileManager.default.fileExists(atPath: model), FileManager.default.fileExists(atPath: ref) else {
        Issue.record("missing \(model) or \(ref): run scripts/setup.sh")
        return
    }
    let t = try Tokenizers.load(path: model)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ref))) as! [String: Any]
    let cases = json["cases"] as! [[String: Any]]
    #expect(cases.count >= 30)
    for c in cases {
        let text = c["text"] as! String, special = c["parse_special"] as! Bool, want = c["ids"] as! [Int]
        #expect(t.encode(text, addSpecial: true, parseSpecial: special) == want, "\(text.debugDescription) parse_special=\(special)")
        #expect(t.decode(want, special: special) == text)
    }
    // llama.cpp: EOS <|im_end|>, <|endoftext|> by text, and <reponame> as the FIM repo token.
    #expect(t.isEndOfGeneration(2) && t.isEndOfGeneration(0) && t.isEndOfGeneration(4) && !t.isEndOfGeneration(1) && !t.isEndOfGeneration(3))
}

// MARK: - random text never breaks a tokenizer

/// Seeded xorshift, so a failure names a reproducible string.
private struct XorShift {
    var s: UInt64
    mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

@Test func randomUnicodeRoundTripsThroughEveryTokenizer() throws {
    let bpeTokens = byteTokens + ["<|x|>", bl(" t"), bl(" th"), bl("he"), bl(" the")]
    var types = [Int32](repeating: 1, count: bpeTokens.count)
    types[256] = 3
    let merges = [bl(" t").map(String.init).joined(separator: " "), "\(bl(" t")) h", "h e", "\(bl(" t")) he"]
    var tokenizers: [any Tokenizer] = []
    for pre in ["llama-bpe", "qwen2", "gpt-2", "smollm", "default", "deepseek-coder", "falcon"] {
        tokenizers.append(try BPETokenizer(metadata: bpeMetadata(tokens: bpeTokens, merges: merges, types: types, pre: pre,
                                                                 extra: [("tokenizer.ggml.add_bos_token", .bool(false))])))
    }
    tokenizers.append(try SPMTokenizer(metadata: spmMetadata()))
    // Code points from everywhere: ASCII, Latin-1, combining marks, CJK, private use, unassigned, astral planes.
    let ranges: [ClosedRange<UInt32>] = [0x0...0x7F, 0x80...0x2FF, 0x300...0x36F, 0x2000...0x206F, 0x3000...0x30FF,
                                         0x4E00...0x4FFF, 0xE000...0xE0FF, 0xFFF0...0xFFFF, 0x1F300...0x1F6FF, 0xE0000...0xE007F,
                                         0x10FFF0...0x10FFFF]
    var rng = XorShift(s: 0x9E37_79B9_7F4A_7C15)
    for _ in 0..<300 {
        var s = String.UnicodeScalarView()
        for _ in 0..<rng.below(40) {
            if rng.below(6) == 0 { s.append(contentsOf: [" ", " ", "\n", "'", "<|x|>", "\r\n"][rng.below(6)].unicodeScalars); continue }
            let r = ranges[rng.below(ranges.count)]
            if let u = Unicode.Scalar(r.lowerBound + UInt32(rng.below(Int(r.upperBound - r.lowerBound) + 1))) { s.append(u) }
        }
        let text = String(s)
        for t in tokenizers {
            for special in [true, false] {
                let ids = t.encode(text, addSpecial: false, parseSpecial: special)
                #expect(ids.allSatisfy { $0 >= 0 && $0 < t.vocabularySize })
                #expect(t.decode(ids, special: true) == text, "\(type(of: t)) \(text.unicodeScalars.map { String($0.value, radix: 16) })")
            }
        }
    }
}

@Test func llama3TokenizerJSONHasNoInventedSpecialIDs() throws {
    let path = root.appendingPathComponent(".assets/tokenizer.json").path
    guard FileManager.default.fileExists(atPath: path) else {
        Issue.record("missing \(path): run scripts/setup.sh")
        return
    }
    let t = try Tokenizers.load(tokenizerJSON: path)
    #expect(t.vocabularySize == 128_256)
    // No tokenizer_config.json beside it: no BOS/EOS (not llama.cpp's GGUF default id 11, which is ",").
    #expect(t.bos == nil && t.eos == nil && !t.addsBOS)
    #expect(t.isEndOfGeneration(128_009) && t.isEndOfGeneration(128_001) && !t.isEndOfGeneration(11))
    // Meta's test vector (llama/test_tokenizer.py), without the BOS/EOS it adds explicitly.
    #expect(t.encode("This is a test sentence.", addSpecial: true, parseSpecial: true) == [2028, 374, 264, 1296, 11914, 13])
    #expect(t.encode("<|start_header_id|>user<|end_header_id|>\n\n", addSpecial: false, parseSpecial: true) == [128_006, 882, 128_007, 271])
}
