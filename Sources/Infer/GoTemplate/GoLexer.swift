// GoLexer: Go text/template's lexer (text/template/parse/lex.go) over UTF-8 bytes — text, `{{`/`}}` with the
// `{{- `/` -}}` trim markers, comments `{{/* */}}`, and inside actions spaces, identifiers, keywords, fields,
// variables, strings, raw strings, characters, numbers, `|`, `(`, `)`, `=`, `:=`, `,`. Lexical errors become an
// `.error` token carrying Go's message, which the parser reports as Go does.

struct GoToken: Sendable {
    enum Kind: Sendable, Equatable {
        case text, leftDelim, rightDelim, space, identifier, field, variable, dot, string, rawString, char, number
        case bool, null, pipe, leftParen, rightParen, assign, declare, comma, otherChar, eof, error
        // keywords
        case kwBlock, kwBreak, kwContinue, kwDefine, kwElse, kwEnd, kwIf, kwRange, kwTemplate, kwWith
    }
    var kind: Kind
    var value: String
    var pos: Int
    var line: Int

    var isKeyword: Bool {
        switch kind {
        case .kwBlock, .kwBreak, .kwContinue, .kwDefine, .kwElse, .kwEnd, .kwIf, .kwRange, .kwTemplate, .kwWith,
             .dot, .null: true
        default: false
        }
    }

    /// Go's item.String(), as parse errors quote tokens.
    var description: String {
        switch kind {
        case .eof: return "EOF"
        case .error: return value
        default:
            if isKeyword { return "<\(value)>" }
            let scalars = Array(value.unicodeScalars)
            if scalars.count > 10 {
                var s = String.UnicodeScalarView(); s.append(contentsOf: scalars[0..<10])
                return goQuote(String(s)) + "..."
            }
            return goQuote(value)
        }
    }
}

struct GoLexer {
    static let keywords: [String: GoToken.Kind] = [
        "block": .kwBlock, "break": .kwBreak, "continue": .kwContinue, "define": .kwDefine, "else": .kwElse,
        "end": .kwEnd, "if": .kwIf, "range": .kwRange, "nil": .null, "template": .kwTemplate, "with": .kwWith,
    ]

    let b: [UInt8]
    var pos = 0
    var start = 0
    var tokens: [GoToken] = []
    var parenDepth = 0
    private let newlines: [Int]

    init(_ source: String) {
        let bytes = Array(source.utf8)
        b = bytes
        newlines = bytes.indices.filter { bytes[$0] == 0x0A }
    }

    /// 1-based line of a byte offset.
    func line(at offset: Int) -> Int {
        var lo = 0, hi = newlines.count
        while lo < hi { let mid = (lo + hi) / 2; if newlines[mid] < offset { lo = mid + 1 } else { hi = mid } }
        return lo + 1
    }

