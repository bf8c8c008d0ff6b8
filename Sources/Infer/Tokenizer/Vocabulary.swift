// Vocabulary: the part of a GGUF tokenizer every algorithm shares, loaded as llama.cpp's `llama_vocab::load`
// does: token texts and attributes (`tokenizer.ggml.token_type`), scores, the special ids (BOS/EOS/EOT/EOM/UNK/…
// with llama.cpp's defaults per model type, out-of-range ids ignored), add_bos/add_eos, the end-of-generation
// set (found by text among the tokens, as llama.cpp does), and the split of a text at special tokens
// (`tokenizer_st_partition`: control, user-defined and unknown tokens, longest first; user-defined tokens are
// split out even when special tokens are not parsed).
// Not here: how raw text between special tokens becomes ids (BPETokenizer, SPMTokenizer).

import Foundation
import Formats

/// llama.cpp's `llama_token_attr` bits.
struct TokenAttr: OptionSet, Sendable {
    let rawValue: UInt16
    static let unknown = TokenAttr(rawValue: 1 << 0)
    static let unused = TokenAttr(rawValue: 1 << 1)
    static let normal = TokenAttr(rawValue: 1 << 2)
    static let control = TokenAttr(rawValue: 1 << 3)
    static let userDefined = TokenAttr(rawValue: 1 << 4)
    static let byte = TokenAttr(rawValue: 1 << 5)
    static let lstrip = TokenAttr(rawValue: 1 << 7)
    static let rstrip = TokenAttr(rawValue: 1 << 8)

    /// From a GGUF token type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; else undefined).
    init(ggufType t: Int) {
        switch t {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = []
        }
    }

    init(rawValue: UInt16) { self.rawValue = rawValue }
}

/// A piece of text to tokenize: raw bytes `range` of the input, or a special token already recognised.
enum Fragment: Equatable {
    case text(Range<Int>)
    case token(Int)
}

struct Vocabulary: Sendable {
    enum Kind { case bpe, spm, char }

    /// Token texts as stored in the GGUF (UTF-8 bytes; empty tokens renamed `[EMPTY_i]` as llama.cpp does).
    let texts: [[UInt8]]
    var attrs: [TokenAttr]
    let scores: [Float]
    /// Text → id over all tokens.
    let ids: ByteStringTable

    var bos: Int? = nil, eos: Int? = nil, eot: Int? = nil, eom: Int? = nil, unk: Int? = nil
    var sep: Int? = nil, pad: Int? = nil
    var addBOS = false, addEOS = false
    var endOfGeneration: Set<Int> = []
    /// Control, user-defined and unknown tokens, longest text first (ties: lower id first).
    var specialTokens: [Int] = []

    var count: Int { texts.count }

