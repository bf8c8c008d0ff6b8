import Formats
import Infer
import XCTest
@testable import Finetune

final class CharVocabularyTests: XCTestCase {
    func testRoundTripThroughInferCharTokenizer() throws {
        let corpus = "Hello, wörld!\nÜber 🙂 tabs\there."
        let md = try CharVocabulary.metadata(corpus: corpus, unknown: .unk)
        let tok = try Tokenizers.load(metadata: md)
        XCTAssert(tok is CharTokenizer)
        let chars = CharVocabulary.characters(of: corpus)
        XCTAssertEqual(chars.map(\.value), Set(corpus.unicodeScalars.map(\.value)).sorted())
        XCTAssertEqual(tok.vocabularySize, chars.count + 2)  // + <|endoftext|> + <unk>
        let ids = tok.encode(corpus, addSpecial: true, parseSpecial: false)
        XCTAssertEqual(ids.count, corpus.unicodeScalars.count)
        XCTAssertEqual(ids, corpus.unicodeScalars.map { s in chars.firstIndex(of: s)! })
        XCTAssertEqual(tok.decode(ids), corpus)
        // Unknown characters: the <unk> id; end of text: BOS/EOS, a control token that ends generation.
        let eot = chars.count, unk = chars.count + 1
        XCTAssertEqual(tok.encode("Hz", addSpecial: false, parseSpecial: false), [chars.firstIndex(of: "H")!, unk])
        XCTAssertEqual(tok.eos, eot)
        XCTAssert(tok.isEndOfGeneration(eot))
        XCTAssertEqual(tok.encode("H<|endoftext|>", addSpecial: false, parseSpecial: true), [chars.firstIndex(of: "H")!, eot])
        XCTAssertEqual(tok.decode([eot]), "")
    }

    func testSkipPolicyDropsUnknownCharacters() throws {
        let md = try CharVocabulary.metadata(corpus: "abc", unknown: .skip, endOfText: false)
        XCTAssertEqual(md["tokenizer.ggml.tokens"]?.strings, ["a", "b", "c"])
        XCTAssertEqual(md["tokenizer.char.unknown"]?.string, "skip")
        let tok = try Tokenizers.load(metadata: md)
        XCTAssertEqual(tok.encode("cxa", addSpecial: false, parseSpecial: false), [2, 0])
    }

    func testEmptyCorpusIsAnError() {
        XCTAssertThrowsError(try CharVocabulary.metadata(corpus: "")) { e in
            XCTAssert("\(e)".contains("empty corpus"))
        }
    }
}

final class BPETrainerTests: XCTestCase {
    /// Byte id of a character under the trainer's numbering (no specials): rank of its byte-level code point.
    func byteID(_ b: UInt8) -> Int32 {
        let sc = PreTokenization.scalarOfByte
        return Int32((0..<256).filter { sc[$0] < sc[Int(b)] }.count)
    }

    // Words "ab", " ab" ×2, " abc": (a,b) 4 > (Ġ,a) 3 > (b,c) 1 — hand-counted.
    func testMergeOrderOnTinyCorpus() throws {
        let bpe = try BPETrainer.train(text: "ab ab ab abc", vocabSize: 1000, minFrequency: 2, specials: [])
        XCTAssertEqual(bpe.mergeStrings, ["a b", "Ġ ab"])
        XCTAssertEqual(bpe.vocabularySize, 258)
        XCTAssertEqual(bpe.tokens[256], "ab")
        XCTAssertEqual(bpe.tokens[257], "Ġab")
        XCTAssertEqual(bpe.merges[0].left, byteID(0x61))
        XCTAssertEqual(bpe.merges[0].right, byteID(0x62))
        let all = try BPETrainer.train(text: "ab ab ab abc", vocabSize: 1000, minFrequency: 1, specials: [])
        XCTAssertEqual(all.mergeStrings, ["a b", "Ġ ab", "Ġab c"])
        // vocabSize caps the merges.
        let capped = try BPETrainer.train(text: "ab ab ab abc", vocabSize: 257, minFrequency: 1, specials: [])
        XCTAssertEqual(capped.mergeStrings, ["a b"])
    }