    static func tokenize(_ source: String) -> [GoToken] {
        var l = GoLexer(source)
        l.run()
        return l.tokens
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
    private static func isAlnum(_ c: UInt8) -> Bool {
        c == 0x5F || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c >= 0x80
    }
    private func at(_ i: Int) -> UInt8? { i < b.count ? b[i] : nil }
    private func hasPrefix(_ s: String, at i: Int) -> Bool {
        let p = Array(s.utf8)
        return i + p.count <= b.count && Array(b[i..<(i + p.count)]) == p
    }
    private func hasLeftTrim(at i: Int) -> Bool { at(i) == 0x2D && at(i + 1).map(GoLexer.isSpace) == true }
    private func hasRightTrim(at i: Int) -> Bool { at(i).map(GoLexer.isSpace) == true && at(i + 1) == 0x2D }
    private func text(_ from: Int, _ to: Int) -> String { String(decoding: b[from..<to], as: UTF8.self) }

    private mutating func emit(_ kind: GoToken.Kind) {
        tokens.append(GoToken(kind: kind, value: text(start, pos), pos: start, line: line(at: start)))
        start = pos
    }
    private mutating func fail(_ message: String) {
        tokens.append(GoToken(kind: .error, value: message, pos: start, line: line(at: start)))
    }

    private mutating func run() {
        while true {
            // Text up to the next "{{".
            var x = pos
            while x + 1 < b.count, !(b[x] == 0x7B && b[x + 1] == 0x7B) { x += 1 }
            if x + 1 >= b.count {
                pos = b.count
                if pos > start { emit(.text) }
                tokens.append(GoToken(kind: .eof, value: "", pos: pos, line: line(at: pos)))
                return
            }
            var end = x
            if hasLeftTrim(at: x + 2) { while end > start, GoLexer.isSpace(b[end - 1]) { end -= 1 } }
            if end > start { tokens.append(GoToken(kind: .text, value: text(start, end), pos: start, line: line(at: start))) }
            pos = x; start = x
            guard lexLeftDelim() else { return }
        }
    }

    /// At "{{": a comment (skipped) or an action. False after an error.
    private mutating func lexLeftDelim() -> Bool {
        pos += 2
        let trim = hasLeftTrim(at: pos)
        let after = trim ? 2 : 0
        if hasPrefix("/*", at: pos + after) {
            pos += after; start = pos
            pos += 2
            var x = pos
            while x + 1 < b.count, !(b[x] == 0x2A && b[x + 1] == 0x2F) { x += 1 }
            guard x + 1 < b.count else { fail("unclosed comment"); return false }
            pos = x + 2
            let (delim, trimRight) = atRightDelim()
            guard delim else { fail("comment ends before closing delimiter"); return false }
            pos += (trimRight ? 2 : 0) + 2
            if trimRight { while pos < b.count, GoLexer.isSpace(b[pos]) { pos += 1 } }
            start = pos
            return true
        }
        emit(.leftDelim)
        pos += after; start = pos
        parenDepth = 0
        return lexInsideAction()
    }

    private func atRightDelim() -> (Bool, Bool) {
        if hasRightTrim(at: pos), hasPrefix("}}", at: pos + 2) { return (true, true) }
        if hasPrefix("}}", at: pos) { return (true, false) }
        return (false, false)
    }

    private mutating func lexRightDelim(trim: Bool) {
        if trim { pos += 2; start = pos }
        pos += 2
        emit(.rightDelim)
        if trim { while pos < b.count, GoLexer.isSpace(b[pos]) { pos += 1 } }
        start = pos
    }

    /// Lexes one action up to and including its right delimiter. False after an error.
    private mutating func lexInsideAction() -> Bool {
        while true {
            let (delim, trim) = atRightDelim()
            if delim {
                if parenDepth == 0 { lexRightDelim(trim: trim); return true }
                fail("unclosed left paren"); return false
            }
            guard let c = at(pos) else { fail("unclosed action"); return false }
            if GoLexer.isSpace(c) {
                var n = 0
                while let c = at(pos), GoLexer.isSpace(c) { pos += 1; n += 1 }
                if hasRightTrim(at: pos - 1), hasPrefix("}}", at: pos + 1) {
                    pos -= 1
                    if n == 1 { lexRightDelim(trim: true); return true }
                }
                emit(.space)
                continue
            }
            pos += 1
            switch c {
            case 0x3D: emit(.assign)
            case 0x3A:
                guard at(pos) == 0x3D else { fail("expected :="); return false }
                pos += 1; emit(.declare)
            case 0x7C: emit(.pipe)
            case 0x22:
                while true {
                    guard let d = at(pos), d != 0x0A else { fail("unterminated quoted string"); return false }
                    pos += 1
                    if d == 0x5C {
                        guard let e = at(pos), e != 0x0A else { fail("unterminated quoted string"); return false }
                        pos += 1
                    } else if d == 0x22 { break }
                }
                emit(.string)
            case 0x60:
                while true {
                    guard let d = at(pos) else { fail("unterminated raw quoted string"); return false }
                    pos += 1
                    if d == 0x60 { break }
                }
                emit(.rawString)
            case 0x27:
                while true {
                    guard let d = at(pos), d != 0x0A else { fail("unterminated character constant"); return false }
                    pos += 1
                    if d == 0x5C {
                        guard let e = at(pos), e != 0x0A else { fail("unterminated character constant"); return false }
                        pos += 1
                    } else if d == 0x27 { break }
                }
                emit(.char)
            case 0x24:
                guard lexFieldOrVariable(.variable) else { return false }
            case 0x2E where !(at(pos).map { $0 >= 0x30 && $0 <= 0x39 } ?? false):
                guard lexFieldOrVariable(.field) else { return false }
            case 0x2E, 0x2B, 0x2D, 0x30...0x39:
                pos -= 1
                guard scanNumber() else { fail("bad number syntax: \(goQuote(text(start, pos)))"); return false }
                emit(.number)
            case 0x28: emit(.leftParen); parenDepth += 1
            case 0x29:
                emit(.rightParen); parenDepth -= 1
                if parenDepth < 0 { fail("unexpected right paren U+0029 ')'"); return false }
            case 0x2C: emit(.comma)
            default:
                if GoLexer.isAlnum(c) {
                    while let d = at(pos), GoLexer.isAlnum(d) { pos += 1 }
                    guard atTerminator() else { return badCharacter() }
                    let word = text(start, pos)
                    if let k = GoLexer.keywords[word] { emit(k) }
                    else if word == "true" || word == "false" { emit(.bool) }
                    else { emit(.identifier) }
                } else if c >= 0x21 && c < 0x7F {
                    emit(.otherChar)
                } else {
                    fail("unrecognized character in action: \(goRune(c))"); return false
                }
            }
        }
    }

    private mutating func badCharacter() -> Bool {
        let s = String(decoding: b[pos..<min(b.count, pos + 4)], as: UTF8.self)
        let r = s.unicodeScalars.first.map { goRune(UInt32($0.value)) } ?? "U+0000"
        fail("bad character \(r)")
        return false
    }

    /// `$x`, `$`, `.Field`, `.` (the sigil was consumed).
    private mutating func lexFieldOrVariable(_ kind: GoToken.Kind) -> Bool {
        if atTerminator() {
            emit(kind == .variable ? .variable : .dot)
            return true
        }
        while let d = at(pos), GoLexer.isAlnum(d) { pos += 1 }
        guard atTerminator() else { return badCharacter() }
        emit(kind)
        return true
    }

    private func atTerminator() -> Bool {
        guard let c = at(pos) else { return true }
        if GoLexer.isSpace(c) { return true }
        switch c {
        case 0x2E, 0x2C, 0x7C, 0x3A, 0x29, 0x28: return true
        default: return hasPrefix("}}", at: pos)
        }
    }

    private mutating func accept(_ set: String) -> Bool {
        if let c = at(pos), set.utf8.contains(c) { pos += 1; return true }
        return false
    }
    private mutating func acceptRun(_ set: String) { while accept(set) {} }

    private mutating func scanNumber() -> Bool {
        _ = accept("+-")
        var digits = "0123456789_"
        if accept("0") {
            if accept("xX") { digits = "0123456789abcdefABCDEF_" }
            else if accept("oO") { digits = "01234567_" }
            else if accept("bB") { digits = "01_" }
        }
        acceptRun(digits)
        if accept(".") { acceptRun(digits) }
        if digits.count == 11, accept("eE") { _ = accept("+-"); acceptRun("0123456789_") }
        if digits.count == 23, accept("pP") { _ = accept("+-"); acceptRun("0123456789_") }
        _ = accept("i")
        if let c = at(pos), GoLexer.isAlnum(c) { pos += 1; return false }
        return true
    }
}

/// Go's %#U of a byte or scalar, e.g. `U+0029 ')'`.
func goRune(_ c: UInt32) -> String {
    var hex = String(c, radix: 16, uppercase: true)
    while hex.count < 4 { hex = "0" + hex }
    if let s = Unicode.Scalar(c), c >= 0x20, c != 0x7F { return "U+\(hex) '\(Character(s))'" }
    return "U+\(hex)"
}
func goRune(_ c: UInt8) -> String { goRune(UInt32(c)) }

/// strconv.Quote: a double-quoted Go string literal (printable Unicode kept, the rest escaped).
func goQuote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\u{07}": out += "\\a"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{0B}": out += "\\v"
        default:
            let v = u.value
            if v < 0x20 || v == 0x7F { out += "\\x" + hex2(v) }
            else if v == 0xFFFD { out += "\u{FFFD}" }
            else if goIsPrint(u) { out.unicodeScalars.append(u) }
            else if v < 0x10000 { out += "\\u" + pad(String(v, radix: 16), 4) }
            else { out += "\\U" + pad(String(v, radix: 16), 8) }
        }
    }
    return out + "\""
}

private func hex2(_ v: UInt32) -> String { pad(String(v, radix: 16), 2) }
private func pad(_ s: String, _ n: Int) -> String { String(repeating: "0", count: max(0, n - s.count)) + s }

/// An approximation of unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
func goIsPrint(_ u: Unicode.Scalar) -> Bool {
    if u == " " { return true }
    switch u.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
         .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber,
         .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
         .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
        return true
    default:
        return false
    }
}
