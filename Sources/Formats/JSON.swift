// JSON: a small ordered JSON value for the files llmkit writes (config.json, tokenizer.json, index files,
// safetensors headers, `inspect --json`) and a reader over Foundation's parser for the files it reads.
// Strings are escaped as serde_json does (only `"`, `\` and control characters; non-ASCII kept as
// UTF-8), so safetensors headers come out byte-identical to the reference writer's.

import Foundation

public indirect enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Keys in insertion order.
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.double(x), .double(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// Serialized text. `indent` > 0 pretty-prints with that many spaces per level (Python json.dumps style).
    public func serialized(indent: Int = 0) -> String {
        var out = ""
        write(into: &out, indent: indent, level: 0)
        return out
    }

    func write(into out: inout String, indent: Int, level: Int) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += JSON.format(d)
        case let .string(s): JSON.escape(s, into: &out)
        case let .array(a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += "," }
                JSON.newline(&out, indent, level + 1)
                e.write(into: &out, indent: indent, level: level + 1)
            }
            JSON.newline(&out, indent, level)
            out += "]"
        case let .object(o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                JSON.newline(&out, indent, level + 1)
                JSON.escape(k, into: &out)
                out += indent > 0 ? ": " : ":"
                v.write(into: &out, indent: indent, level: level + 1)
            }
            JSON.newline(&out, indent, level)
            out += "}"
        }
    }

    static func newline(_ out: inout String, _ indent: Int, _ level: Int) {
        guard indent > 0 else { return }
        out += "\n"
        out += String(repeating: " ", count: indent * level)
    }

    /// Shortest round-trip text for a double; non-finite values (not JSON) become null.
    public static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e16 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    /// A Float printed with its own shortest representation (so 1e-5 as float32 prints as 1e-05).
    public static func float(_ f: Float) -> JSON {
        guard f.isFinite else { return .null }
        return .double(Double("\(f)") ?? Double(f))
    }

    /// `s` as a JSON string literal. `asciiOnly` escapes everything outside space…tilde as \uXXXX (surrogate pairs
    /// above U+FFFF), as Python's json.dumps(ensure_ascii=True) does.
    public static func escape(_ s: String, into out: inout String, asciiOnly: Bool = false) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 || (asciiOnly && u.value > 0x7E) {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += "\\u" + String(0xD800 + (v >> 10), radix: 16).leftPadded(4)
                        out += "\\u" + String(0xDC00 + (v & 0x3FF), radix: 16).leftPadded(4)
                    } else {
                        out += "\\u" + String(u.value, radix: 16).leftPadded(4)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    // MARK: - reading

    /// Parses JSON text with Foundation; `file` names the source in errors.
    public static func parse(_ data: Data, file: String) throws -> Any {
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw FormatError.json(file: file, message: "\(error.localizedDescription)")
        }
    }

    public static func parseFile(_ path: String) throws -> Any {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError.io(path: path, operation: "read", message: "cannot read file")
        }
        return try parse(data, file: path)
    }

    /// An exact integer out of a parsed JSON number (nil for fractions, booleans, out-of-range values).
    public static func int(_ v: Any?) -> Int? {
        guard let v, !isBool(v) else { return nil }
        if let i = v as? Int { return i }
        if let d = v as? Double, d == d.rounded(), abs(d) < 9.0e15 { return Int(d) }
        return nil
    }

    /// A JSON `true`/`false` out of a parsed document (not a number that happens to be 0 or 1).
    public static func bool(_ v: Any?) -> Bool? {
        guard let v, isBool(v) else { return nil }
        return v as? Bool
    }

    /// Foundation hands JSON booleans and numbers back as NSNumber; booleans have objCType "c".
    static func isBool(_ v: Any) -> Bool {
        if let n = v as? NSNumber { return String(cString: n.objCType) == "c" }
        return v is Bool
    }

    public static func double(_ v: Any?) -> Double? {
        guard let v, !isBool(v) else { return nil }
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        return nil
    }
}
