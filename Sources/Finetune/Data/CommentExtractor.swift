// CommentExtractor: the prose inside source files — line and block comments (doc comments included) and Python
// docstrings — found by a lexer that knows the language's strings, so text that only looks like a comment inside a
// string literal is never taken:
//   - C family, Go, Swift, JavaScript / TypeScript: the comment tokens of CodeLexer (DatasetLexer.swift), comments
//     inside Swift interpolations and template substitutions included.
//   - Python: # comments; strings with r/b/u/f prefixes, '…' "…" '''…''' """…"""; a string that is the first
//     statement of the module, a class or a def is a docstring (taken), any other string is not.
//   - Vue: <script> blocks as JavaScript/TypeScript, <!-- … --> comments in the template, <style> skipped.
// Cleaning: comment markers stripped (//, ///, //!, #, /*, /**, */, leading " * " gutters, <!-- -->), common
// indentation removed, trailing spaces and leading/trailing blank lines dropped. Consecutive line comments that
// stand alone on their lines form one block; a trailing comment after code is a block of its own. Blocks with no
// letter or digit (rulers like "// -----") and tool directives (//go:build, // +build, # -*- coding, #!,
// eslint-…, @ts-…, noqa, type: ignore, swiftlint:…, clang-format …) are dropped.
// Not here: walking folders, skipping files, duplicates (CorpusCollector).

public enum SourceLanguage: String, CaseIterable, Sendable {
    case c, go, swift, javascript, python, vue

    /// The language of a file name's extension, if it is one we extract comments from.
    public static func of(fileName: String) -> SourceLanguage? {
        guard let dot = fileName.lastIndex(of: "."), dot != fileName.startIndex else { return nil }
        switch fileName[fileName.index(after: dot)...].lowercased() {
        case "c", "h", "cc", "cpp", "cxx", "c++", "hpp", "hh", "hxx", "h++", "m", "mm", "inl": return .c
        case "go": return .go
        case "swift": return .swift
        case "js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "cts": return .javascript
        case "py", "pyi": return .python
        case "vue": return .vue
        default: return nil
        }
    }
}

public enum CommentExtractor {
    /// The cleaned comment blocks of a source file, in order.
    public static func comments(in source: String, language: SourceLanguage) -> [String] {
        var lx = Lexer(Array(source.utf8))
        switch language {
        case .c: lx.lexCode(.c)
        case .go: lx.lexCode(.go)
        case .swift: lx.lexCode(.swift)
        case .javascript: lx.lexCode(.javascript)
        case .python: lx.lexPython()
        case .vue: lx.lexVue()
        }
        return lx.blocks()
    }

    /// The blocks of a file joined as one document ("\n" between blocks), or "" when it has none.
    public static func document(from source: String, language: SourceLanguage) -> String {
        comments(in: source, language: language).joined(separator: "\n")
    }
}

/// A raw comment as found: its text without markers, the line it starts on, and whether it is a line comment
/// alone on its line (such comments on consecutive lines are merged).
private struct RawComment {
    var lines: [String]
    var firstLine: Int
    var lastLine: Int
    var standaloneLine: Bool
    var isBlock: Bool
    /// A /* */ comment, whose " * " gutter is stripped (not docstrings or HTML comments).
    var starGutter = false
}

private struct Lexer {
    let s: [UInt8]
    var i = 0
    var line = 0
    var found: [RawComment] = []

    init(_ s: [UInt8]) { self.s = s }

    @inline(__always) func at(_ k: Int) -> UInt8 { k >= 0 && k < s.count ? s[k] : 0 }
    @inline(__always) func starts(_ p: String, _ k: Int) -> Bool {
        var j = k
        for b in p.utf8 {
            if j >= s.count || s[j] != b { return false }
            j += 1
        }
        return true
    }
    /// Advances one byte, counting lines.
    @inline(__always) mutating func step() {
        if s[i] == 0x0A { line += 1 }
        i += 1
    }

    /// Whether only spaces/tabs precede position k on its line.
    func lineStartsAt(_ k: Int) -> Bool {
        var j = k - 1
        while j >= 0 && (s[j] == 0x20 || s[j] == 0x09) { j -= 1 }
        return j < 0 || s[j] == 0x0A || s[j] == 0x0D
    }

    func text(_ a: Int, _ b: Int) -> String { String(decoding: s[a..<b], as: UTF8.self) }

    // MARK: comments

    /// A line comment starting at i with a marker of `markerLength` bytes; consumes up to the newline.
    mutating func lineComment(markerLength: Int) {
        let start = i
        let standalone = lineStartsAt(start)
        i += markerLength
        var e = i
        while e < s.count && s[e] != 0x0A { e += 1 }
        var body = text(i, e)
        if body.hasSuffix("\r") { body.removeLast() }
        i = e
        found.append(RawComment(lines: [body], firstLine: line, lastLine: line, standaloneLine: standalone, isBlock: false))
    }

    // MARK: languages

