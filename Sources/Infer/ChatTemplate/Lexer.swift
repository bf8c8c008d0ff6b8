// TemplateLexer: chat-template source → tokens, the way jinja2's lexer cuts it with the settings Hugging Face uses
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False). Text between tags is one `data`
// token; inside `{{ }}` and `{% %}` come names, literals and operators. Whitespace control is applied here:
// `-` strips all whitespace on its side, `+` keeps it, lstrip_blocks removes the indentation before a
// `{%`/`{#` tag that starts a line, trim_blocks removes the newline after `%}`/`#}`.
// Not here: line statements, custom delimiters, autoescape — Hugging Face enables none of them.

struct TemplatePosition: Equatable, Sendable, CustomStringConvertible {
    var line: Int
    var column: Int
    var description: String { "line \(line) col \(column)" }
}

/// An error in the template itself or while rendering it; `position` is where, if known.
struct TemplateError: Error {
    var message: String
    var position: TemplatePosition?

    init(_ message: String, at position: TemplatePosition? = nil) {
        self.message = message
        self.position = position
    }
}

enum TemplateTokenKind: Equatable, Sendable {
    case data(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case end
}

struct TemplateToken: Sendable {
    var kind: TemplateTokenKind
    var position: TemplatePosition
}

struct TemplateLexer {
    private let src: [Unicode.Scalar]
    private var lineStarts: [Int] = [0]
    private var pos = 0
    private var lineStarting = true
    private(set) var tokens: [TemplateToken] = []

    /// Lexes the whole template (`lstripBlocks`/`trimBlocks` as jinja2's options).
    static func tokenize(_ source: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) throws -> [TemplateToken] {
        var lexer = TemplateLexer(source)
        try lexer.run(trimBlocks: trimBlocks, lstripBlocks: lstripBlocks)
        return lexer.tokens
    }

    private init(_ source: String) {
        // Newlines normalized to \n and one trailing newline dropped, as jinja2 does before lexing.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for u in source.unicodeScalars {
            if u == "\r" { scalars.append("\n"); previousCR = true; continue }
            if u == "\n" && previousCR { previousCR = false; continue }
            previousCR = false
            scalars.append(u)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        src = scalars
        for (i, u) in src.enumerated() where u == "\n" { lineStarts.append(i + 1) }
    }

    private func position(_ offset: Int) -> TemplatePosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return TemplatePosition(line: lo + 1, column: offset - lineStarts[lo] + 1)
    }

    private func at(_ i: Int, _ s: String) -> Bool {
        var j = i
        for u in s.unicodeScalars {
            guard j < src.count, src[j] == u else { return false }
            j += 1
        }
        return true
    }

