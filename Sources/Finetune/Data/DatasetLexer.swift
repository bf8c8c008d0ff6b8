// DatasetLexer: the tokens of Go, Swift, JavaScript/TypeScript and C-family source — identifiers, punctuation, string
// literals and comments, each with its byte range and line — so a brace inside a string, rune or comment never opens
// or closes a block (the dataset extractors), and text that only looks like a comment inside a string is never taken
// as one (CommentExtractor, which reads the comment tokens). What each language's literals are:
//   - Go: "…" and runes '…' with backslash escapes, raw strings `…` (may span lines), // and /* */ comments.
//   - Swift: "…" and """…""" with \( … ) interpolation (code nested to any depth), raw #"…"# / #"""…"""# with any
//     number of #s, nested /* /* */ */ comments.
//   - JavaScript / TypeScript: '…' "…", template literals `…${ code }…` (nested), regex literals /…/ (recognized by
//     the code token before them, comments skipped), // and /* */ comments.
//   - C family (C, C++, Objective-C): "…" and '…' with escapes, C++ raw strings R"delim(…)delim", digit separators
//     (1'000), // and /* */ comments.
// A string literal (with its interpolations) is one token; numbers are identifier tokens; every other byte that is
// not white space is a one-byte punctuation token. Comments inside interpolations and template substitutions are not
// tokens (they are inside a string token) but are kept apart for `comments`. Not here: what a function is
// (DatasetGo/Swift/Vue), cleaning comment text (CommentExtractor).

struct CodeToken: Equatable {
    enum Kind { case ident, string, comment, punct }
    var kind: Kind
    /// Byte range [start, end) in the source.
    var start: Int
    var end: Int
    /// 0-based line of the first and last byte.
    var line: Int
    var endLine: Int
    /// A block comment that runs to the end of the source without its closing */.
    var unclosed = false
}

struct CodeLexer {
    enum Language { case go, swift, javascript, c }

    let s: [UInt8]
    let lang: Language
    var i = 0
    var line = 0
    var tokens: [CodeToken] = []
    /// Comments inside string literals' code (interpolations, template substitutions), which are not tokens.
    var innerComments: [CodeToken] = []

    /// The tokens of `source` in `lang`.
    static func tokens(_ source: [UInt8], _ lang: Language) -> [CodeToken] {
        var lx = CodeLexer(s: source, lang: lang)
        lx.run(until: nil, emit: true)
        return lx.tokens
    }

    /// Every comment of `source` in `lang` in source order, those inside interpolations and template substitutions
    /// included; lines counted from `firstLine`.
    static func comments(_ source: [UInt8], _ lang: Language, firstLine: Int = 0) -> [CodeToken] {
        var lx = CodeLexer(s: source, lang: lang, line: firstLine)
        lx.run(until: nil, emit: true)
        return (lx.tokens.filter { $0.kind == .comment } + lx.innerComments).sorted { $0.start < $1.start }
    }

    @inline(__always) func at(_ k: Int) -> UInt8 { k >= 0 && k < s.count ? s[k] : 0 }

    static func isIdent(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x24 || b >= 0x80
    }

    @inline(__always) mutating func step() {
        if s[i] == 0x0A { line += 1 }
        i += 1
    }

    /// Lexes code from i. With `until` (')' or '}'), returns just after the bracket that closes the enclosing
    /// interpolation / template substitution. `emit` false lexes without recording tokens (code inside a literal);
    /// its comments go to `innerComments`.
    mutating func run(until close: UInt8?, emit: Bool) {
        var depth = 0
        var prev: CodeToken?  // the last token of this run that is not a comment (regex detection)
        while i < s.count {
            let c = s[i]
            let start = i, startLine = line
            func add(_ lx: inout CodeLexer, _ kind: CodeToken.Kind) {
                let t = CodeToken(kind: kind, start: start, end: lx.i, line: startLine, endLine: lx.line)
                if emit { lx.tokens.append(t) }
                prev = t
            }
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C { step(); continue }
            if c == 0x2F && at(i + 1) == 0x2F {
                while i < s.count && s[i] != 0x0A { i += 1 }
                var e = i
                if e > start && s[e - 1] == 0x0D { e -= 1 }
                addComment(CodeToken(kind: .comment, start: start, end: e, line: startLine, endLine: startLine), emit: emit)
                continue
            }
            if c == 0x2F && at(i + 1) == 0x2A {
                let closed = blockComment(nested: lang == .swift)
                addComment(CodeToken(kind: .comment, start: start, end: i, line: startLine, endLine: line, unclosed: !closed), emit: emit)
                continue
            }
            if let close {
                let open: UInt8 = close == 0x29 ? 0x28 : 0x7B
                if c == open { depth += 1 } else if c == close {
                    if depth == 0 { i += 1; return }
                    depth -= 1
                }
            }
            switch (lang, c) {
            case (.go, 0x22), (.go, 0x27), (.javascript, 0x22), (.javascript, 0x27):
                quoted(c); add(&self, .string)
            case (.c, 0x22):
                if !cppRawString() { quoted(c) }
                add(&self, .string)
            case (.c, 0x27) where !(i > 0 && s[i - 1] >= 0x30 && s[i - 1] <= 0x39):  // not a digit separator (1'000)
                quoted(c); add(&self, .string)
            case (.go, 0x60):
                i += 1
                while i < s.count && s[i] != 0x60 { step() }
                if i < s.count { i += 1 }
                add(&self, .string)
            case (.javascript, 0x60):
                template(); add(&self, .string)
            case (.javascript, 0x2F) where regexAllowed(after: prev):
                regex(); add(&self, .string)
            case (.swift, 0x22):
                swiftString(hashes: 0); add(&self, .string)
            case (.swift, 0x23) where rawSwiftStringAhead():
                var h = 0
                while at(i) == 0x23 { i += 1; h += 1 }
                swiftString(hashes: h); add(&self, .string)
            default:
                if CodeLexer.isIdent(c) {
                    while i < s.count && CodeLexer.isIdent(s[i]) { i += 1 }
                    add(&self, .ident)
                } else {
                    i += 1
                    add(&self, .punct)
                }
            }
        }
    }

