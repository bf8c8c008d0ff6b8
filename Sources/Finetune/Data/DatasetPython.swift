// DatasetPython: Python functions and methods with docstrings as instruction examples. A small scanner cuts the file
// into logical lines (strings with r/b/u/f prefixes, '…' "…" '''…''' """…""" spanning lines, brackets and backslash
// continuations join physical lines; comment-only and blank lines are not logical lines). A `def` / `async def`
// whose header ends in ':' and whose first body statement is a lone string (not an f- or bytes string) has a
// docstring; the function runs through the last logical line indented deeper than the `def`.
// Output: the decorators, the def and its whole body, dedented — the docstring stays in the output (it is part of
// the code as written; a function whose docstring is cut out may be left with an empty body).
// Instruction: "Write the Python function NAME[ (a method of class C)]." then, after a blank line, the docstring's
// summary: its first paragraph (cleaned as inspect.cleandoc does, by CommentExtractor), lines joined with spaces.
// Input: the def header on one line.

import Foundation

enum PythonFunctions {
    struct LogicalLine {
        var start = 0, end = 0          // bytes of the statement (from its first character)
        var lineStart = 0               // byte where its first physical line starts
        var line = 0                    // 0-based physical line of its start
        var indent = 0                  // columns (a tab advances to the next multiple of 8)
        var words: [String] = []        // its first two identifiers, if it starts with identifiers
        var firstByte: UInt8 = 0
        var strings: [Range<Int>] = []  // string tokens (with prefixes)
        var otherTokens = 0             // tokens that are not strings
        var lastSignificant: UInt8 = 0  // last byte of code (comments excluded)
    }

    static func isIdent(_ b: UInt8) -> Bool { CodeLexer.isIdent(b) && b != 0x24 }

    static func lines(_ s: [UInt8]) -> [LogicalLine] {
        var out: [LogicalLine] = []
        var i = 0, line = 0
        func at(_ k: Int) -> UInt8 { k < s.count ? s[k] : 0 }
        while i < s.count {
            // Indentation of a physical line.
            let lineStart = i
            var col = 0
            while i < s.count && (s[i] == 0x20 || s[i] == 0x09 || s[i] == 0x0C) {
                col = s[i] == 0x09 ? (col / 8 + 1) * 8 : col + 1
                i += 1
            }
            if i >= s.count { break }
            if s[i] == 0x0A || s[i] == 0x0D || s[i] == 0x23 {  // blank or comment-only
                while i < s.count && s[i] != 0x0A { i += 1 }
                if i < s.count { i += 1; line += 1 }
                continue
            }
            var L = LogicalLine(start: i, lineStart: lineStart, line: line, indent: col, firstByte: s[i])
            var depth = 0
            while i < s.count {
                let c = s[i]
                if c == 0x0A {
                    line += 1
                    i += 1
                    if depth == 0 { break }
                    continue
                }
                if c == 0x23 { while i < s.count && s[i] != 0x0A { i += 1 }; continue }
                if c == 0x5C && (at(i + 1) == 0x0A || (at(i + 1) == 0x0D && at(i + 2) == 0x0A)) {
                    i += at(i + 1) == 0x0A ? 2 : 3
                    line += 1
                    continue
                }
                if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0C { i += 1; continue }
                var j = i
                while j < s.count && j - i < 2 && "rRbBuUfF".utf8.contains(s[j]) { j += 1 }
                if (at(j) == 0x22 || at(j) == 0x27) && (i == 0 || !isIdent(s[i - 1])) {
                    let st = i
                    i = j
                    let q = s[i]
                    let triple = at(i + 1) == q && at(i + 2) == q
                    i += triple ? 3 : 1
                    while i < s.count {
                        if s[i] == 0x5C { i += 1; if i < s.count { if s[i] == 0x0A { line += 1 }; i += 1 }; continue }
                        if s[i] == q && (!triple || (at(i + 1) == q && at(i + 2) == q)) { i += triple ? 3 : 1; break }
                        if s[i] == 0x0A { if !triple { break }; line += 1 }
                        i += 1
                    }
                    L.strings.append(st..<i)
                    L.lastSignificant = q
                    L.end = i
                    continue
                }
                if isIdent(c) {
                    let st = i
                    while i < s.count && isIdent(s[i]) { i += 1 }
                    if L.otherTokens == L.words.count && L.words.count < 2 && L.strings.isEmpty {
                        L.words.append(String(decoding: s[st..<i], as: UTF8.self))
                    }
                    L.otherTokens += 1
                    L.lastSignificant = s[i - 1]
                    L.end = i
                    continue
                }
                if c == 0x28 || c == 0x5B || c == 0x7B { depth += 1 } else if c == 0x29 || c == 0x5D || c == 0x7D { depth = max(0, depth - 1) }
                L.otherTokens += 1
                L.lastSignificant = c
                i += 1
                L.end = i
            }
            out.append(L)
        }
        return out
    }

    static func extract(_ src: [UInt8]) -> [ExtractedExample] {
        let ls = lines(src)
        func text(_ a: Int, _ b: Int) -> String { String(decoding: src[a..<b], as: UTF8.self) }
        var out: [ExtractedExample] = []
        for (a, d) in ls.enumerated() {
            let isDef = d.words.first == "def" || (d.words.first == "async" && d.words.dropFirst().first == "def")
            guard isDef, d.lastSignificant == 0x3A, a + 1 < ls.count else { continue }
            let body = ls[a + 1]
            guard body.indent > d.indent, body.otherTokens == 0, body.strings.count == 1 else { continue }
            let lit = text(body.strings[0].lowerBound, body.strings[0].upperBound)
            guard !lit.prefix(while: { $0 != "\"" && $0 != "'" }).contains(where: { "fFbB".contains($0) }) else { continue }
            var e = a + 1
            while e + 1 < ls.count && ls[e + 1].indent > d.indent { e += 1 }
            var first = a
            while first > 0 && ls[first - 1].firstByte == 0x40 && ls[first - 1].indent == d.indent { first -= 1 }
            var owner: String?
            for x in stride(from: a - 1, through: 0, by: -1) where ls[x].indent < d.indent {
                if ls[x].words.first == "class", ls[x].words.count > 1 { owner = ls[x].words[1] }
                break
            }
            let doc = CommentExtractor.comments(in: lit, language: .python).first ?? ""
            let summary = doc.split(separator: "\n", omittingEmptySubsequences: false)
                .prefix(while: { !$0.allSatisfy { $0 == " " || $0 == "\t" } })
                .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            let name = d.words.first == "async" ? nameAfter("def", in: text(d.start, d.end)) : (d.words.count > 1 ? d.words[1] : "")
            var instruction = "Write the Python function \(name)"
            if let owner { instruction += " (a method of class \(owner))" }
            instruction += "."
            if !summary.isEmpty { instruction += "\n\n" + summary }
            let output = stripIndent(text(ls[first].lineStart, ls[e].end), text(ls[first].lineStart, ls[first].start))
            out.append(ExtractedExample(instruction: instruction, input: oneLine(text(d.start, d.end)), output: output,
                                        line: ls[first].line + 1))
        }
        return out
    }

    static func nameAfter(_ word: String, in s: String) -> String {
        let parts = s.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") })
        guard let k = parts.firstIndex(of: Substring(word)), k + 1 < parts.count else { return "" }
        return String(parts[k + 1])
    }
}
