// RequestJSON: request bodies as JSON objects with Go-style type errors, because Ollama's clients (and the people
// reading their logs) know encoding/json's messages: "json: cannot unmarshal number into Go struct field
// GenerateRequest.prompt of type string". Bodies are checked for UTF-8 before parsing; keys keep their order
// (a JSON schema in `format` is passed on as written). Null means "absent", as in Go.
import Formats
import Foundation
import Infer

public struct RequestJSON: Sendable {
    /// The Go struct name used in messages ("GenerateRequest").
    public let type: String
    public let fields: [(String, JSON)]

    public init(type: String, fields: [(String, JSON)]) {
        self.type = type
        self.fields = fields
    }

    /// Parses a request body. Empty → "missing request body"; bad UTF-8, bad JSON or a non-object → 400.
    public static func parse(_ bytes: [UInt8], type: String) throws(APIError) -> RequestJSON {
        guard !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else {
            throw .badRequest("missing request body")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .badRequest("invalid UTF-8 in request body")
        }
        let value: JSON
        do { value = try JSON.parse(text) } catch let e as InferError {
            // TemplateValue.parse reports "chat template: JSON at byte N: …"; keep the useful part.
            let m = e.description.replacingOccurrences(of: "chat template: ", with: "")
            throw .badRequest("invalid JSON: \(m)")
        } catch {
            throw .badRequest("invalid JSON: \(error)")
        }
        guard case let .object(o) = value else {
            throw .badRequest("json: cannot unmarshal \(RequestJSON.kind(value)) into Go value of type api.\(type)")
        }
        return RequestJSON(type: type, fields: o)
    }

    /// The value of `key` (the last one if repeated, as Go does); nil when absent or null.
    public subscript(key: String) -> JSON? {
        guard let v = fields.last(where: { $0.0 == key })?.1 else { return nil }
        if case .null = v { return nil }
        return v
    }

    public func has(_ key: String) -> Bool { self[key] != nil }

    func typeError(_ key: String, _ value: JSON, _ goType: String) -> APIError {
        .badRequest("json: cannot unmarshal \(RequestJSON.kind(value, detail: goType.hasPrefix("int"))) into Go struct field \(type).\(key) of type \(goType)")
    }

    public func string(_ key: String) throws(APIError) -> String? {
        guard let v = self[key] else { return nil }
        guard case let .string(s) = v else { throw typeError(key, v, "string") }
        return s
    }

    public func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = self[key] else { return nil }
        guard case let .bool(b) = v else { throw typeError(key, v, "bool") }
        return b
    }

    public func int(_ key: String) throws(APIError) -> Int? {
        guard let v = self[key] else { return nil }
        switch v {
        case let .int(i): return i
        case let .double(d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: throw typeError(key, v, "int")
        }
    }

    public func double(_ key: String) throws(APIError) -> Double? {
        guard let v = self[key] else { return nil }
        switch v {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: throw typeError(key, v, "float64")
        }
    }

    public func array(_ key: String, of goType: String) throws(APIError) -> [JSON]? {
        guard let v = self[key] else { return nil }
        guard case let .array(a) = v else { throw typeError(key, v, "[]" + goType) }
        return a
    }

    public func ints(_ key: String) throws(APIError) -> [Int]? {
        guard let a = try array(key, of: "int") else { return nil }
        var out: [Int] = []
        for e in a {
            guard case let .int(i) = e else { throw typeError(key, e, "int") }
            out.append(i)
        }
        return out
    }

    public func strings(_ key: String) throws(APIError) -> [String]? {
        guard let a = try array(key, of: "string") else { return nil }
        var out: [String] = []
        for e in a {
            guard case let .string(s) = e else { throw typeError(key, e, "string") }
            out.append(s)
        }
        return out
    }

    /// A nested object, decoded as `type`.
    public func object(_ key: String, type: String) throws(APIError) -> RequestJSON? {
        guard let v = self[key] else { return nil }
        guard case let .object(o) = v else { throw typeError(key, v, type) }
        return RequestJSON(type: type, fields: o)
    }

    /// encoding/json's name for a value's kind in its messages ("number 1.5" for a fraction into an int).
    static func kind(_ v: JSON, detail: Bool = false) -> String {
        switch v {
        case .null: "null"
        case .bool: "bool"
        case .int: "number"
        case let .double(d): detail ? "number \(JSON.format(d))" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSON {
    /// An object's field (nil if not an object or absent).
    public subscript(key: String) -> JSON? {
        guard case let .object(o) = self else { return nil }
        return o.last(where: { $0.0 == key })?.1
    }

    /// Compact text plus a newline: one NDJSON line.
    public var line: String { serialized() + "\n" }
}
