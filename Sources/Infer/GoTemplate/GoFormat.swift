// GoFormat: Go's text for values and nodes — fmt's %v/%s/%d/%q/%t/%x/%f/%e/%g/%c and friends (with flags, width
// and precision, and fmt's `%!verb(type=value)` for a mismatch), fmt.Sprint's spacing, strconv's shortest float
// digits, encoding/json's Marshal (HTML-escaping, as json.Marshal does), the escapers behind `html`, `js` and
// `urlquery`, and parse nodes printed as Go's String() prints them in error texts.
import Foundation

enum GoFormat {
    // MARK: nodes

    static func node(_ a: GoArg) -> String {
        switch a {
        case let .field(_, ids): return ids.map { "." + $0 }.joined()
        case let .variable(_, ids): return ids.joined(separator: ".")
        case .dot: return "."
        case .null: return "nil"
        case let .bool(_, b): return b ? "true" : "false"
        case let .number(_, text, _): return text
        case let .string(_, quoted, _): return quoted
        case let .identifier(_, name): return name
        case let .pipe(p): return "(" + pipe(p) + ")"
        case let .chain(_, n, fields):
            return node(n) + fields.map { "." + $0 }.joined()
        }
    }

    static func pipe(_ p: GoPipe) -> String {
        var s = ""
        if !p.decl.isEmpty { s = p.decl.joined(separator: ", ") + (p.isAssign ? " = " : " := ") }
        return s + p.cmds.map(command).joined(separator: " | ")
    }

    static func command(_ c: GoCommand) -> String {
        c.args.map { a -> String in
            if case let .pipe(p) = a { return "(" + pipe(p) + ")" }
            return node(a)
        }.joined(separator: " ")
    }

    // MARK: floats