    /// Loads tokens, types, scores, special ids and flags. `addBOSDefault` is llama.cpp's default for the
    /// model type / pre-tokenizer (`tokenizer.ggml.add_bos_token` overrides it); `defaultIDs: false` drops
    /// llama.cpp's default BOS/EOS/UNK ids (e.g. 11 for BPE), for vocabularies that do not come from a GGUF.
    init(metadata md: GGUFMetadata, kind: Kind, addBOSDefault: Bool, defaultIDs: Bool = true) throws {
        guard let tokVal = md["tokenizer.ggml.tokens"] else { throw InferError.tokenizer("no tokenizer.ggml.tokens in the metadata") }
        guard let strs = tokVal.strings else {
            throw InferError.tokenizer("tokenizer.ggml.tokens must be an array of strings (is \(tokVal.type))")
        }
        let n = strs.count
        guard n > 0 else { throw InferError.tokenizer("tokenizer.ggml.tokens is empty") }
        guard n < Int(Int32.max) else { throw InferError.tokenizer("tokenizer.ggml.tokens has \(n) entries") }

        var scores = [Float](repeating: 0, count: n)
        if let sv = md["tokenizer.ggml.scores"] {
            guard case let .array(et, a) = sv, et == .float32 || et == .int32 else {
                throw InferError.tokenizer("tokenizer.ggml.scores must be an array of float32 or int32 (is \(sv.type))")
            }
            guard a.count >= n else { throw InferError.tokenizer("tokenizer.ggml.scores has \(a.count) entries for \(n) tokens") }
            for i in 0..<n { scores[i] = Float(a[i].double ?? 0) }
        }
        var attrs = [TokenAttr](repeating: .normal, count: n)
        if let tv = md["tokenizer.ggml.token_type"] {
            guard case let .array(et, a) = tv, et == .int32 else {
                throw InferError.tokenizer("tokenizer.ggml.token_type must be an array of int32 (is \(tv.type))")
            }
            guard a.count >= n else { throw InferError.tokenizer("tokenizer.ggml.token_type has \(a.count) entries for \(n) tokens") }
            for i in 0..<n { attrs[i] = TokenAttr(ggufType: a[i].int ?? 0) }
        }

        var texts: [[UInt8]] = []
        texts.reserveCapacity(n)
        var ids = ByteStringTable(capacity: n)
        for (i, s) in strs.enumerated() {
            let t = s.isEmpty ? Array("[EMPTY_\(i)]".utf8) : Array(s.utf8)
            if let j = ids.lookup(t) {
                throw InferError.tokenizer("duplicate token in vocabulary: '\(s)' has ids \(j) and \(i)")
            }
            ids.insert(t, Int32(i))
            texts.append(t)
        }
        self.texts = texts
        self.attrs = attrs
        self.scores = scores
        self.ids = ids

        // Special ids: llama.cpp's defaults per type, then the metadata (ids outside the vocab are ignored).
        func inRange(_ v: Int?) -> Int? { v.flatMap { $0 >= 0 && $0 < n ? $0 : nil } }
        switch kind {
        case .spm where defaultIDs: (bos, eos, unk) = (inRange(1), inRange(2), inRange(0))
        case .bpe where defaultIDs: (bos, eos) = (inRange(11), inRange(11))
        default: break
        }
        func key(_ k: String) -> Int? { inRange(md["tokenizer.ggml." + k]?.int) }
        if let v = key("bos_token_id") { bos = v }
        if let v = key("eos_token_id") { eos = v }
        if let v = key("eot_token_id") { eot = v }
        if let v = key("eom_token_id") { eom = v }
        if let v = key("unknown_token_id") { unk = v }
        if let v = key("seperator_token_id") ?? key("separator_token_id") { sep = v }
        if let v = key("padding_token_id") { pad = v }
        // FIM ids: from the metadata, else found by text below (pad/rep/sep end generation).
        var fimPre = key("fim_pre_token_id") ?? key("prefix_token_id"), fimSuf = key("fim_suf_token_id") ?? key("suffix_token_id")
        var fimMid = key("fim_mid_token_id") ?? key("middle_token_id")
        var fimPad = key("fim_pad_token_id"), fimRep = key("fim_rep_token_id"), fimSep = key("fim_sep_token_id")

        addBOS = addBOSDefault
        if let b = md["tokenizer.ggml.add_bos_token"]?.bool { addBOS = b }
        if let b = md["tokenizer.ggml.add_eos_token"]?.bool { addEOS = b }
        if addBOS && bos == nil { throw InferError.tokenizer("tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set") }
        if addEOS && eos == nil { throw InferError.tokenizer("tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set") }

        // Tokens found by text (llama.cpp: "auto-detect special tokens by text"); each becomes a control token.
        func id(_ t: String) -> Int? { ids.lookup(Array(t.utf8)).map(Int.init) }
        let eotNames = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
                        "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"]
        var markControl: [Int] = []
        func detect(_ slot: inout Int?, _ names: [String]) {
            if slot == nil, let i = names.lazy.compactMap(id).min() { slot = i; markControl.append(i) }
        }
        detect(&eot, eotNames)
        detect(&eom, ["<|eom_id|>"])
        detect(&fimPre, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"])
        detect(&fimSuf, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"])
        detect(&fimMid, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"])
        detect(&fimPad, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"])
        detect(&fimRep, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"])
        detect(&fimSep, ["<|file_sep|>"])
        for i in markControl { self.attrs[i].insert(.control) }
        for i in 0..<n where self.attrs[i].contains(.control) && texts[i].containsSubsequence(Array("unused".utf8)) {
            self.attrs[i].insert(.unused)
        }

        let eogNames = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
                        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
                        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["]
        var eog = Set([fimPad, fimRep, fimSep].compactMap { $0 })
        for name in eogNames { if let i = id(name) { eog.insert(i); self.attrs[i].insert(.control) } }
        for name in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let i = id(name) { self.attrs[i] = .userDefined }
        }
        for i in [eos, eot, eom].compactMap({ $0 }) { eog.insert(i) }
        // o200k_harmony / solar-open: "<|end|>" is not an end of generation there.
        if let end = id("<|end|>"), eog.contains(end) {
            let has = { (t: String) in id(t).map { eog.contains($0) } ?? false }
            if (has("<|return|>") && (has("<|call|>") || has("<|calls|>"))) || (has("<|calls|>") && has("<|flush|>")) {
                eog.remove(end)
                self.attrs[end] = .userDefined
            }
        }
        if let s = id("</s>"), eog.contains(s), let tr = id("<|tool_response>"), eog.contains(tr) {
            eog.remove(s)
            self.attrs[s] = .normal
        }
        endOfGeneration = eog

        let special: TokenAttr = [.control, .userDefined, .unknown]
        specialTokens = (0..<n).filter { !self.attrs[$0].isDisjoint(with: special) }
            .sorted { texts[$0].count != texts[$1].count ? texts[$0].count > texts[$1].count : $0 < $1 }

        // Per-model strip attributes llama.cpp sets by name.
        let pre = md["tokenizer.ggml.pre"]?.string ?? ""
        let arch = md["general.architecture"]?.string ?? ""
        let name = (md["general.name"]?.string ?? "").lowercased()
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"].contains(where: pre.contains)
            || ["nomic-bert-moe", "jina-bert-v3"].contains(where: arch.contains) {
            if let m = id("<mask>") { self.attrs[m].insert(.lstrip) }
        } else if name.contains("phi-3") || name.contains("phi3") {
            for i in specialTokens { self.attrs[i].insert(.rstrip) }
            if let i = id("</s>") { self.attrs[i].insert(.rstrip) }
            for t in ["<unk>", "<s>", "<|endoftext|>"] { if let i = id(t) { self.attrs[i].remove(.rstrip) } }
        } else if name.contains("modern-bert") {
            if let m = id("[MASK]") { self.attrs[m].insert(.lstrip) }
        }
    }

    /// Id of the token whose text is exactly `bytes`.
    @inline(__always)
    func id(of bytes: UnsafeRawBufferPointer) -> Int? { ids.lookup(bytes).map(Int.init) }
    func id(of text: String) -> Int? { ids.lookup(Array(text.utf8)).map(Int.init) }

    /// `text` split at special tokens as llama.cpp's `tokenizer_st_partition` does: for each special token,
    /// longest first, every occurrence in every remaining text fragment becomes a token fragment. Control and
    /// unknown tokens only when `parseSpecial`; user-defined tokens always.
    func partition(_ text: [UInt8], parseSpecial: Bool) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        var frags: [Fragment] = [.text(0..<text.count)]
        text.withUnsafeBufferPointer { tp in
            let base = tp.baseAddress!
            for sid in specialTokens {
                let a = attrs[sid]
                if !parseSpecial && !a.isDisjoint(with: [.control, .unknown]) { continue }
                let tok = texts[sid]
                guard !tok.isEmpty else { continue }
                var out: [Fragment] = []
                var changed = false
                for f in frags {
                    guard case var .text(r) = f else { out.append(f); continue }
                    var matchedHere = false
                    while let m = find(tok, in: base, r) {
                        matchedHere = true
                        var left = r.lowerBound..<m
                        if a.contains(.lstrip) {
                            while !left.isEmpty && isCSpace(tp[left.upperBound - 1]) { left = left.lowerBound..<(left.upperBound - 1) }
                        }
                        if !left.isEmpty { out.append(.text(left)) }
                        out.append(.token(sid))
                        var right = (m + tok.count)..<r.upperBound
                        if a.contains(.rstrip) {
                            while !right.isEmpty && isCSpace(tp[right.lowerBound]) { right = (right.lowerBound + 1)..<right.upperBound }
                        }
                        r = right
                        if r.isEmpty { break }
                    }
                    if !r.isEmpty { out.append(.text(r)) }
                    if matchedHere { changed = true }
                }
                if changed { frags = out }
            }
        }
        return frags
    }
}

/// C `isspace` in the "C" locale (what llama.cpp's lstrip/rstrip test).
@inline(__always) private func isCSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

/// First occurrence of `needle` in `hay[r]`.
private func find(_ needle: [UInt8], in hay: UnsafePointer<UInt8>, _ r: Range<Int>) -> Int? {
    let n = needle.count
    guard n > 0, r.count >= n else { return nil }
    return needle.withUnsafeBufferPointer { np -> Int? in
        let first = np[0]
        var p = r.lowerBound
        let last = r.upperBound - n
        while p <= last {
            guard let hit = memchr(hay + p, Int32(first), last - p + 1) else { return nil }
            let q = hay.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(hay + q, np.baseAddress!, n) == 0 { return q }
            p = q + 1
        }
        return nil
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ s: [UInt8]) -> Bool {
        guard s.count <= count else { return false }
        if s.isEmpty { return true }
        for i in 0...(count - s.count) where self[i] == s[0] && Array(self[i..<(i + s.count)]) == s { return true }
        return false
    }
}