    /// The comments of C-family, Go, Swift or JavaScript code: CodeLexer's comment tokens, markers removed.
    mutating func lexCode(_ lang: CodeLexer.Language) {
        for t in CodeLexer.comments(s, lang, firstLine: line) {
            if s[t.start + 1] == 0x2F {
                found.append(RawComment(lines: [text(t.start + 2, t.end)], firstLine: t.line, lastLine: t.line,
                                        standaloneLine: lineStartsAt(t.start), isBlock: false))
            } else {
                found.append(RawComment(lines: splitLines(text(t.start + 2, t.unclosed ? t.end : t.end - 2)), firstLine: t.line,
                                        lastLine: t.endLine, standaloneLine: false, isBlock: true, starGutter: true))
            }
        }
    }

    mutating func lexPython() {
        var expectDocstring = true   // module start, or the line after a def/class header
        var lineHasCode = false      // the current logical line has a token
        var lineWord = ""            // first word of the current logical line
        var lastSignificant: UInt8 = 0
        var depth = 0
        if starts("#!", 0) {  // shebang
            while i < s.count && s[i] != 0x0A { i += 1 }
        }
        while i < s.count {
            let c = s[i]
            if c == 0x23 { lineComment(markerLength: 1); continue }
            if c == 0x0A || c == 0x0D {
                if c == 0x0A && depth == 0 && lineHasCode && !(i > 0 && s[i - 1] == 0x5C) {
                    expectDocstring = lastSignificant == 0x3A && ["def", "class", "async"].contains(lineWord)
                    lineHasCode = false
                    lineWord = ""
                }
                step()
                continue
            }
            if c == 0x20 || c == 0x09 || c == 0x0C || c == 0x5C { i += 1; continue }
            // A string, with an optional prefix.
            var j = i
            while j < s.count && j - i < 2 && "rRbBuUfF".utf8.contains(s[j]) { j += 1 }
            if at(j) == 0x22 || at(j) == 0x27, j == i || !CodeLexer.isIdent(at(i - 1)) {
                let isDoc = expectDocstring && !lineHasCode && depth == 0
                let first = line
                i = j
                let q = s[i]
                let triple = at(i + 1) == q && at(i + 2) == q
                let bodyStart = i + (triple ? 3 : 1)
                i = bodyStart
                var bodyEnd = s.count
                while i < s.count {
                    if s[i] == 0x5C { i += 1; if i < s.count { step() }; continue }
                    if s[i] == q && (!triple || (at(i + 1) == q && at(i + 2) == q)) {
                        bodyEnd = i
                        i += triple ? 3 : 1
                        break
                    }
                    if s[i] == 0x0A && !triple { bodyEnd = i; break }
                    step()
                }
                if isDoc && restOfLineIsBlank(i) {
                    found.append(RawComment(lines: splitLines(text(bodyStart, bodyEnd)), firstLine: first, lastLine: line,
                                            standaloneLine: false, isBlock: true))
                }
                lineHasCode = true
                expectDocstring = false
                lastSignificant = 0x22
                continue
            }
            if CodeLexer.isIdent(c) {
                let st = i
                while i < s.count && CodeLexer.isIdent(s[i]) { i += 1 }
                if !lineHasCode { lineWord = text(st, i) }
                lineHasCode = true
                expectDocstring = false
                lastSignificant = s[i - 1]
                continue
            }
            if "([{".utf8.contains(c) { depth += 1 } else if ")]}".utf8.contains(c) { depth = max(0, depth - 1) }
            lineHasCode = true
            lastSignificant = c
            i += 1
        }
    }

    /// Whether only spaces, tabs, a ';'-free rest or a comment follow position k on its line.
    func restOfLineIsBlank(_ k: Int) -> Bool {
        var j = k
        while j < s.count && (s[j] == 0x20 || s[j] == 0x09 || s[j] == 0x0D) { j += 1 }
        return j >= s.count || s[j] == 0x0A || s[j] == 0x23
    }

    mutating func lexVue() {
        while i < s.count {
            if starts("<!--", i) {
                let first = line
                i += 4
                let st = i
                while i < s.count && !starts("-->", i) { step() }
                let e = i
                if i < s.count { i += 3 }
                found.append(RawComment(lines: splitLines(text(st, e)), firstLine: first, lastLine: line, standaloneLine: false, isBlock: true))
                continue
            }
            if let tag = ["script", "style"].first(where: { startsTag($0, i) }) {
                while i < s.count && s[i] != 0x3E { step() }  // to the end of the opening tag
                i = min(i + 1, s.count)
                let close = "</" + tag
                var e = i
                while e < s.count && !startsCaseless(close, e) { e += 1 }
                if tag == "script" {
                    var sub = Lexer(Array(s[i..<e]))
                    sub.line = line
                    sub.lexCode(.javascript)
                    found += sub.found
                }
                while i < e { step() }
                continue
            }
            step()
        }
    }

    func startsTag(_ name: String, _ k: Int) -> Bool {
        guard at(k) == 0x3C, startsCaseless(name, k + 1) else { return false }
        let after = at(k + 1 + name.utf8.count)
        return after == 0x3E || after == 0x20 || after == 0x09 || after == 0x0A || after == 0x0D
    }

