// SPMTokenizer: SentencePiece-style BPE (`tokenizer.ggml.model = llama`: Llama 1/2, Mistral, TinyLlama …) as
// llama.cpp's `llm_tokenizer_spm_session` does it. Spaces are written `▁` (U+2581), a space is prefixed to
// the text (and after each special token) when `add_space_prefix` is on, and the text is merged with no
// pre-splitting: starting from single UTF-8 characters, the adjacent pair whose concatenation is a token with
// the highest score is merged first (ties to the leftmost). A symbol that is not a token at the end falls
// back to its bytes as `<0xXX>` tokens (byte fallback).
// Not here: special-token splitting, ids and attributes (Vocabulary).

import Formats

public struct SPMTokenizer: Tokenizer {
    let vocab: Vocabulary
    let addSpacePrefix: Bool
    /// Token for each byte in byte fallback: `<0xXX>`, else the one-byte token, else -1.
    let byteTokens: [Int32]
    /// What each token decodes to with `special: true`.
    let pieces: [[UInt8]]

    public var vocabularySize: Int { vocab.count }
    public var bos: Int? { vocab.bos }
    public var eos: Int? { vocab.eos }
    public var addsBOS: Bool { vocab.addBOS }
    public var addsEOS: Bool { vocab.addEOS }

    static let space: [UInt8] = [0xE2, 0x96, 0x81]  // ▁

    /// An SPM tokenizer from GGUF `tokenizer.ggml.*` metadata (`tokens`, `scores`, `token_type`, special ids).
    public init(metadata md: GGUFMetadata) throws {
        let vocab = try Vocabulary(metadata: md, kind: .spm, addBOSDefault: true)
        self.vocab = vocab
        addSpacePrefix = md["tokenizer.ggml.add_space_prefix"]?.bool ?? true
        byteTokens = (0..<256).map { b in
            vocab.ids.lookup(Array("<0x\(hex2(UInt8(b)))>".utf8)) ?? vocab.ids.lookup([UInt8(b)]) ?? -1
        }
        pieces = (0..<vocab.count).map { i in
            let a = vocab.attrs[i], t = vocab.texts[i]
            if !a.isDisjoint(with: [.unknown, .control, .userDefined]) { return t }
            if a.contains(.normal) { return SPMTokenizer.unescape(t) }
            if a.contains(.byte) { return [byteOfHexToken(t)] }
            return []
        }
    }

    /// `▁` → space.
    static func unescape(_ t: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(t.count)
        var i = 0
        while i < t.count {
            if i + 2 < t.count && t[i] == 0xE2 && t[i + 1] == 0x96 && t[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(t[i])
                i += 1
            }
        }
        return out
    }

    public func piece(_ id: Int, special: Bool) -> [UInt8] {
        guard id >= 0 && id < vocab.count else { return [] }
        if !special && !vocab.attrs[id].isDisjoint(with: [.unknown, .control]) { return [] }
        return pieces[id]
    }

    public func isEndOfGeneration(_ id: Int) -> Bool { vocab.endOfGeneration.contains(id) }

    /// llama.cpp's `detokenize` (special tokens kept, no cleanup): the leading space of the first token is
    /// dropped when the encoder adds one (`add_space_prefix`).
    public func decode(_ ids: [Int], special: Bool) -> String {
        var bytes: [UInt8] = []
        for (k, id) in ids.enumerated() {
            var p = piece(id, special: special)
            if k == 0 && addSpacePrefix && p.first == 0x20 { p.removeFirst() }
            bytes += p
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        if addSpecial && vocab.addBOS, let b = vocab.bos { out.append(b) }
        var prevSpecial = true
        for f in vocab.partition(bytes, parseSpecial: parseSpecial) {
            switch f {
            case let .token(t):
                out.append(t)
                prevSpecial = true
            case let .text(r):
                var s: [UInt8] = []
                s.reserveCapacity(r.count + r.count / 2 + 3)
                if addSpacePrefix && prevSpecial { s += SPMTokenizer.space }
                for b in bytes[r] {
                    if b == 0x20 { s += SPMTokenizer.space } else { s.append(b) }
                }
                merge(s, &out)
                prevSpecial = false
            }
        }
        if addSpecial && vocab.addEOS, let e = vocab.eos { out.append(e) }
        return out
    }

    /// The SPM merge loop over one escaped text.
    func merge(_ text: [UInt8], _ out: inout [Int]) {
        // Symbols: UTF-8 characters (length from the lead byte, clipped at the end, as llama.cpp's unicode_len_utf8).
        var start: [Int32] = [], len: [Int32] = [], prev: [Int32] = [], next: [Int32] = []
        var o = 0
        while o < text.count {
            let lead = text[o] >> 4
            let l = min(lead < 0xC ? 1 : lead < 0xE ? 2 : lead == 0xE ? 3 : 4, text.count - o)
            prev.append(Int32(start.count - 1))
            start.append(Int32(o))
            len.append(Int32(l))
            o += l
            next.append(o == text.count ? -1 : Int32(start.count))
        }
        let n = start.count
        guard n > 0 else { return }
        var heap = PriorityHeap<ScoredBigram>()
        text.withUnsafeBytes { tb in
            func tryAdd(_ l: Int32, _ r: Int32) {
                guard l >= 0 && r >= 0 else { return }
                let s = Int(start[Int(l)]), size = Int(len[Int(l)] + len[Int(r)])
                guard let id = vocab.ids.lookup(UnsafeRawBufferPointer(rebasing: tb[s..<(s + size)])) else { return }
                heap.push(ScoredBigram(score: vocab.scores[Int(id)], left: l, right: r, size: Int32(size)))
            }
            for i in 1..<max(n, 1) { tryAdd(Int32(i - 1), Int32(i)) }
            while let b = heap.pop() {
                let l = Int(b.left), r = Int(b.right)
                if len[l] == 0 || len[r] == 0 || len[l] + len[r] != b.size { continue }
                len[l] += len[r]
                len[r] = 0
                next[l] = next[r]
                if next[r] >= 0 { prev[Int(next[r])] = b.left }
                tryAdd(prev[l], b.left)
                tryAdd(b.left, next[l])
            }
            var i = 0
            while i >= 0 {
                let s = Int(start[i]), l = Int(len[i])
                if let id = vocab.ids.lookup(UnsafeRawBufferPointer(rebasing: tb[s..<(s + l)])) {
                    out.append(Int(id))
                } else {
                    for k in s..<(s + l) {
                        let t = byteTokens[Int(text[k])]
                        // llama.cpp throws when a byte has no token; we fall back to the unknown token.
                        if t >= 0 { out.append(Int(t)) } else if let u = vocab.unk { out.append(u) }
                    }
                }
                i = Int(next[i])
            }
        }
    }
}

/// A candidate SPM merge; llama.cpp's order is the higher score first, then the leftmost.
struct ScoredBigram: HeapOrdered {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32

    @inline(__always) static func precedes(_ a: ScoredBigram, _ b: ScoredBigram) -> Bool {
        a.score > b.score || (a.score == b.score && a.left < b.left)
    }
}
