// PreTokenizer: splits text into the words byte-level BPE merges within, as llama.cpp's
// `unicode_regex_split` does for each `tokenizer.ggml.pre` name. Each name is a list of passes (llama.cpp's
// `regex_exprs`); every pass refines the previous segmentation: a match and the gaps between matches each
// become a segment, and later passes never cross a segment boundary. The regexes are hand-written
// matchers, not a regex engine: the GPT-2 and Llama 3 ones are ports of llama.cpp's custom splitters
// (`unicode_regex_split_custom_gpt2/llama3`); the small ones (`\p{N}`, `[0-9][0-9][0-9]`, `\s?\p{L}+`…) follow
// std::regex's leftmost-greedy search the way llama.cpp runs them on its "collapsed" text.
// Not here: byte-level encoding and merging (BPETokenizer), special tokens (Vocabulary).

struct PreTokenizer: Sendable {
    /// A character class of a small regex.
    enum CharClass: Sendable {
        case number            // \p{N}
        case letter            // \p{L}
        case punctuation       // \p{P}
        case newline           // [\r\n]
        case punctuationPlus   // [\p{P}\$\+<=>\^~\|]   (llama.cpp's default pre-tokenizer)
        case falconPunctuation // [\p{P}\$\+<=>\^~\|`]
        case deepseekCJK       // [一-龥ࠀ-一가-퟿]

        @inline(__always)
        func contains(_ cp: UInt32, _ f: UInt16) -> Bool {
            switch self {
            case .number: return f & UnicodeFlags.number != 0
            case .letter: return f & UnicodeFlags.letter != 0
            case .punctuation: return f & UnicodeFlags.punctuation != 0
            case .newline: return cp == 0x0A || cp == 0x0D
            case .punctuationPlus:
                return f & UnicodeFlags.punctuation != 0
                    || cp == 0x24 || cp == 0x2B || cp == 0x3C || cp == 0x3D || cp == 0x3E || cp == 0x5E || cp == 0x7E || cp == 0x7C
            case .falconPunctuation:
                return CharClass.punctuationPlus.contains(cp, f) || cp == 0x60
            case .deepseekCJK:
                // std::wregex sees non-ASCII white space as \v, so U+3000 is not in the range for it.
                return f & UnicodeFlags.whitespace == 0
                    && ((0x4E00...0x9FA5).contains(cp) || (0x0800...0x4E00).contains(cp) || (0xAC00...0xD7FF).contains(cp))
            }
        }
    }

    /// One of llama.cpp's regex passes.
    enum Pass: Sendable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (and `|\s+`).
        case gpt2
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        /// (Llama 3: 3 digits; Qwen2: 1; `contractions: false` drops the first group).
        case llama3(maxDigits: Int, contractions: Bool)
        /// `X`: every code point of the class on its own.
        case each(CharClass)
        /// `X+`
        case runs(CharClass)
        /// `\s?X+`
        case spaceThenRuns(CharClass)
        /// `[0-9][0-9][0-9]`
        case asciiDigitTriples
    }

    let name: String
    let passes: [Pass]

    /// llama.cpp's passes and loader flags for a `tokenizer.ggml.pre` value (nil: a name llama.cpp does not know
    /// or one we do not implement). `ignoreMerges` / `addBOS` are the defaults llama.cpp sets for the name.
    static func named(_ pre: String) -> (pre: PreTokenizer, ignoreMerges: Bool, addBOS: Bool)? {
        let gpt2: [Pass] = [.gpt2]
        switch pre {
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
            return (PreTokenizer(name: pre, passes: [.llama3(maxDigits: 3, contractions: true)]), true, true)
        case "dbrx", "smaug-bpe":
            return (PreTokenizer(name: pre, passes: [.llama3(maxDigits: 3, contractions: true)]), false, false)
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2":
            return (PreTokenizer(name: pre, passes: [.llama3(maxDigits: 1, contractions: true)]), false, false)
        case "ufakzeka":
            return (PreTokenizer(name: pre, passes: [.llama3(maxDigits: 1, contractions: false)]), false, false)
        case "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
             "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4":
            return (PreTokenizer(name: pre, passes: gpt2), false, false)
        case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2":
            return (PreTokenizer(name: pre, passes: [.each(.number), .gpt2]), false, false)
        case "falcon":
            return (PreTokenizer(name: pre, passes: [.runs(.falconPunctuation), .gpt2, .asciiDigitTriples]), false, false)
        case "deepseek-coder":
            return (PreTokenizer(name: pre, passes: [.each(.newline), .spaceThenRuns(.letter), .spaceThenRuns(.punctuation),
                                                     .runs(.deepseekCJK), .each(.number)]), false, false)
        case "default":
            return (PreTokenizer(name: pre, passes: [.runs(.punctuationPlus), .gpt2, .runs(.number), .asciiDigitTriples]), false, false)
        default:
            return nil
        }
    }

    /// Names `named` accepts, for error messages.
    static let supportedNames = "llama-bpe/llama3, qwen2, gpt-2, smollm, starcoder, falcon, deepseek-coder, default (and their aliases)"

    /// Word lengths (in code points, in order, summing to `cps.count`) of the text `cps` with `flags[i] = UnicodeFlags.of(cps[i])`.
    func split(_ cps: UnsafeBufferPointer<UInt32>, _ flags: UnsafeBufferPointer<UInt16>) -> [Int] {
        precondition(cps.count == flags.count)
        var offsets = cps.isEmpty ? [] : [cps.count]
        for pass in passes {
            var out: [Int] = []
            out.reserveCapacity(max(16, cps.count / 3))
            var start = 0
            for len in offsets {
                var s = Splitter(cps: cps, flags: flags, ini: start, end: start + len)
                switch pass {
                case .gpt2: s.gpt2(into: &out)
                case let .llama3(maxDigits, contractions): s.llama3(maxDigits: maxDigits, contractions: contractions, into: &out)
                case let .each(c): s.classMatches(c, run: false, into: &out)
                case let .runs(c): s.classMatches(c, run: true, into: &out)
                case let .spaceThenRuns(c): s.spaceThenRuns(c, into: &out)
                case .asciiDigitTriples: s.asciiDigitTriples(into: &out)
                }
                start += len
            }
            offsets = out
        }
        return offsets
    }
}

