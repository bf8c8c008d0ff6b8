// BPETrainer: learns a GPT-2-style byte-level BPE vocabulary from a corpus, and writes it both as a Hugging Face
// tokenizer.json (which `tokenizers`' `Tokenizer.from_file` loads) and as GGUF `tokenizer.ggml.*` keys
// (`model = gpt2`, `pre = gpt-2`), so Infer's BPETokenizer, HF and llama.cpp encode alike.
//
//   let bpe = try BPETrainer.train(text: corpus, vocabSize: 1024, minFrequency: 2, specials: ["<|endoftext|>"])
//   try AtomicOutput.write(bpe.tokenizerJSON(), to: "tokenizer.json")
//   let tok = try bpe.tokenizer()            // Infer's BPETokenizer over bpe.ggufMetadata()
//
// The algorithm is Hugging Face's BpeTrainer, so that on the same text both learn the same merges:
//   1. The text is cut at occurrences of the special tokens (never learned from), each piece split into words
//      by the GPT-2 pre-tokenizer (Infer's PreTokenization "gpt-2", llama.cpp's port of the GPT-2 regex), and
//      distinct words counted.
//   2. Ids: the special tokens first (0..<S), then the 256 byte symbols ordered by their byte-level code point
//      ('!' … '~', '¡' … 'ÿ', 'Ā' …) — HF's sorted initial alphabet — then one id per new token, in merge order.
//   3. Pair counts over all words (weighted by word count) with, per pair, the words it occurs in; a max-heap of
//      (count, pair) with lazy invalidation (an entry whose count is stale is pushed back with the current one).
//      Ties go to the smaller pair (left id, then right id) — HF's `Merge` order. Merging a pair rewrites only the
//      words that hold it, left to right without overlap, and updates the counts of the neighbouring pairs
//      incrementally. Training stops at `vocabSize` tokens or when the best pair occurs < minFrequency times.
//   A merge whose result spells an existing token reuses its id (HF does the same), so merges ≥ tokens − 256 − S.
// Token texts are stored as raw bytes; the byte-level spelling (space → 'Ġ', '\n' → 'Ċ') is applied on output.

import Foundation
import Formats
import Infer

/// A trained byte-level BPE vocabulary.
public struct TrainedBPE: Sendable {
    /// Raw bytes of each token by id (special tokens: their text).
    public let tokenBytes: [[UInt8]]
    /// Number of leading special (control) tokens; their texts are `specials`.
    public let specials: [String]
    /// Merges in rank order, as (left id, right id, merged id).
    public let merges: [(left: Int32, right: Int32, merged: Int32)]

    public var vocabularySize: Int { tokenBytes.count }

    /// Byte-level spelling of each token (special tokens as written).
    public var tokens: [String] {
        let map = PreTokenization.scalarOfByte
        return tokenBytes.enumerated().map { i, b in
            if i < specials.count { return specials[i] }
            var s = String.UnicodeScalarView()
            for x in b { s.append(Unicode.Scalar(map[Int(x)])!) }
            return String(s)
        }
    }

    /// Merges as "left right" in the byte-level spelling (tokenizer.json / GGUF form).
    public var mergeStrings: [String] {
        let t = tokens
        return merges.map { t[Int($0.left)] + " " + t[Int($0.right)] }
    }

    /// The GGUF `tokenizer.*` keys (Infer's BPETokenizer reads them; the trainer's GGUF export writes them).
    /// BOS/EOS: the first special token, if any (never added by encode).
    public func ggufMetadata() -> GGUFMetadata {
        var md = GGUFMetadata()
        md["tokenizer.ggml.model"] = .string("gpt2")
        md["tokenizer.ggml.pre"] = .string("gpt-2")
        md["tokenizer.ggml.tokens"] = .strings(tokens)
        md["tokenizer.ggml.token_type"] = .int32s((0..<vocabularySize).map {
            $0 < specials.count ? GGUFTokenType.control.rawValue : GGUFTokenType.normal.rawValue
        })
        md["tokenizer.ggml.merges"] = .strings(mergeStrings)
        if !specials.isEmpty {
            md["tokenizer.ggml.bos_token_id"] = .uint32(0)
            md["tokenizer.ggml.eos_token_id"] = .uint32(0)
        }
        md["tokenizer.ggml.add_bos_token"] = .bool(false)
        md["tokenizer.ggml.add_eos_token"] = .bool(false)
        return md
    }

    /// Infer's tokenizer for this vocabulary.
    public func tokenizer() throws -> any Tokenizer { try Tokenizers.load(metadata: ggufMetadata()) }