    private func text(_ a: Int, _ b: Int) -> String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: src[a..<b])
        return String(s)
    }

    private func skipWhitespace(_ i: Int) -> Int {
        var j = i
        while j < src.count, isPythonSpace(src[j]) { j += 1 }
        return j
    }

    private mutating func emit(_ kind: TemplateTokenKind, _ offset: Int) {
        tokens.append(TemplateToken(kind: kind, position: position(offset)))
    }

    /// Data before a tag, stripped as the tag's sign and lstrip_blocks ask.
    private mutating func emitData(_ a: Int, _ b: Int, sign: Unicode.Scalar?, lstrip: Bool) {
        var end = b
        if sign == "-" {
            while end > a, isPythonSpace(src[end - 1]) { end -= 1 }
        } else if sign != "+" && lstrip {
            var lineStart = end
            while lineStart > a, src[lineStart - 1] != "\n" { lineStart -= 1 }
            if (lineStart > a || lineStarting) && lineStart < end
                && src[lineStart..<end].allSatisfy({ isPythonSpace($0) }) {
                end = lineStart
            }
        }
        if end > a { emit(.data(text(a, end)), a) }
    }

    private mutating func run(trimBlocks: Bool, lstripBlocks: Bool) throws {
        while pos < src.count {
            // The next tag opener.
            var start = pos
            var opener: Unicode.Scalar?
            while start + 1 < src.count {
                if src[start] == "{", src[start + 1] == "{" || src[start + 1] == "%" || src[start + 1] == "#" {
                    opener = src[start + 1]
                    break
                }
                start += 1
            }
            guard let opener else {
                emitData(pos, src.count, sign: nil, lstrip: false)
                pos = src.count
                break
            }
            var after = start + 2
            var sign: Unicode.Scalar?
            if after < src.count, src[after] == "-" || src[after] == "+" { sign = src[after]; after += 1 }
            if opener == "%", let rawEnd = rawBegin(at: after) {
                emitData(pos, start, sign: sign, lstrip: lstripBlocks)
                try lexRaw(from: rawEnd, openedAt: start, trimBlocks: trimBlocks, lstripBlocks: lstripBlocks)
                continue
            }
            emitData(pos, start, sign: sign, lstrip: lstripBlocks && opener != "{")
            lineStarting = false
            switch opener {
            case "#": try lexComment(from: after, openedAt: start, trimBlocks: trimBlocks)
            case "%":
                emit(.blockBegin, start)
                try lexTag(from: after, openedAt: start, block: true, trimBlocks: trimBlocks)
            default:
                emit(.variableBegin, start)
                try lexTag(from: after, openedAt: start, block: false, trimBlocks: trimBlocks)
            }
        }
        emit(.end, src.count)
    }

    /// `{% raw %}` (after the `{%` and its sign): the offset just past the tag, or nil if this is not one.
    private func rawBegin(at i: Int) -> Int? {
        var j = skipWhitespace(i)
        guard at(j, "raw") else { return nil }
        j += 3
        if j < src.count, isNameContinue(src[j]) { return nil }
        j = skipWhitespace(j)
        if at(j, "-%}") { return skipWhitespace(j + 3) }
        if at(j, "%}") { return j + 2 }
        return nil
    }

    private mutating func lexRaw(from i: Int, openedAt: Int, trimBlocks: Bool, lstripBlocks: Bool) throws {
        lineStarting = i > 0 && src[i - 1] == "\n"
        var j = i
        while j + 1 < src.count {
            if src[j] == "{", src[j + 1] == "%" {
                var k = j + 2
                var sign: Unicode.Scalar?
                if k < src.count, src[k] == "-" || src[k] == "+" { sign = src[k]; k += 1 }
                k = skipWhitespace(k)
                if at(k, "endraw") {
                    k = skipWhitespace(k + 6)
                    var end: Int?
                    if at(k, "+%}") { end = k + 3 }
                    else if at(k, "-%}") { end = skipWhitespace(k + 3) }
                    else if at(k, "%}") { end = k + 2 + (trimBlocks && at(k + 2, "\n") ? 1 : 0) }
                    if let end {
                        emitData(i, j, sign: sign, lstrip: lstripBlocks)
                        pos = end
                        lineStarting = src[end - 1] == "\n"
                        return
                    }
                }
            }
            j += 1
        }
        throw TemplateError("missing {% endraw %} for this raw block", at: position(openedAt))
    }

    private mutating func lexComment(from i: Int, openedAt: Int, trimBlocks: Bool) throws {
        var j = i
        while j < src.count {
            if at(j, "+#}") { pos = j + 3; lineStarting = false; return }
            if at(j, "-#}") { pos = skipWhitespace(j + 3); lineStarting = src[pos - 1] == "\n"; return }
            if at(j, "#}") {
                pos = j + 2 + (trimBlocks && at(j + 2, "\n") ? 1 : 0)
                lineStarting = src[pos - 1] == "\n"
                return
            }
            j += 1
        }
        throw TemplateError("missing end of comment tag '#}'", at: position(openedAt))
    }

    private static let operators2: [String] = ["**", "//", "==", "!=", ">=", "<="]
    private static let operators1: Set<Unicode.Scalar> = ["+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
                                                          ">", "<", "=", ".", ":", "|", ",", ";"]

    private mutating func lexTag(from i: Int, openedAt: Int, block: Bool, trimBlocks: Bool) throws {
        var j = i
        var balance: [Unicode.Scalar] = []
        while true {
            guard j < src.count else {
                throw TemplateError("unclosed '\(block ? "{%" : "{{")' (no matching '\(block ? "%}" : "}}")')",
                                    at: position(openedAt))
            }
            if balance.isEmpty {
                if block {
                    if at(j, "+%}") { emit(.blockEnd, j); pos = j + 3; lineStarting = false; return }
                    if at(j, "-%}") {
                        emit(.blockEnd, j); pos = skipWhitespace(j + 3); lineStarting = src[pos - 1] == "\n"; return
                    }
                    if at(j, "%}") {
                        emit(.blockEnd, j)
                        pos = j + 2 + (trimBlocks && at(j + 2, "\n") ? 1 : 0)
                        lineStarting = src[pos - 1] == "\n"
                        return
                    }
                } else {
                    if at(j, "-}}") {
                        emit(.variableEnd, j); pos = skipWhitespace(j + 3); lineStarting = src[pos - 1] == "\n"; return
                    }
                    if at(j, "}}") { emit(.variableEnd, j); pos = j + 2; lineStarting = false; return }
                }
            }
            let u = src[j]
            if isPythonSpace(u) { j += 1; continue }
            if isDigit(u) { j = try lexNumber(j); continue }
            if isNameStart(u) {
                var k = j + 1
                while k < src.count, isNameContinue(src[k]) { k += 1 }
                emit(.name(text(j, k)), j)
                j = k
                continue
            }
            if u == "'" || u == "\"" { j = try lexString(j); continue }
            if j + 1 < src.count, let op = TemplateLexer.operators2.first(where: { at(j, $0) }) {
                emit(.op(op), j)
                j += 2
                continue
            }
            if TemplateLexer.operators1.contains(u) {
                switch u {
                case "(", "[", "{": balance.append(u)
                case ")", "]", "}":
                    let want: Unicode.Scalar = u == ")" ? "(" : u == "]" ? "[" : "{"
                    guard balance.last == want else {
                        throw TemplateError("unexpected '\(u)'", at: position(j))
                    }
                    balance.removeLast()
                default: break
                }
                emit(.op(String(u)), j)
                j += 1
                continue
            }
            throw TemplateError("unexpected character '\(u)'", at: position(j))
        }
    }

    /// Integers and floats as jinja2 reads them (`1_000`, `2.5`, `1e3`, `1.5E-2`).
    private mutating func lexNumber(_ i: Int) throws -> Int {
        func digits(_ k: Int) -> Int {
            var k = k
            while k < src.count, isDigit(src[k]) || (src[k] == "_" && k + 1 < src.count && isDigit(src[k + 1])) { k += 1 }
            return k
        }
        var k = digits(i)
        var isFloat = false
        if k + 1 < src.count, src[k] == ".", isDigit(src[k + 1]) { k = digits(k + 1); isFloat = true }
        if k < src.count, src[k] == "e" || src[k] == "E" {
            var e = k + 1
            if e < src.count, src[e] == "+" || src[e] == "-" { e += 1 }
            if e < src.count, isDigit(src[e]) { k = digits(e); isFloat = true }
        }
        let literal = text(i, k).replacingOccurrences(of: "_", with: "")
        if isFloat {
            guard let d = Double(literal) else { throw TemplateError("bad number \(literal)", at: position(i)) }
            emit(.float(d), i)
        } else {
            guard let n = Int(literal) else { throw TemplateError("integer \(literal) is too large", at: position(i)) }
            emit(.integer(n), i)
        }
        return k
    }

    /// A quoted string with Python's escapes (`\n`, `\t`, `\\`, `\'`, `\"`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`, octal);
    /// unknown escapes stay as written, as Python's unicode-escape codec leaves them.
    private mutating func lexString(_ i: Int) throws -> Int {
        let quote = src[i]
        var out = String.UnicodeScalarView()
        var k = i + 1
        func hex(_ n: Int) throws -> Unicode.Scalar {
            guard k + n <= src.count, let v = UInt32(text(k, k + n), radix: 16), let s = Unicode.Scalar(v) else {
                throw TemplateError("bad \\x/\\u escape in string", at: position(k))
            }
            k += n
            return s
        }
        while true {
            guard k < src.count else { throw TemplateError("unterminated string", at: position(i)) }
            let u = src[k]
            if u == quote { k += 1; break }
            if u != "\\" { out.append(u); k += 1; continue }
            guard k + 1 < src.count else { throw TemplateError("unterminated string", at: position(i)) }
            let e = src[k + 1]
            k += 2
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": break
            case "x": out.append(try hex(2))
            case "u": out.append(try hex(4))
            case "U": out.append(try hex(8))
            case "0"..."7":
                var v = e.value - 48
                var n = 1
                while n < 3, k < src.count, ("0"..."7").contains(src[k]) { v = v * 8 + src[k].value - 48; k += 1; n += 1 }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default: out.append("\\"); out.append(e)
            }
        }
        emit(.string(String(out)), i)
        return k
    }
}

fileprivate func isDigit(_ u: Unicode.Scalar) -> Bool { ("0"..."9").contains(u) }
fileprivate func isNameStart(_ u: Unicode.Scalar) -> Bool { u == "_" || u.properties.isAlphabetic }
fileprivate func isNameContinue(_ u: Unicode.Scalar) -> Bool { isNameStart(u) || u.properties.numericType != nil }

/// Python's `str.isspace` (Unicode White_Space plus the ASCII separators U+001C…U+001F).
func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
    (0x1C...0x1F).contains(u.value) || u.properties.isWhitespace
}