/// The matchers of one segment `[ini, end)`; positions outside it read as "no code point" (flags 0).
private struct Splitter {
    let cps: UnsafeBufferPointer<UInt32>
    let flags: UnsafeBufferPointer<UInt16>
    let ini: Int
    let end: Int
    var prevEnd: Int

    static let outOfRange: UInt32 = 0xFFFF_FFFF

    init(cps: UnsafeBufferPointer<UInt32>, flags: UnsafeBufferPointer<UInt16>, ini: Int, end: Int) {
        self.cps = cps
        self.flags = flags
        self.ini = ini
        self.end = end
        prevEnd = ini
    }

    @inline(__always) func cpt(_ p: Int) -> UInt32 { p >= ini && p < end ? cps[p] : Splitter.outOfRange }
    @inline(__always) func flg(_ p: Int) -> UInt16 { p >= ini && p < end ? flags[p] : 0 }
    @inline(__always) static func isWS(_ f: UInt16) -> Bool { f & UnicodeFlags.whitespace != 0 }
    @inline(__always) static func isL(_ f: UInt16) -> Bool { f & UnicodeFlags.letter != 0 }
    @inline(__always) static func isN(_ f: UInt16) -> Bool { f & UnicodeFlags.number != 0 }
    /// `[^\s\p{L}\p{N}]` (and a code point at all).
    @inline(__always) static func isOther(_ f: UInt16) -> Bool {
        f & (UnicodeFlags.whitespace | UnicodeFlags.letter | UnicodeFlags.number) == 0 && f != 0
    }

    /// Ends the current word at `e`; returns its length.
    @discardableResult @inline(__always)
    mutating func add(_ e: Int, _ out: inout [Int]) -> Int {
        let len = e - prevEnd
        if len > 0 { out.append(len) }
        prevEnd = e
        return len
    }

