// BPETokenizer: byte-level BPE (`tokenizer.ggml.model = gpt2`: GPT-2, Llama 3, SmolLM, Qwen2, StarCoder …) as
// llama.cpp's `llm_tokenizer_bpe_session` does it. Text is split at special tokens (Vocabulary), each piece
// into words by the pre-tokenizer named by `tokenizer.ggml.pre`, and each word is merged pair by pair: the
// adjacent pair with the lowest merge rank first, ties to the leftmost, with a heap over a linked list of
// symbols. With `ignore_merges` (Llama 3) a word that is a token as a whole is emitted as is.
//
// llama.cpp works on the GPT-2 byte-level spelling of each word (every byte one printable code point); here
// the same algorithm runs on the raw bytes: token texts and merge halves are decoded to bytes once at load
// (the spelling is a bijection), every string that occurs gets an id ("extended ids": tokens keep theirs,
// merge-only strings get ids past the vocab), and a merge is a lookup of an id pair.
// Not here: special-token splitting, ids and attributes (Vocabulary), the regexes (PreTokenizer).

import Formats

public struct BPETokenizer: Tokenizer {
    let vocab: Vocabulary
    let pre: PreTokenizer
    let ignoreMerges: Bool
    /// Raw bytes → extended id (token id, or ≥ vocab count for strings only merges produce or consume).
    let rawIDs: ByteStringTable
    /// (left ext id << 32 | right ext id) → (rank << 32 | merged ext id).
    let merges: [UInt64: UInt64]
    /// Extended id of each single byte (-1: no token or merge spells it).
    let byteExt: [Int32]
    /// Token whose stored text is exactly this one byte (llama.cpp's last-resort fallback), or -1.
    let singleByteToken: [Int32]
    /// What each token decodes to with `special: true`.
    let pieces: [[UInt8]]

    public var vocabularySize: Int { vocab.count }
    public var bos: Int? { vocab.bos }
    public var eos: Int? { vocab.eos }
    public var addsBOS: Bool { vocab.addBOS }
    public var addsEOS: Bool { vocab.addEOS }
    /// The `tokenizer.ggml.pre` name in use.
    public var preTokenizerName: String { pre.name }

    /// A byte-level BPE tokenizer from GGUF `tokenizer.ggml.*` metadata.
    public init(metadata md: GGUFMetadata) throws {
        try self.init(metadata: md, defaultSpecialIDs: true)
    }

    /// `defaultSpecialIDs: false`: no BOS/EOS unless the metadata names them (llama.cpp's default id 11 is for
    /// GGUF files; a tokenizer.json that names no BOS has none).
    init(metadata md: GGUFMetadata, defaultSpecialIDs: Bool) throws {
        let preName = md["tokenizer.ggml.pre"]?.string ?? "default"
        guard let (pre, ignoreMerges, addBOS) = PreTokenizer.named(preName) else {
            throw InferError.tokenizer("unknown pre-tokenizer type '\(preName)' (tokenizer.ggml.pre); supported: \(PreTokenizer.supportedNames)")
        }
        guard let mv = md["tokenizer.ggml.merges"] else { throw InferError.tokenizer("cannot find tokenizer merges (tokenizer.ggml.merges)") }
        guard let mergeStrings = mv.strings else {
            throw InferError.tokenizer("tokenizer.ggml.merges must be an array of strings (is \(mv.type))")
        }
        let vocab = try Vocabulary(metadata: md, kind: .bpe, addBOSDefault: addBOS, defaultIDs: defaultSpecialIDs)
        self.vocab = vocab
        self.pre = pre
        self.ignoreMerges = ignoreMerges
        let n = vocab.count

        var raw = ByteStringTable(capacity: n + mergeStrings.count / 4)
        for i in 0..<n {
            if let b = ByteLevel.decode(vocab.texts[i]) { raw.insert(b, Int32(i)) }
        }
        var next = Int32(n)
        func ext(_ b: [UInt8]) -> Int32 {
            if let v = raw.lookup(b) { return v }
            defer { next += 1 }
            return raw.insert(b, next)
        }
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(mergeStrings.count)
        for (rank, m) in mergeStrings.enumerated() {
            let u = Array(m.utf8)
            // llama.cpp splits at the first space after the first byte.
            guard u.count > 1, let sp = u[1...].firstIndex(of: 0x20) else { continue }
            guard let a = ByteLevel.decode(Array(u[..<sp])), let b = ByteLevel.decode(Array(u[(sp + 1)...])),
                  !a.isEmpty, !b.isEmpty else { continue }
            let ea = ext(a), eb = ext(b), er = ext(a + b)
            let k = UInt64(UInt32(ea)) << 32 | UInt64(UInt32(eb))
            if merges[k] == nil { merges[k] = UInt64(rank) << 32 | UInt64(UInt32(er)) }
        }
        self.rawIDs = raw
        self.merges = merges
        self.byteExt = (0..<256).map { raw.lookup([UInt8($0)]) ?? -1 }
        var single = [Int32](repeating: -1, count: 256)
        for i in 0..<n where vocab.texts[i].count == 1 { single[Int(vocab.texts[i][0])] = Int32(i) }
        self.singleByteToken = single

        self.pieces = (0..<n).map { i in
            let a = vocab.attrs[i], t = vocab.texts[i]
            if !a.isDisjoint(with: [.unknown, .control, .userDefined]) { return t }
            if a.contains(.normal) { return BPETokenizer.decodeText(t) }
            if a.contains(.byte) { return [byteOfHexToken(t)] }
            return []
        }
    }

