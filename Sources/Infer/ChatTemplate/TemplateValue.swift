// TemplateValue: the JSON values a caller passes into a chat template (messages, tools, extra variables) — Formats'
// `JSON`, whose objects keep their key order, because `tojson` prints keys in the order given, as Python's dicts
// do. Built from Foundation's parsed `Any`, or read from JSON text with `TemplateValue.parse` (which keeps the
// file's key order, as Python's json.load does).

import Foundation
import Formats

/// Formats' ordered JSON value is exactly the value a template takes; the name says what it is for here.
public typealias TemplateValue = JSON

extension JSON {
    /// A message `{"role": role, "content": content}`.
    public static func message(role: String, content: String) -> TemplateValue {
        .object([("role", .string(role)), ("content", .string(content))])
    }

    /// The same value (kept for callers that convert explicitly).
    public init(_ json: JSON) { self = json }

    /// From Foundation's JSONSerialization output (`JSON.parse`). Dictionary keys are sorted, since
    /// NSDictionary has no order; use `parse(_:)` where the order matters.
    public init(any value: Any?) throws {
        guard let value, !(value is NSNull) else { self = .null; return }
        if JSON.bool(value) != nil, let b = value as? Bool { self = .bool(b); return }
        if let s = value as? String { self = .string(s); return }
        if let n = value as? NSNumber {
            // The number's own type tells `1` from `1.0` (Python keeps that difference; tojson prints it).
            switch String(cString: n.objCType) {
            case "d", "f", "Q": self = .double(n.doubleValue)
            default: self = .int(n.intValue)
            }
            return
        }
        if let a = value as? [Any] { self = .array(try a.map { try TemplateValue(any: $0) }); return }
        if let d = value as? [String: Any] {
            self = .object(try d.keys.sorted().map { ($0, try TemplateValue(any: d[$0])) })
            return
        }
        throw InferError.template("a value of type \(type(of: value)) cannot be passed to a template")
    }

    /// Reads JSON text, keeping object keys in order and telling integers (`1`) from floats (`1.0`, `1e3`),
    /// as Python's json module does.
    public static func parse(_ text: String) throws -> TemplateValue {
        var reader = JSONReader(Array(text.utf8))
        reader.skipSpace()
        let v = try reader.value()
        reader.skipSpace()
        guard reader.atEnd else { throw reader.error("extra data after the JSON value") }
        return v
    }

    var value: JinjaValue {
        switch self {
        case .null: .none
        case let .bool(b): .bool(b)
        case let .int(i): .int(i)
        case let .double(d): .double(d)
        case let .string(s): .string(s)
        case let .array(a): .list(a.map(\.value))
        case let .object(o): .dict(JinjaDict(o.map { ($0.0, $0.1.value) }))
        }
    }
}

/// A strict JSON reader over UTF-8 bytes (RFC 8259), errors naming the byte offset. Nesting is bounded (the reader
/// recurses; untrusted text such as a request body of a million "[" must be an error, not a stack overflow).
private struct JSONReader {
    static let maxDepth = 512
    let bytes: [UInt8]
    var i = 0
    var depth = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func enter() throws {
        depth += 1
        guard depth <= JSONReader.maxDepth else { throw error("exceeded max depth (\(JSONReader.maxDepth))") }
    }

    var atEnd: Bool { i >= bytes.count }

    func error(_ message: String) -> InferError { .template("JSON at byte \(i): \(message)") }

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    mutating func literal(_ word: String, _ v: TemplateValue) throws -> TemplateValue {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw error("unexpected character") }
        i += w.count
        return v
    }

    mutating func value() throws -> TemplateValue {
        guard i < bytes.count else { throw error("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            try enter()
            defer { depth -= 1 }
            i += 1
            var items: [TemplateValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value())
                skipSpace()
                guard i < bytes.count else { throw error("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "{"):
            try enter()
            defer { depth -= 1 }
            i += 1
            var pairs: [(String, TemplateValue)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let k = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipSpace()
                let v = try value()
                // A repeated key keeps its first position and takes the last value, as a Python dict does.
                if let j = pairs.firstIndex(where: { $0.0 == k }) { pairs[j].1 = v } else { pairs.append((k, v)) }
                skipSpace()
                guard i < bytes.count else { throw error("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
                i += 1
                return .object(pairs)
            }
        default:
            return try number()
        }
    }

    mutating func number() throws -> TemplateValue {
        let start = i
        var isFloat = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        while i < bytes.count {
            let c = bytes[i]
            if (0x30...0x39).contains(c) { i += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                || ((c == UInt8(ascii: "+") || c == UInt8(ascii: "-")) && i > start) {
                isFloat = true
                i += 1
                continue
            }
            break
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard !text.isEmpty, text != "-" else { throw error("unexpected character") }
        if !isFloat, let n = Int(text) { return .int(n) }
        guard let d = Double(text) else { throw error("bad number \(text)") }
        return .double(d)
    }

    mutating func string() throws -> String {
        i += 1
        var out = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush() {
            if !run.isEmpty { out.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars); run = [] }
        }
        func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw error("bad \\u escape")
            }
            i += 4
            return v
        }
        while true {
            guard i < bytes.count else { throw error("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; flush(); return String(out) }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") { run.append(c); i += 1; continue }
            flush()
            guard i + 1 < bytes.count else { throw error("unterminated string") }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out.append("\"")
            case UInt8(ascii: "\\"): out.append("\\")
            case UInt8(ascii: "/"): out.append("/")
            case UInt8(ascii: "b"): out.append("\u{08}")
            case UInt8(ascii: "f"): out.append("\u{0C}")
            case UInt8(ascii: "n"): out.append("\n")
            case UInt8(ascii: "r"): out.append("\r")
            case UInt8(ascii: "t"): out.append("\t")
            case UInt8(ascii: "u"):
                var v = try hex4()
                if (0xD800..<0xDC00).contains(v), i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) { v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00) } else { i -= 6 }
                }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default: throw error("bad escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
    }
}