    func startsCaseless(_ p: String, _ k: Int) -> Bool {
        var j = k
        for b in p.utf8 {
            guard j < s.count else { return false }
            let x = s[j] >= 0x41 && s[j] <= 0x5A ? s[j] + 32 : s[j]
            if x != b { return false }
            j += 1
        }
        return true
    }

    // MARK: cleaning

    /// Cleaned comment blocks: consecutive standalone line comments merged, markers stripped, dedented.
    func blocks() -> [String] {
        var groups: [RawComment] = []
        // A directive line comment (//go:build …) is dropped before grouping, so it neither joins nor splits prose.
        for c in found where c.isBlock || !isDirective(c.lines[0].drop { $0 == " " || $0 == "/" || $0 == "!" }.description) {
            if !c.isBlock, c.standaloneLine, let last = groups.last, !last.isBlock, last.standaloneLine, last.lastLine + 1 == c.firstLine {
                groups[groups.count - 1].lines += c.lines
                groups[groups.count - 1].lastLine = c.lastLine
            } else {
                groups.append(c)
            }
        }
        return groups.compactMap { g in
            let lines = g.isBlock ? cleanBlock(g.lines, starGutter: g.starGutter) : cleanLineComments(g.lines)
            let t = trimBlank(lines).joined(separator: "\n")
            guard t.unicodeScalars.contains(where: { $0.properties.isAlphabetic || ("0"..."9").contains($0) }) else { return nil }
            guard !isDirective(t) else { return nil }
            return t
        }
    }
}

private func splitLines(_ t: String) -> [String] {
    t.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
}

private func leadingWhitespace(_ l: Substring) -> Int { l.prefix { $0 == " " || $0 == "\t" }.count }

/// Removes the indentation common to all non-blank lines, and trailing white space.
func dedent(_ lines: [String]) -> [String] {
    let trimmed = lines.map { l -> Substring in
        var e = l[...]
        while let last = e.last, last == " " || last == "\t" { e = e.dropLast() }
        return e
    }
    let common = trimmed.filter { !$0.isEmpty }.map(leadingWhitespace).min() ?? 0
    return trimmed.map { $0.isEmpty ? "" : String($0.dropFirst(common)) }
}

/// Line comments: one doc marker (`/` of ///, `!` of //!) dropped per line, then dedented.
private func cleanLineComments(_ lines: [String]) -> [String] {
    let stripped = lines.map { l -> String in
        if l.hasPrefix("/") || l.hasPrefix("!") { return String(l.dropFirst()) }
        return l
    }
    return dedent(stripped)
}

/// Block comments (and docstrings, HTML comments): for /* */ a doc marker (* or !) after /* dropped and a " * "
/// gutter dropped when every continuation line has one; the first line trimmed, the rest dedented.
private func cleanBlock(_ lines: [String], starGutter: Bool) -> [String] {
    guard var first = lines.first else { return [] }
    if starGutter && (first.hasPrefix("*") || first.hasPrefix("!")) { first.removeFirst() }
    var rest = Array(lines.dropFirst())
    let nonBlank = rest.filter { !$0.allSatisfy { $0 == " " || $0 == "\t" } }
    if starGutter && !nonBlank.isEmpty && nonBlank.allSatisfy({ $0.drop { $0 == " " || $0 == "\t" }.hasPrefix("*") }) {
        rest = rest.map { l in
            let d = l.drop { $0 == " " || $0 == "\t" }
            guard d.hasPrefix("*") else { return "" }
            let after = d.dropFirst()
            return String(after.hasPrefix(" ") ? after.dropFirst() : after)
        }
        // A lone gutter before */ ("   ") becomes blank and is trimmed below.
        return [first.trimmingLeadingSpaces()] + rest.map { l in
            var e = l[...]
            while let last = e.last, last == " " || last == "\t" { e = e.dropLast() }
            return String(e)
        }
    }
    return [first.trimmingLeadingSpaces()] + dedent(rest)
}

private extension String {
    func trimmingLeadingSpaces() -> String {
        var e = drop { $0 == " " || $0 == "\t" }
        while let last = e.last, last == " " || last == "\t" { e = e.dropLast() }
        return String(e)
    }
}

private func trimBlank(_ lines: [String]) -> [String] {
    var a = lines[...]
    while let f = a.first, f.allSatisfy({ $0 == " " || $0 == "\t" }) { a = a.dropFirst() }
    while let l = a.last, l.allSatisfy({ $0 == " " || $0 == "\t" }) { a = a.dropLast() }
    return Array(a)
}

/// Tool directives rather than prose.
private func isDirective(_ t: String) -> Bool {
    if t.hasPrefix("line "), t.contains(":"), t.last?.isNumber == true, !t.contains("\n") { return true }  // Go's //line file:n
    let prefixes = ["go:", "+build", "-*-", "eslint-", "eslint ", "@ts-", "noqa", "type: ignore", "swiftlint:",
                    "swift-format-", "clang-format ", "NOLINT", "pylint:", "prettier-ignore", "istanbul ignore", "sourceMappingURL",
                    "#region", "#endregion", "pragma", "fmt: off", "fmt: on", "isort:"]
    guard !t.contains("\n") else { return false }
    return prefixes.contains { t.hasPrefix($0) }
}