    /// A Hugging Face tokenizer.json (UTF-8): BPE model with the vocabulary and merges, the ByteLevel
    /// pre-tokenizer (GPT-2 regex, no prefix space), ByteLevel decoder, special tokens as added tokens.
    public func tokenizerJSON() -> [UInt8] {
        let t = tokens
        var vocab: [(String, JSON)] = []
        vocab.reserveCapacity(t.count)
        for (i, s) in t.enumerated() { vocab.append((s, .int(i))) }
        let added: [JSON] = specials.enumerated().map { i, s in
            .object([("id", .int(i)), ("content", .string(s)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                     ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(true))])
        }
        let byteLevel = { (prefix: Bool, trim: Bool) -> JSON in
            .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(prefix)), ("trim_offsets", .bool(trim)),
                     ("use_regex", .bool(true))])
        }
        let json = JSON.object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(added)),
            ("normalizer", .null),
            ("pre_tokenizer", byteLevel(false, true)),
            ("post_processor", byteLevel(true, false)),
            ("decoder", byteLevel(true, true)),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
                ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                ("ignore_merges", .bool(false)), ("vocab", .object(vocab)), ("merges", .array(mergeStrings.map { .string($0) })),
            ])),
        ])
        return Array((json.serialized(indent: 2) + "\n").utf8)
    }
}

public enum BPETrainer {
    /// Learns merges from `text` until the vocabulary holds `vocabSize` tokens (specials + 256 bytes + merges) or
    /// no pair occurs `minFrequency` times. Throws for a vocabulary too small for the byte alphabet, duplicate or
    /// empty specials.
    public static func train(text: String, vocabSize: Int, minFrequency: Int = 2,
                             specials: [String] = ["<|endoftext|>"]) throws -> TrainedBPE {
        let S = specials.count
        guard vocabSize >= S + 256 else {
            throw FinetuneError.config("vocabulary size \(vocabSize) is below the \(S + 256) tokens of the byte alphabet and special tokens")
        }
        guard Set(specials).count == S, !specials.contains("") else { throw FinetuneError.config("special tokens must be distinct and non-empty") }
        guard minFrequency >= 1 else { throw FinetuneError.config("minimum frequency must be at least 1, not \(minFrequency)") }

        // Token ids: specials, then bytes in the order of their byte-level code points.
        let scalar = PreTokenization.scalarOfByte
        let byteOrder = (0..<256).sorted { scalar[$0] < scalar[$1] }
        var idOfByte = [Int32](repeating: 0, count: 256)
        var tokenBytes: [[UInt8]] = specials.map { Array($0.utf8) }
        for (rank, b) in byteOrder.enumerated() {
            idOfByte[b] = Int32(S + rank)
            tokenBytes.append([UInt8(b)])
        }
        var idOfBytes: [[UInt8]: Int32] = [:]
        for i in S..<tokenBytes.count { idOfBytes[tokenBytes[i]] = Int32(i) }

        // 1. Distinct words and their counts.
        let (words, counts) = try countWords(text, specials: specials, idOfByte: idOfByte)

        // 2. Pair counts and where each pair occurs.
        var pairCount: [UInt64: Int] = [:]
        var whereIs: [UInt64: [Int32]] = [:]
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        for (w, sym) in words.enumerated() where sym.count > 1 {
            for i in 0..<(sym.count - 1) {
                let k = key(sym[i], sym[i + 1])
                pairCount[k, default: 0] += counts[w]
                if whereIs[k]?.last != Int32(w) { whereIs[k, default: []].append(Int32(w)) }
            }
        }
        var heap = PriorityHeap<PairEntry>()
        for (k, c) in pairCount where c > 0 { heap.push(PairEntry(count: c, pair: k)) }

        // 3. Merge loop.
        var words2 = words
        var merges: [(left: Int32, right: Int32, merged: Int32)] = []
        var stamp = [Int32](repeating: -1, count: words2.count)
        var changed: [UInt64: Int32] = [:]   // pairs that gained occurrences in this step → a word they gained in
        var round: Int32 = 0
        while tokenBytes.count < vocabSize, let top = heap.pop() {
            let current = pairCount[top.pair] ?? 0
            if top.count != current {
                if current > 0 { heap.push(PairEntry(count: current, pair: top.pair)) }
                continue
            }
            if current < minFrequency { break }
            let a = Int32(truncatingIfNeeded: top.pair >> 32), b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let bytes = tokenBytes[Int(a)] + tokenBytes[Int(b)]
            let m: Int32
            if let existing = idOfBytes[bytes] {
                m = existing
            } else {
                m = Int32(tokenBytes.count)
                tokenBytes.append(bytes)
                idOfBytes[bytes] = m
            }
            merges.append((a, b, m))
            changed.removeAll(keepingCapacity: true)
            for w in whereIs[top.pair] ?? [] where stamp[Int(w)] != round {
                stamp[Int(w)] = round
                let c = counts[Int(w)]
                mergeWord(&words2[Int(w)], a, b, m) { pair, delta in
                    pairCount[pair, default: 0] += delta * c
                    if delta > 0 {
                        if whereIs[pair]?.last != w { whereIs[pair, default: []].append(w) }
                        changed[pair] = w
                    }
                }
            }
            whereIs[top.pair] = nil
            pairCount[top.pair] = 0
            for k in changed.keys.sorted() {
                if let c = pairCount[k], c > 0 { heap.push(PairEntry(count: c, pair: k)) }
            }
            round += 1
        }
        return TrainedBPE(tokenBytes: tokenBytes, specials: specials, merges: merges)
    }