    func rawSwiftStringAhead() -> Bool {
        var j = i
        while at(j) == 0x23 { j += 1 }
        return at(j) == 0x22
    }

    mutating func addComment(_ t: CodeToken, emit: Bool) {
        if emit { tokens.append(t) } else { innerComments.append(t) }
    }

    /// A JS regex literal may start here: after an operator, an opening bracket, or a keyword like `return` (`last`
    /// is the code token before, nil at the start of the code).
    func regexAllowed(after last: CodeToken?) -> Bool {
        guard at(i + 1) != 0x2F && at(i + 1) != 0x2A else { return false }
        guard let last else { return true }
        if last.kind == .ident {
            let word = String(decoding: s[last.start..<last.end], as: UTF8.self)
            return ["return", "typeof", "case", "do", "else", "in", "of", "void", "yield", "await", "delete", "throw", "new"].contains(word)
        }
        if last.kind == .string { return false }
        return "(,=:[!&|?{};+-*%<>~^".utf8.contains(s[last.start])
    }

    /// A /* */ comment at i; false when the source ends before it closes.
    mutating func blockComment(nested: Bool) -> Bool {
        i += 2
        var depth = 1
        while i < s.count {
            if nested && s[i] == 0x2F && at(i + 1) == 0x2A { depth += 1; i += 2; continue }
            if s[i] == 0x2A && at(i + 1) == 0x2F {
                i += 2
                depth -= 1
                if depth == 0 { return true }
                continue
            }
            step()
        }
        return false
    }

    /// A C++ raw string R"delim( … )delim" when i is at the quote after an R (or u8R, LR, uR, UR); false, with i
    /// unchanged, when it is not one. An unclosed one runs to the end.
    mutating func cppRawString() -> Bool {
        guard at(i - 1) == 0x52, i < 2 || !CodeLexer.isIdent(s[i - 2]) || [0x38, 0x4C, 0x75, 0x55].contains(s[i - 2]) else { return false }
        var j = i + 1
        var delim: [UInt8] = []
        while j < s.count && s[j] != 0x28 && delim.count <= 16 {
            if s[j] == 0x0A || s[j] == 0x20 || s[j] == 0x5C || s[j] == 0x22 { return false }
            delim.append(s[j])
            j += 1
        }
        guard j < s.count && s[j] == 0x28 else { return false }
        let close: [UInt8] = [0x29] + delim + [0x22]
        i = j + 1
        while i < s.count {
            if s[i] == 0x29 && i + close.count <= s.count && Array(s[i..<(i + close.count)]) == close {
                i += close.count
                return true
            }
            step()
        }
        return true
    }

    /// "…" or '…' with escapes; an unescaped newline ends an unterminated one.
    mutating func quoted(_ q: UInt8) {
        i += 1
        while i < s.count {
            let c = s[i]
            if c == 0x5C { i += 1; if i < s.count { step() }; continue }
            if c == q { i += 1; return }
            if c == 0x0A { return }
            step()
        }
    }

    mutating func template() {
        i += 1
        while i < s.count {
            let c = s[i]
            if c == 0x5C { i += 1; if i < s.count { step() }; continue }
            if c == 0x60 { i += 1; return }
            if c == 0x24 && at(i + 1) == 0x7B { i += 2; run(until: 0x7D, emit: false); continue }
            step()
        }
    }

    mutating func regex() {
        i += 1
        var inClass = false
        while i < s.count {
            let c = s[i]
            if c == 0x5C { i += 2; continue }
            if c == 0x0A { return }
            if c == 0x5B { inClass = true } else if c == 0x5D { inClass = false } else if c == 0x2F && !inClass { i += 1; break }
            i += 1
        }
        while i < s.count && CodeLexer.isIdent(s[i]) { i += 1 }
    }