    // Equal counts: the smaller pair of ids first (x < z < Ġ in byte-level code point order).
    func testTieBreakBySmallerPair() throws {
        let bpe = try BPETrainer.train(text: "xy zw", vocabSize: 1000, minFrequency: 1, specials: [])
        XCTAssertEqual(bpe.mergeStrings, ["x y", "z w", "Ġ zw"])
    }

    // "aaaa": (a,a) counted 3 times (overlapping), merged left to right without overlap → "aa aa" → "aaaa".
    func testOverlappingPairs() throws {
        let bpe = try BPETrainer.train(text: "aaaa", vocabSize: 1000, minFrequency: 1, specials: [])
        XCTAssertEqual(bpe.mergeStrings, ["a a", "aa aa"])
    }

    // Specials come first, are never learned from, and split the text.
    func testSpecialsFirstAndNotLearned() throws {
        let bpe = try BPETrainer.train(text: "ab<|endoftext|>ab<|endoftext|>ab", vocabSize: 1000, minFrequency: 2,
                                       specials: ["<|endoftext|>", "<pad>"])
        XCTAssertEqual(Array(bpe.tokens.prefix(2)), ["<|endoftext|>", "<pad>"])
        XCTAssertEqual(bpe.mergeStrings, ["a b"])
        let md = bpe.ggufMetadata()
        XCTAssertEqual(md["tokenizer.ggml.token_type"]?.array?.prefix(3).map { $0.int }, [3, 3, 1])
        let tok = try bpe.tokenizer()
        XCTAssertEqual(tok.encode("ab<|endoftext|>", addSpecial: false, parseSpecial: true), [258, 0])
    }

    func testTokenizerRoundTripsAnyText() throws {
        let corpus = String(repeating: "The quick brown fox jumps over the lazy dog. func f(x: Int) -> Int { x * 2 }\n", count: 20)
        let bpe = try BPETrainer.train(text: corpus, vocabSize: 400, minFrequency: 2)
        // Merges never cross words: training stops once every repeated word is one token.
        XCTAssertLessThan(bpe.vocabularySize, 400)
        let tok = try bpe.tokenizer()
        XCTAssertEqual(tok.encode(" quick", addSpecial: false, parseSpecial: false).count, 1)
        for text in [corpus, "naïve café 🙂 — 中文\t\t  spaces   \n\n", "\u{0}\u{7F}é"] {
            XCTAssertEqual(tok.decode(tok.encode(text, addSpecial: false, parseSpecial: false)), text)
        }
        let n = tok.encode(corpus, addSpecial: false, parseSpecial: false).count
        XCTAssertLessThan(n, corpus.utf8.count / 3)
    }

    // The tokenizer.json loads into Infer's tokenizer and encodes like the GGUF keys.
    func testTokenizerJSONMatchesGGUFMetadata() throws {
        let corpus = String(repeating: "hello world, hello there; the world is wide\n", count: 10)
        let bpe = try BPETrainer.train(text: corpus, vocabSize: 300)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tokenizer.json").path
        try AtomicOutput.write(bpe.tokenizerJSON(), to: path)
        let fromJSON = try Tokenizers.load(tokenizerJSON: path)
        let fromMD = try bpe.tokenizer()
        let probes = ["hello wide world!  hello\n\nthere 123 🙂", "naïve café — 中文 👨‍👩‍👧 🇫🇷", "func f() {\n\treturn x // c\n}",
                      "   \t\t  \r\n\n\n  x  ", "it's we'll they've <|endoftext|> after", "0123456789 3.14 -1e9", ""]
        for probe in probes {
            for special in [false, true] {
                XCTAssertEqual(fromJSON.encode(probe, addSpecial: true, parseSpecial: special),
                               fromMD.encode(probe, addSpecial: true, parseSpecial: special), probe)
            }
        }
        XCTAssertEqual(fromJSON.vocabularySize, bpe.vocabularySize)
    }

    func testBadArguments() {
        XCTAssertThrowsError(try BPETrainer.train(text: "x", vocabSize: 100))
        XCTAssertThrowsError(try BPETrainer.train(text: "x", vocabSize: 300, specials: ["a", "a"]))
        XCTAssertThrowsError(try BPETrainer.train(text: "x", vocabSize: 300, minFrequency: 0))
    }
}