    /// Length of a contraction `'s 't 're 've 'm 'll 'd` at `pos` (0 if none); `lower` folds ASCII case.
    @inline(__always)
    func contraction(at pos: Int, lower: Bool) -> Int {
        guard cpt(pos) == 0x27, pos + 1 < end else { return 0 }
        func fold(_ c: UInt32) -> UInt32 { lower && c >= 0x41 && c <= 0x5A ? c + 0x20 : c }
        let n = fold(cpt(pos + 1))
        if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 { return 2 }  // s t m d
        if pos + 2 < end {
            let nn = fold(cpt(pos + 2))
            if (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) { return 3 }  // re ve ll
        }
        return 0
    }

    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    mutating func gpt2(into out: inout [Int]) {
        var pos = ini
        while pos < end {
            let c = cpt(pos)
            let f = flg(pos)
            let k = contraction(at: pos, lower: false)
            if k > 0 {
                pos += add(pos + k, &out)
                continue
            }
            var f2 = c == 0x20 ? flg(pos + 1) : f
            if Splitter.isL(f2) {
                if c == 0x20 { pos += 1 }
                while Splitter.isL(f2) { pos += 1; f2 = flg(pos) }
                add(pos, &out)
                continue
            }
            if Splitter.isN(f2) {
                if c == 0x20 { pos += 1 }
                while Splitter.isN(f2) { pos += 1; f2 = flg(pos) }
                add(pos, &out)
                continue
            }
            if Splitter.isOther(f2) {
                if c == 0x20 { pos += 1 }
                while Splitter.isOther(f2) { pos += 1; f2 = flg(pos) }
                add(pos, &out)
                continue
            }
            var nws = 0
            while Splitter.isWS(flg(pos + nws)) { nws += 1 }
            if nws > 1 && cpt(pos + nws) != Splitter.outOfRange {  // \s+(?!\S)
                pos += nws - 1
                add(pos, &out)
                continue
            }
            if nws > 0 {
                pos += nws
                add(pos, &out)
                continue
            }
            pos += 1
            add(pos, &out)
        }
    }

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    mutating func llama3(maxDigits: Int, contractions: Bool, into out: inout [Int]) {
        var pos = ini
        while pos < end {
            let c = cpt(pos)
            let f = flg(pos)
            if contractions {
                let k = contraction(at: pos, lower: true)
                if k > 0 {
                    pos += add(pos + k, &out)
                    continue
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == 0x0D || c == 0x0A || Splitter.isN(f)) {
                if Splitter.isL(f) || Splitter.isL(flg(pos + 1)) {
                    pos += 1
                    while Splitter.isL(flg(pos)) { pos += 1 }
                    add(pos, &out)
                    continue
                }
            }
            // \p{N}{1,maxDigits}
            if Splitter.isN(f) {
                var i0 = pos
                while Splitter.isN(flg(pos)) {
                    pos += 1
                    if pos - i0 >= maxDigits {
                        add(pos, &out)
                        i0 = pos
                    }
                }
                add(pos, &out)
                continue
            }
            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            var f2 = c == 0x20 ? flg(pos + 1) : f
            if Splitter.isOther(f2) {
                if c == 0x20 { pos += 1 }
                while Splitter.isOther(f2) { pos += 1; f2 = flg(pos) }
                var c2 = cpt(pos)
                while c2 == 0x0D || c2 == 0x0A { pos += 1; c2 = cpt(pos) }
                add(pos, &out)
                continue
            }
            var nws = 0
            var lastEndRN = 0
            while Splitter.isWS(flg(pos + nws)) {
                let c2 = cpt(pos + nws)
                if c2 == 0x0D || c2 == 0x0A { lastEndRN = pos + nws + 1 }
                nws += 1
            }
            if lastEndRN > 0 {  // \s*[\r\n]+
                pos = lastEndRN
                add(pos, &out)
                continue
            }
            if nws > 1 && cpt(pos + nws) != Splitter.outOfRange {  // \s+(?!\S)
                pos += nws - 1
                add(pos, &out)
                continue
            }
            if nws > 0 {
                pos += nws
                add(pos, &out)
                continue
            }
            pos += 1
            add(pos, &out)
        }
    }

    // X (run: false) or X+ (run: true); gaps between matches are words too.
    mutating func classMatches(_ cls: PreTokenizer.CharClass, run: Bool, into out: inout [Int]) {
        var pos = ini
        while pos < end {
            if cls.contains(cps[pos], flags[pos]) {
                add(pos, &out)
                pos += 1
                if run { while pos < end && cls.contains(cps[pos], flags[pos]) { pos += 1 } }
                add(pos, &out)
            } else {
                pos += 1
            }
        }
        add(end, &out)
    }

    // \s?X+ : leftmost match; a white space counts only right before the run.
    mutating func spaceThenRuns(_ cls: PreTokenizer.CharClass, into out: inout [Int]) {
        var pos = ini
        while pos < end {
            let ws = Splitter.isWS(flags[pos])
            let startsHere = cls.contains(cps[pos], flags[pos])
                || (ws && pos + 1 < end && cls.contains(cps[pos + 1], flags[pos + 1]))
            if startsHere {
                add(pos, &out)
                if !cls.contains(cps[pos], flags[pos]) { pos += 1 }  // the optional \s
                while pos < end && cls.contains(cps[pos], flags[pos]) { pos += 1 }
                add(pos, &out)
            } else {
                pos += 1
            }
        }
        add(end, &out)
    }

    // [0-9][0-9][0-9]
    mutating func asciiDigitTriples(into out: inout [Int]) {
        @inline(__always) func digit(_ p: Int) -> Bool { p < end && cps[p] >= 0x30 && cps[p] <= 0x39 }
        var pos = ini
        while pos < end {
            if digit(pos) && digit(pos + 1) && digit(pos + 2) {
                add(pos, &out)
                pos += 3
                add(pos, &out)
            } else {
                pos += 1
            }
        }
        add(end, &out)
    }
}