    /// The distinct words of `text` (outside special tokens) as byte-symbol ids, with their counts, in order of
    /// first occurrence.
    static func countWords(_ text: String, specials: [String], idOfByte: [Int32]) throws -> (words: [[Int32]], counts: [Int]) {
        let bytes = Array(text.utf8)
        var index: [ArraySlice<UInt8>: Int] = [:]
        var words: [[Int32]] = []
        var counts: [Int] = []
        try bytes.withUnsafeBufferPointer { bp in
            for piece in splitAtSpecials(bp, specials.map { Array($0.utf8) }) where !piece.isEmpty {
                let sub = UnsafeBufferPointer(rebasing: bp[piece])
                for r in try PreTokenization.words(sub, pre: "gpt-2") {
                    let w = bytes[(piece.lowerBound + r.lowerBound)..<(piece.lowerBound + r.upperBound)]
                    if let i = index[w] {
                        counts[i] += 1
                    } else {
                        index[w] = words.count
                        words.append(w.map { idOfByte[Int($0)] })
                        counts.append(1)
                    }
                }
            }
        }
        return (words, counts)
    }

    /// Ranges of `bytes` between occurrences of any of `specials` (leftmost, longest special first).
    static func splitAtSpecials(_ bytes: UnsafeBufferPointer<UInt8>, _ specials: [[UInt8]]) -> [Range<Int>] {
        let sp = specials.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
        guard !sp.isEmpty else { return [0..<bytes.count] }
        var out: [Range<Int>] = []
        var start = 0, i = 0
        let n = bytes.count
        outer: while i < n {
            for s in sp where s[0] == bytes[i] && i + s.count <= n {
                var ok = true
                for j in 1..<s.count where bytes[i + j] != s[j] { ok = false; break }
                if ok {
                    out.append(start..<i)
                    i += s.count
                    start = i
                    continue outer
                }
            }
            i += 1
        }
        out.append(start..<n)
        return out
    }

    /// Replaces every (a, b) in `sym`, left to right without overlap, by `m`, reporting the change of each
    /// neighbouring pair (HF's `Word::merge`: the merged pair's own count is not reported).
    static func mergeWord(_ sym: inout [Int32], _ a: Int32, _ b: Int32, _ m: Int32, _ change: (UInt64, Int) -> Void) {
        @inline(__always) func key(_ x: Int32, _ y: Int32) -> UInt64 { UInt64(UInt32(x)) << 32 | UInt64(UInt32(y)) }
        let n = sym.count
        guard n > 1 else { return }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var i = 0
        while i < n {
            if i + 1 < n && sym[i] == a && sym[i + 1] == b {
                if let p = out.last {
                    change(key(p, a), -1)
                    change(key(p, m), 1)
                }
                if i + 2 < n {
                    change(key(b, sym[i + 2]), -1)
                    change(key(m, sym[i + 2]), 1)
                }
                out.append(m)
                i += 2
            } else {
                out.append(sym[i])
                i += 1
            }
        }
        sym = out
    }
}

/// A heap entry: a pair (left id << 32 | right id) and its count when pushed.
struct PairEntry: HeapOrdered {
    var count: Int
    var pair: UInt64
    /// Pops first: the higher count, then the smaller pair.
    @inline(__always) static func precedes(_ x: PairEntry, _ y: PairEntry) -> Bool {
        x.count > y.count || (x.count == y.count && x.pair < y.pair)
    }
}
