// GoValue: the values a Go text/template sees, as Go's `any` holds them after encoding/json — string, int,
// float64, bool, []any, map[string]any, nil. A map may stand for a Go struct (`record`): then its fields keep
// their declared order, a missing field is an exec error, and the `json` function writes the fields' JSON names
// (dropping `omitempty` ones that are empty), as encoding/json writes Ollama's api.Message or api.Tool.
import Formats

public indirect enum GoValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case float(Double)
    case bool(Bool)
    case list([GoValue])
    case map(GoMap)
    case null
}

/// A string-keyed map. `keys` is the insertion order (what `json` writes for records and ordered maps); Go's
/// `range` and printing visit `sortedKeys`.
public struct GoMap: Sendable, Equatable {
    public struct Record: Sendable, Equatable {
        /// The Go type name in error texts, e.g. `*api.Message`.
        public var typeName: String
        /// Field name → (JSON name, omitempty).
        public var json: [String: JSONField]
        public init(typeName: String, json: [String: JSONField]) { self.typeName = typeName; self.json = json }
    }
    public struct JSONField: Sendable, Equatable {
        public var name: String
        public var omitEmpty: Bool
        public init(_ name: String, omitEmpty: Bool = false) { self.name = name; self.omitEmpty = omitEmpty }
    }

    public private(set) var keys: [String] = []
    public private(set) var values: [String: GoValue] = [:]
    public var record: Record?
    /// `json` writes the keys in insertion order (Ollama's ordered maps: tool-call arguments, tool properties).
    public var ordered = false

    public init() {}
    public init(_ pairs: [(String, GoValue)], record: Record? = nil) {
        for (k, v) in pairs { self[k] = v }
        self.record = record
    }

    public subscript(key: String) -> GoValue? {
        get { values[key] }
        set {
            if values[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            values[key] = newValue
        }
    }

    public var count: Int { keys.count }
    public var sortedKeys: [String] { keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) } }
}

extension GoValue {
    /// From JSON as Go's encoding/json decodes into `any`, except that integers stay ints (Go would make them
    /// float64; they print the same, and `eq .n 1` then works as a template author expects). Object key order
    /// is kept for `json`.
    public init(json: JSON) {
        switch json {
        case .null: self = .null
        case let .bool(b): self = .bool(b)
        case let .int(i): self = .int(i)
        case let .double(d): self = .float(d)
        case let .string(s): self = .string(s)
        case let .array(a): self = .list(a.map(GoValue.init(json:)))
        case let .object(o): self = .map(GoMap(o.map { ($0.0, GoValue(json: $0.1)) }))
        }
    }

    /// Go's type name of the value as an `any` holds it (for error texts).
    var goType: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .float: "float64"
        case .bool: "bool"
        case .list: "[]interface {}"
        case let .map(m): m.record?.typeName ?? "map[string]interface {}"
        case .null: "<nil>"
        }
    }

    /// Go's truth (text/template isTrue): false, 0, "", empty list or map, nil are false; a struct is true.
    var isTrue: Bool {
        switch self {
        case let .string(s): !s.isEmpty
        case let .int(i): i != 0
        case let .float(f): f != 0
        case let .bool(b): b
        case let .list(l): !l.isEmpty
        case let .map(m): m.record != nil || m.count > 0
        case .null: false
        }
    }
}