    /// A Swift string literal at i (the first quote), raw with `hashes` #s.
    mutating func swiftString(hashes: Int) {
        let multi = at(i) == 0x22 && at(i + 1) == 0x22 && at(i + 2) == 0x22
        i += multi ? 3 : 1
        while i < s.count {
            let c = s[i]
            if c == 0x5C {
                var j = i + 1, h = 0
                while h < hashes && at(j) == 0x23 { j += 1; h += 1 }
                if h == hashes {
                    if at(j) == 0x28 { i = j + 1; run(until: 0x29, emit: false); continue }
                    i = j
                    if i < s.count { step() }
                    continue
                }
                i += 1
                continue
            }
            if c == 0x22 {
                if multi && !(at(i + 1) == 0x22 && at(i + 2) == 0x22) { i += 1; continue }
                var j = i + (multi ? 3 : 1), h = 0
                while h < hashes && at(j) == 0x23 { j += 1; h += 1 }
                if h == hashes { i = j; return }
                i += 1
                continue
            }
            if c == 0x0A && !multi { return }
            step()
        }
    }
}

/// Token helpers over a lexed file.
struct TokenView {
    let src: [UInt8]
    let toks: [CodeToken]
    /// For each bracket token ( [ {, the index of its closing partner (nil when unbalanced), and the reverse.
    let partner: [Int: Int]

    init(_ src: [UInt8], _ lang: CodeLexer.Language) {
        self.src = src
        let toks = CodeLexer.tokens(src, lang)
        self.toks = toks
        var p: [Int: Int] = [:]
        var stack: [Int] = []
        for (k, t) in toks.enumerated() where t.kind == .punct {
            switch src[t.start] {
            case 0x28, 0x5B, 0x7B: stack.append(k)
            case 0x29, 0x5D, 0x7D:
                // A stray closer pops to its own kind, so one unbalanced bracket does not unpair the whole file.
                let open: UInt8 = src[t.start] == 0x29 ? 0x28 : src[t.start] == 0x5D ? 0x5B : 0x7B
                if let m = stack.lastIndex(where: { src[toks[$0].start] == open }) {
                    p[stack[m]] = k
                    p[k] = stack[m]
                    stack.removeSubrange(m...)
                }
            default: break
            }
        }
        partner = p
    }

    func text(_ k: Int) -> String { String(decoding: src[toks[k].start..<toks[k].end], as: UTF8.self) }
    func text(from a: Int, to b: Int) -> String { String(decoding: src[a..<b], as: UTF8.self) }
    func isPunct(_ k: Int, _ c: Character) -> Bool {
        k >= 0 && k < toks.count && toks[k].kind == .punct && src[toks[k].start] == c.asciiValue!
    }
    func isIdent(_ k: Int, _ word: String) -> Bool { k >= 0 && k < toks.count && toks[k].kind == .ident && text(k) == word }

    /// The index of the next non-comment token at or after k (toks.count if none).
    func code(from k: Int) -> Int {
        var j = k
        while j < toks.count && toks[j].kind == .comment { j += 1 }
        return j
    }

    /// The text of the comments that end on the line just above token k, contiguous upwards (each on the line
    /// after the previous), with `accept` deciding which comments count; nil when there are none.
    func leadingComments(before k: Int, accept: (String) -> Bool) -> (text: String, firstLine: Int)? {
        var j = k - 1
        var nextLine = toks[k].line
        var first: Int?
        while j >= 0, toks[j].kind == .comment, toks[j].endLine + 1 == nextLine, accept(text(j)) {
            // A trailing comment after code on its line belongs to that code.
            if j > 0 && toks[j - 1].endLine == toks[j].line && toks[j - 1].kind != .comment { break }
            first = j
            nextLine = toks[j].line
            j -= 1
        }
        guard let first else { return nil }
        return (text(from: toks[first].start, to: toks[k - 1].end), toks[first].line)
    }

    /// Source from the start of token a's line through token b, with token a's indentation removed from every line
    /// that starts with it (lines of a multi-line string that are indented less stay as they are).
    func block(from a: Int, through b: Int) -> String {
        var st = toks[a].start
        while st > 0 && (src[st - 1] == 0x20 || src[st - 1] == 0x09) { st -= 1 }
        return stripIndent(text(from: st, to: toks[b].end), String(decoding: src[st..<toks[a].start], as: UTF8.self))
    }
}

/// `text` with `indent` removed from the start of each line that has it; trailing white space of lines removed.
func stripIndent(_ text: String, _ indent: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { l -> String in
        var line = l.hasPrefix(indent) ? l.dropFirst(indent.count) : l
        while let last = line.last, last == " " || last == "\t" || last == "\r" { line = line.dropLast() }
        return String(line)
    }.joined(separator: "\n")
}

/// Collapses runs of white space into one space (signatures printed on one line).
func oneLine(_ s: String) -> String {
    s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
}