    /// llama.cpp's `llama_decode_text`: each character back to its byte; a character that stands for no byte
    /// becomes `[UNK_BYTE_0x<its UTF-8 in hex><the whole text>]`.
    static func decodeText(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for s in String(decoding: text, as: UTF8.self).unicodeScalars {
            if s.value < 0x144, ByteLevel.byteOfScalar[Int(s.value)] >= 0 {
                out.append(UInt8(ByteLevel.byteOfScalar[Int(s.value)]))
            } else {
                out += Array("[UNK_BYTE_0x".utf8)
                for b in String(s).utf8 { out += Array(hex2(b).lowercased().utf8) }
                out += text + [0x5D]
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

    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        out.reserveCapacity(bytes.count / 3 + 2)
        if addSpecial && vocab.addBOS, let b = vocab.bos { out.append(b) }
        var work = MergeWork()
        for f in vocab.partition(bytes, parseSpecial: parseSpecial) {
            switch f {
            case let .token(t): out.append(t)
            case let .text(r): bytes.withUnsafeBufferPointer { encodeText(UnsafeBufferPointer(rebasing: $0[r]), &work, &out) }
            }
        }
        if addSpecial && vocab.addEOS, let e = vocab.eos { out.append(e) }
        return out
    }

    /// Pre-tokenizes and merges one run of text without special tokens.
    func encodeText(_ text: UnsafeBufferPointer<UInt8>, _ work: inout MergeWork, _ out: inout [Int]) {
        for r in PreTokenization.ranges(text, pre) {
            let word = UnsafeBufferPointer(rebasing: text[r])
            if ignoreMerges, let t = rawIDs.lookup(UnsafeRawBufferPointer(word)), Int(t) < vocab.count {
                out.append(Int(t))
                continue
            }
            mergeWord(word, &work, &out)
        }
    }

    /// BPE on one word's bytes.
    func mergeWord(_ word: UnsafeBufferPointer<UInt8>, _ w: inout MergeWork, _ out: inout [Int]) {
        let n = word.count
        w.reset(n)
        for i in 0..<n {
            w.ext[i] = byteExt[Int(word[i])]
            w.len[i] = 1
            w.prev[i] = Int32(i - 1)
            w.next[i] = i + 1 < n ? Int32(i + 1) : -1
        }
        for i in 1..<max(n, 1) { addBigram(Int32(i - 1), Int32(i), &w) }
        while let b = w.heap.pop() {
            let l = Int(b.left), r = Int(b.right)
            if w.len[l] == 0 || w.len[r] == 0 || w.len[l] + w.len[r] != b.size { continue }  // stale
            w.len[l] += w.len[r]
            w.len[r] = 0
            w.ext[l] = b.merged
            w.next[l] = w.next[r]
            if w.next[r] >= 0 { w.prev[Int(w.next[r])] = b.left }
            addBigram(w.prev[l], b.left, &w)
            addBigram(b.left, w.next[l], &w)
        }
        var i = 0
        let nv = Int32(vocab.count)
        while i >= 0 && i < n {
            let e = w.ext[i]
            if e >= 0 && e < nv {
                out.append(Int(e))
            } else {
                // Not a token: llama.cpp looks up each byte of the byte-level spelling as a one-byte token.
                for k in i..<(i + Int(w.len[i])) {
                    let s = ByteLevel.scalarOfByte[Int(word[k])]
                    if s < 0x80 {
                        if singleByteToken[Int(s)] >= 0 { out.append(Int(singleByteToken[Int(s)])) }
                    } else {
                        for x in String(Character(Unicode.Scalar(s)!)).utf8 where singleByteToken[Int(x)] >= 0 {
                            out.append(Int(singleByteToken[Int(x)]))
                        }
                    }
                }
            }
            i = Int(w.next[i])
        }
    }

    @inline(__always)
    func addBigram(_ l: Int32, _ r: Int32, _ w: inout MergeWork) {
        guard l >= 0 && r >= 0 else { return }
        let el = w.ext[Int(l)], er = w.ext[Int(r)]
        guard el >= 0 && er >= 0, let m = merges[UInt64(UInt32(el)) << 32 | UInt64(UInt32(er))] else { return }
        w.heap.push(Bigram(rank: Int32(truncatingIfNeeded: m >> 32), left: l, right: r,
                           size: w.len[Int(l)] + w.len[Int(r)], merged: Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)))
    }
}

/// A candidate merge: symbols `left` and `right` (adjacent when pushed) joined into `merged`.
struct Bigram: HeapOrdered {
    var rank: Int32
    var left: Int32
    var right: Int32
    var size: Int32
    var merged: Int32