    /// Shortest round-trip decimal digits of a finite non-negative double: value = 0.d1d2… × 10^dp.
    static func shortest(_ d: Double) -> (digits: [UInt8], dp: Int) {
        if d == 0 { return ([0x30], 1) }
        let s = "\(d)"   // Swift prints the shortest round-trip form, e.g. "1e-05", "123.45", "1.0"
        var mant = Substring(s), exp = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mant = s[..<e]
            exp = Int(s[s.index(after: e)...]) ?? 0
        }
        var digits: [UInt8] = []
        var dp = 0
        var seenPoint = false
        for c in mant.utf8 {
            if c == 0x2E { seenPoint = true; continue }
            digits.append(c)
            if !seenPoint { dp += 1 }
        }
        // strip leading zeros (0.001 → digits 1, dp -2) and trailing zeros
        while digits.count > 1, digits.first == 0x30 { digits.removeFirst(); dp -= 1 }
        while digits.count > 1, digits.last == 0x30 { digits.removeLast() }
        return (digits, dp + exp)
    }

    /// strconv.FormatFloat(f, fmt, -1, 64) for fmt 'e', 'f' or 'g' (shortest digits).
    static func formatShortest(_ f: Double, _ fmt: Character) -> String {
        if f.isNaN { return "NaN" }
        if f.isInfinite { return f < 0 ? "-Inf" : "+Inf" }
        let neg = f.sign == .minus
        let (digits, dp) = shortest(abs(f))
        var out = neg ? "-" : ""
        var mode = fmt
        if fmt == "g" {
            // strconv's shortest %g: %e when the exponent is < -4 or >= 6
            let exp = dp - 1
            mode = exp < -4 || exp >= 6 ? "e" : "f"
        }
        if mode == "e" {
            out += String(UnicodeScalar(digits[0]))
            if digits.count > 1 { out += "." + String(decoding: digits[1...], as: UTF8.self) }
            let e = dp - 1
            out += e < 0 ? "e-" : "e+"
            let ae = abs(e)
            out += ae < 10 ? "0\(ae)" : "\(ae)"
            return out
        }
        // fixed
        if dp <= 0 {
            out += "0." + String(repeating: "0", count: -dp) + String(decoding: digits, as: UTF8.self)
        } else if dp >= digits.count {
            out += String(decoding: digits, as: UTF8.self) + String(repeating: "0", count: dp - digits.count)
        } else {
            out += String(decoding: digits[..<dp], as: UTF8.self) + "." + String(decoding: digits[dp...], as: UTF8.self)
        }
        return out
    }

    // MARK: %v

    /// fmt's %v of a value (nil prints `<nil>`).
    static func plain(_ v: GoValue?) -> String {
        var out = ""
        format(v, verb: "v", spec: Spec(), into: &out)
        return out
    }

    /// fmt.Sprint: operands separated by a space when neither side is a string.
    static func sprint(_ args: [GoValue?]) -> String {
        var out = ""
        for (k, a) in args.enumerated() {
            if k > 0, !isString(a), !isString(args[k - 1]) { out += " " }
            out += plain(a)
        }
        return out
    }

    static func sprintln(_ args: [GoValue?]) -> String { args.map(plain).joined(separator: " ") + "\n" }

    private static func isString(_ v: GoValue?) -> Bool { if case .string = v { true } else { false } }

    // MARK: printf

    struct Spec {
        var minus = false, plus = false, sharp = false, space = false, zero = false
        var width: Int? = nil
        var precision: Int? = nil
    }

    static func sprintf(_ format: String, _ args: [GoValue?]) -> String {
        let f = Array(format.unicodeScalars)
        var out = ""
        var argi = 0
        var k = 0
        while k < f.count {
            let c = f[k]
            if c != "%" { out.unicodeScalars.append(c); k += 1; continue }
            k += 1
            var spec = Spec()
            flags: while k < f.count {
                switch f[k] {
                case "-": spec.minus = true; spec.zero = false
                case "+": spec.plus = true
                case "#": spec.sharp = true
                case " ": spec.space = true
                case "0": spec.zero = !spec.minus
                default: break flags
                }
                k += 1
            }
            func number() -> Int? {
                var n: Int? = nil
                while k < f.count, let d = Int(String(f[k])), f[k].isASCII { n = (n ?? 0) * 10 + d; k += 1; if n! > 1_000_000 { break } }
                return n
            }
            if k < f.count, f[k] == "*" {
                k += 1
                if argi < args.count, case let .int(w)? = args[argi] { spec.width = abs(w); if w < 0 { spec.minus = true } } else { out += "%!(BADWIDTH)" }
                argi += 1
            } else { spec.width = number() }
            if k < f.count, f[k] == "." {
                k += 1
                if k < f.count, f[k] == "*" {
                    k += 1
                    if argi < args.count, case let .int(p)? = args[argi], p >= 0 { spec.precision = p } else { out += "%!(BADPREC)" }
                    argi += 1
                } else { spec.precision = number() ?? 0 }
            }
            guard k < f.count else { out += "%!(NOVERB)"; break }
            let verb = Character(f[k]); k += 1
            if verb == "%" { out += "%"; continue }
            guard argi < args.count else { out += "%!\(verb)(MISSING)"; continue }
            GoFormat.format(args[argi], verb: verb, spec: spec, into: &out)
            argi += 1
        }
        if argi < args.count {
            out += "%!(EXTRA "
            out += args[argi...].map { a -> String in
                guard let a, a != .null else { return "<nil>" }
                return "\(a.goType)=\(plain(a))"
            }.joined(separator: ", ")
            out += ")"
        }
        return out
    }

    private static func bad(_ v: GoValue?, _ verb: Character, into out: inout String) {
        guard let v, v != .null else { out += "%!\(verb)(<nil>)"; return }
        out += "%!\(verb)(\(v.goType)="
        format(v, verb: "v", spec: Spec(), into: &out)
        out += ")"
    }

    private static func padded(_ s: String, _ spec: Spec, zeroOK: Bool = false, into out: inout String) {
        guard let w = spec.width, s.unicodeScalars.count < w else { out += s; return }
        let n = w - s.unicodeScalars.count
        if spec.minus { out += s + String(repeating: " ", count: n); return }
        if spec.zero && zeroOK {
            // zeros go after a sign
            if let first = s.first, first == "-" || first == "+" || first == " " {
                out += String(first) + String(repeating: "0", count: n) + s.dropFirst()
            } else { out += String(repeating: "0", count: n) + s }
            return
        }
        out += String(repeating: " ", count: n) + s
    }

    static func format(_ v: GoValue?, verb: Character, spec: Spec, into out: inout String) {
        switch v {
        case nil, .null?:
            if verb == "v" { padded("<nil>", spec, into: &out) } else { bad(v, verb, into: &out) }
        case let .bool(b)?:
            if verb == "v" || verb == "t" { padded(b ? "true" : "false", spec, into: &out) } else { bad(v, verb, into: &out) }
        case let .int(i)?:
            formatInt(i, verb: verb, spec: spec, into: &out)
        case let .float(d)?:
            formatFloat(d, verb: verb, spec: spec, into: &out)
        case let .string(s)?:
            formatString(s, verb: verb, spec: spec, into: &out)
        case let .list(l)?:
            if verb == "x" || verb == "X" || verb == "s" || verb == "q" || verb == "v" || verb == "d" || verb == "t"
                || verb == "f" || verb == "g" || verb == "e" || verb == "c" || verb == "o" || verb == "b" {
                out += "["
                for (k, e) in l.enumerated() {
                    if k > 0 { out += " " }
                    element(e, verb: verb, spec: spec, into: &out)
                }
                out += "]"
            } else { bad(v, verb, into: &out) }
        case let .map(m)?:
            if let _ = m.record {
                out += "{"
                for (k, key) in m.keys.enumerated() {
                    if k > 0 { out += " " }
                    element(m[key], verb: verb, spec: spec, into: &out)
                }
                out += "}"
            } else {
                out += "map["
                for (k, key) in m.sortedKeys.enumerated() {
                    if k > 0 { out += " " }
                    format(.string(key), verb: verb, spec: spec, into: &out)
                    out += ":"
                    element(m[key], verb: verb, spec: spec, into: &out)
                }
                out += "]"
            }
        }
    }

    /// An element inside a list or map: a nil interface prints `<nil>` whatever the verb.
    private static func element(_ v: GoValue?, verb: Character, spec: Spec, into out: inout String) {
        if v == nil || v == .null { padded("<nil>", spec, into: &out) } else { format(v, verb: verb, spec: spec, into: &out) }
    }

    private static func formatInt(_ i: Int, verb: Character, spec: Spec, into out: inout String) {
        let neg = i < 0
        let mag = i.magnitude
        var digits: String
        var prefix = ""
        switch verb {
        case "d", "v": digits = String(mag)
        case "x": digits = String(mag, radix: 16); if spec.sharp { prefix = "0x" }
        case "X": digits = String(mag, radix: 16, uppercase: true); if spec.sharp { prefix = "0X" }
        case "o": digits = String(mag, radix: 8); if spec.sharp { prefix = "0" }
        case "O": digits = String(mag, radix: 8); prefix = "0o"
        case "b": digits = String(mag, radix: 2)
        case "c":
            padded(Unicode.Scalar(UInt32(truncatingIfNeeded: i)).map { String(Character($0)) } ?? "\u{FFFD}", spec, into: &out)
            return
        case "q":
            let s = Unicode.Scalar(UInt32(truncatingIfNeeded: i)).map { String(Character($0)) } ?? "\u{FFFD}"
            let q = goQuote(s)
            padded("'" + q.dropFirst().dropLast().replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "'", with: "\\'") + "'", spec, into: &out)
            return
        case "U":
            var h = String(mag, radix: 16, uppercase: true)
            while h.count < 4 { h = "0" + h }
            padded("U+" + h, spec, into: &out)
            return
        default:
            bad(.int(i), verb, into: &out); return
        }
        if let p = spec.precision {
            if p == 0 && mag == 0 { digits = "" }
            while digits.count < p { digits = "0" + digits }
        }
        let sign = neg ? "-" : (spec.plus ? "+" : (spec.space ? " " : ""))
        var s = sign + prefix + digits
        if spec.zero, spec.precision == nil, !spec.minus, let w = spec.width, s.count < w {
            s = sign + prefix + String(repeating: "0", count: w - s.count) + digits
        }
        padded(s, spec, into: &out)
    }

    private static func formatFloat(_ d: Double, verb: Character, spec: Spec, into out: inout String) {
        var s: String
        switch verb {
        case "v", "g", "G":
            if let p = spec.precision {
                s = String(format: "%.\(p)\(verb == "G" ? "G" : "g")", d)
            } else {
                s = formatShortest(d, "g")
                if verb == "G" { s = s.uppercased() }
            }
        case "f", "F":
            s = String(format: "%.\(spec.precision ?? 6)f", d)
        case "e", "E":
            s = String(format: "%.\(spec.precision ?? 6)\(verb)", d)
        default:
            bad(.float(d), verb, into: &out); return
        }
        if d.isNaN { s = "NaN" } else if d.isInfinite { s = d < 0 ? "-Inf" : "+Inf" }
        if spec.plus, !s.hasPrefix("-"), !s.hasPrefix("+") { s = "+" + s }
        else if spec.space, !s.hasPrefix("-"), !s.hasPrefix("+") { s = " " + s }
        padded(s, spec, zeroOK: d.isFinite, into: &out)
    }

    private static func formatString(_ str: String, verb: Character, spec: Spec, into out: inout String) {
        var s = str
        switch verb {
        case "s", "v":
            if let p = spec.precision { s = String(String.UnicodeScalarView(s.unicodeScalars.prefix(p))) }
            padded(s, spec, into: &out)
        case "q":
            if let p = spec.precision { s = String(String.UnicodeScalarView(s.unicodeScalars.prefix(p))) }
            if spec.sharp, !s.contains("`"), s.unicodeScalars.allSatisfy({ $0 == "\t" || goIsPrint($0) }) {
                padded("`" + s + "`", spec, into: &out)
            } else { padded(goQuote(s), spec, into: &out) }
        case "x", "X":
            var bytes = Array(s.utf8)
            if let p = spec.precision { bytes = Array(bytes.prefix(p)) }
            var h = ""
            for (k, byte) in bytes.enumerated() {
                if spec.space && k > 0 { h += " " }
                if spec.sharp && (spec.space || k == 0) { h += verb == "x" ? "0x" : "0X" }
                let x = String(byte, radix: 16, uppercase: verb == "X")
                h += x.count == 1 ? "0" + x : x
            }
            padded(h, spec, into: &out)
        default:
            bad(.string(str), verb, into: &out)
        }
    }

    // MARK: json

    /// encoding/json's Marshal of a value: records by their JSON field names in field order, ordered maps in
    /// insertion order, other maps by sorted key as Go marshals a map.
    static func json(_ v: GoValue?, into out: inout String) {
        switch v {
        case nil, .null?: out += "null"
        case let .bool(b)?: out += b ? "true" : "false"
        case let .int(i)?: out += String(i)
        case let .float(d)?:
            let a = abs(d)
            if a != 0 && (a < 1e-6 || a >= 1e21) {
                var s = formatShortest(d, "e")
                if let r = s.range(of: "e-0") { s.replaceSubrange(r, with: "e-") }
                out += s
            } else { out += formatShortest(d, "f") }
        case let .string(s)?: jsonString(s, into: &out)
        case let .list(l)?:
            out += "["
            for (k, e) in l.enumerated() { if k > 0 { out += "," }; json(e, into: &out) }
            out += "]"
        case let .map(m)?:
            out += "{"
            var first = true
            if let r = m.record {
                for key in m.keys {
                    let field = r.json[key] ?? GoMap.JSONField(key)
                    let value = m[key]
                    if field.omitEmpty, isEmpty(value) { continue }
                    if !first { out += "," }
                    first = false
                    jsonString(field.name, into: &out); out += ":"
                    json(value, into: &out)
                }
            } else {
                for key in m.ordered ? m.keys : m.sortedKeys {
                    if !first { out += "," }
                    first = false
                    jsonString(key, into: &out); out += ":"
                    json(m[key], into: &out)
                }
            }
            out += "}"
        }
    }

    private static func isEmpty(_ v: GoValue?) -> Bool {
        switch v {
        case nil, .null?: true
        case let .string(s)?: s.isEmpty
        case let .int(i)?: i == 0
        case let .float(d)?: d == 0
        case let .bool(b)?: !b
        case let .list(l)?: l.isEmpty
        case let .map(m)?: m.record == nil && m.count == 0
        }
    }

    static func jsonString(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += "\\u" + hex4(u.value)
            default:
                if u.value < 0x20 { out += "\\u" + hex4(u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        out += "\""
    }

    private static func hex4(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    // MARK: escapers

    /// template.HTMLEscapeString: markupsafe's five entities (ChatTemplate's htmlEscape) and NUL → U+FFFD.
    static func html(_ s: String) -> String {
        var noNUL = String.UnicodeScalarView()
        noNUL.append(contentsOf: s.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 })
        return htmlEscape(String(noNUL))
    }

    /// template.JSEscapeString.
    static func js(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\"": out += "\\\""
            case "<": out += "\\u003C"
            case ">": out += "\\u003E"
            case "&": out += "\\u0026"
            case "=": out += "\\u003D"
            default:
                if u.value < 0x80 {
                    if u.value < 0x20 || u.value == 0x7F { out += "\\u" + hex4(u.value).uppercased() } else { out.unicodeScalars.append(u) }
                } else if goIsPrint(u) {
                    out.unicodeScalars.append(u)
                } else {
                    out += "\\u" + hex4(u.value).uppercased()
                }
            }
        }
        return out
    }

    /// url.QueryEscape.
    static func urlquery(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x5F, 0x2E, 0x7E: out.unicodeScalars.append(UnicodeScalar(byte))
            case 0x20: out += "+"
            default:
                let h = String(byte, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }
}