    /// llama.cpp's order: lower rank first, then the leftmost.
    @inline(__always) static func precedes(_ a: Bigram, _ b: Bigram) -> Bool {
        a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
    }
}

/// Buffers reused across the words of one encode call.
struct MergeWork {
    var ext: [Int32] = []
    var len: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap = PriorityHeap<Bigram>()

    mutating func reset(_ n: Int) {
        if ext.count < n {
            ext = [Int32](repeating: 0, count: n)
            len = ext
            prev = ext
            next = ext
        }
        heap.removeAll()
    }
}

/// One code point of valid-or-not UTF-8 at `i` and its length; a malformed byte reads as U+FFFD of length 1
/// (as llama.cpp's `unicode_cpts_from_utf8`).
@inline(__always)
func decodeUTF8(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
    let b0 = UInt32(t[i])
    if b0 < 0x80 { return (b0, 1) }
    @inline(__always) func cont(_ k: Int) -> UInt32? { i + k < t.count && t[i + k] & 0xC0 == 0x80 ? UInt32(t[i + k] & 0x3F) : nil }
    if b0 & 0xE0 == 0xC0, let c1 = cont(1) { return ((b0 & 0x1F) << 6 | c1, 2) }
    if b0 & 0xF0 == 0xE0, let c1 = cont(1), let c2 = cont(2) { return ((b0 & 0x0F) << 12 | c1 << 6 | c2, 3) }
    if b0 & 0xF8 == 0xF0, let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
        return ((b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3, 4)
    }
    return (0xFFFD, 1)
}

/// Two upper-case hex digits.
func hex2(_ b: UInt8) -> String {
    let d = Array("0123456789ABCDEF".utf8)
    return String(decoding: [d[Int(b >> 4)], d[Int(b & 15)]], as: UTF8.self)
}

/// The byte of a `<0xXX>` token (llama.cpp's `token_to_byte`: hex digits at offsets 3–4, 0 if unreadable).
func byteOfHexToken(_ t: [UInt8]) -> UInt8 {
    guard t.count >= 5 else { return 0 }
    return UInt8(String(decoding: t[3..<5], as: UTF8.self), radix: 16) ?? 0
}
