// JSONSchema: Ollama's `format` — "json" or a JSON Schema object — compiled into a JSONGrammar, the node graph that
// JSONMatcher (JSONConstraint.swift) walks byte by byte. Like llama.cpp's json-schema-to-grammar (which Ollama uses):
// properties come in schema order, required ones always, optional ones may be skipped; an object with `properties`
// is closed (no other keys, whether or not `additionalProperties: false` says so); oneOf is taken as anyOf. The
// grammar may generate a subset of what a schema allows (never more): every complete output validates.
//
// Supported: type (a name or a list: nullable via ["string", "null"]), properties, required, additionalProperties
// (false, true or a schema; a schema without `properties` gives a map), items, minItems, maxItems, enum, const,
// anyOf / oneOf whose alternatives start differently (by JSON kind, or literals), allOf of one schema, minLength,
// maxLength, $ref into #/$defs or #/definitions (recursion allowed), and annotations (title, description, default,
// examples, format, …). Any other keyword is refused with a 400 naming it and where it is.
import Formats

/// A compiled schema: nodes by index, `root` first to match.
public final class JSONGrammar: Sendable {
    /// Quoted keys (canonical JSON bytes, e.g. `"name"`), their value nodes, and which are required, in order.
    struct Object: Sendable {
        let keys: [[UInt8]]
        let values: [Int]
        let required: [Bool]
    }

    /// A byte trie over the canonical serializations of literal values (enum, const, true/false/null).
    struct LiteralTrie: Sendable {
        var children: [[(byte: UInt8, node: Int32)]] = [[]]
        var terminal: [Bool] = [false]

        mutating func insert(_ bytes: [UInt8]) {
            var n = 0
            for b in bytes {
                if let c = children[n].first(where: { $0.byte == b }) { n = Int(c.node); continue }
                children.append([])
                terminal.append(false)
                children[n].append((b, Int32(children.count - 1)))
                n = children.count - 1
            }
            terminal[n] = true
        }

        func child(_ n: Int, _ b: UInt8) -> Int? {
            for c in children[n] where c.byte == b { return Int(c.node) }
            return nil
        }
    }

    /// The first byte of a value decides its JSON kind.
    enum Kind: Int, CaseIterable, Sendable {
        case string, number, object, array, trueLiteral, falseLiteral, null
        init?(first b: UInt8) {
            switch b {
            case UInt8(ascii: "\""): self = .string
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): self = .number
            case UInt8(ascii: "{"): self = .object
            case UInt8(ascii: "["): self = .array
            case UInt8(ascii: "t"): self = .trueLiteral
            case UInt8(ascii: "f"): self = .falseLiteral
            case UInt8(ascii: "n"): self = .null
            default: return nil
            }
        }
    }

    enum Node: Sendable {
        case object(Object)
        /// Any keys (JSON strings), each value matching `value`.
        case map(value: Int)
        case array(items: Int, min: Int, max: Int?)
        case string(min: Int, max: Int?)
        case integer
        case number
        case literals(LiteralTrie)
        /// Alternatives by the kind of their first byte (Kind.rawValue → node, -1: none).
        case union([Int])
        /// The node of a $ref (filled once the target is compiled, so recursion works).
        case alias(Int)
    }

    let nodes: [Node]
    let root: Int
    /// The canonical text of the format (the key of the mask cache).
    public let key: String

    init(nodes: [Node], root: Int, key: String) {
        self.nodes = nodes
        self.root = root
        self.key = key
    }

    /// The node `i` stands for, through aliases.
    func resolve(_ i: Int) -> Node {
        var i = i
        while case let .alias(t) = nodes[i] { i = t }
        return nodes[i]
    }

    /// Ollama's format "json": one JSON object (llama.cpp's json grammar: root ::= object).
    public static let jsonObject: JSONGrammar = {
        var c = SchemaCompiler(root: .object([]))
        let any = c.anyValue()
        c.nodes.append(.map(value: any))
        return JSONGrammar(nodes: c.nodes, root: c.nodes.count - 1, key: "json")
    }()

    /// Compiles a JSON Schema; throws a 400 naming the first unsupported keyword or bad value.
    public static func compile(schema: JSON) throws(APIError) -> JSONGrammar {
        var c = SchemaCompiler(root: schema)
        do {
            let root = try c.compile(schema, at: "#")
            try c.finishUnions()
            return JSONGrammar(nodes: c.nodes, root: root, key: schema.serialized())
        } catch let e as SchemaError {
            throw .badRequest("invalid format: JSON schema: \(e.message)")
        } catch {
            throw .badRequest("invalid format: JSON schema: \(error)")
        }
    }
}

struct SchemaError: Error {
    let message: String
}

/// Turns schema JSON into JSONGrammar nodes.
struct SchemaCompiler {
    let root: JSON
    var nodes: [JSONGrammar.Node] = []
    private var refs: [String: Int] = [:]
    private var anyIndex: Int?
    /// Unions whose tables are made once every node exists (a $ref may still be compiling when its union is met).
    private var unions: [(node: Int, alternatives: [Int], path: String)] = []
    private var unionAlternatives: [Int: [Int]] = [:]
    /// Properties an object node can have (JSONMatcher keeps the candidate keys in a 64-bit mask).
    static let maxProperties = 64

    init(root: JSON) { self.root = root }

    /// Keywords that only describe: accepted and ignored (`format` is an annotation unless a validator opts in).
    static let annotations: Set<String> = ["title", "description", "$schema", "$id", "$comment", "default", "examples",
                                           "format", "readOnly", "writeOnly", "deprecated", "$defs", "definitions", "discriminator"]
    static let supported: Set<String> = ["type", "properties", "required", "additionalProperties", "items", "minItems",
                                         "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "minLength", "maxLength",
                                         "$ref", "uniqueItems"]

    mutating func add(_ n: JSONGrammar.Node) -> Int {
        nodes.append(n)
        return nodes.count - 1
    }

    /// Any JSON value (schema `true` or `{}`): object, array, string, number, true, false or null.
    mutating func anyValue() -> Int {
        if let a = anyIndex { return a }
        let me = add(.alias(0))  // patched below; children refer to it
        anyIndex = me
        let object = add(.map(value: me))
        let array = add(.array(items: me, min: 0, max: nil))
        let string = add(.string(min: 0, max: nil))
        let number = add(.number)
        var lits = JSONGrammar.LiteralTrie()
        for l in ["true", "false", "null"] { lits.insert(Array(l.utf8)) }
        let literals = add(.literals(lits))
        var table = [Int](repeating: -1, count: JSONGrammar.Kind.allCases.count)
        table[JSONGrammar.Kind.object.rawValue] = object
        table[JSONGrammar.Kind.array.rawValue] = array
        table[JSONGrammar.Kind.string.rawValue] = string
        table[JSONGrammar.Kind.number.rawValue] = number
        for k in [JSONGrammar.Kind.trueLiteral, .falseLiteral, .null] { table[k.rawValue] = literals }
        nodes[me] = .union(table)
        return me
    }

    mutating func compile(_ s: JSON, at path: String) throws -> Int {
        switch s {
        case .bool(true): return anyValue()
        case .bool(false): throw SchemaError(message: "the schema at \(path) is false (it matches nothing)")
        case .object: break
        default: throw SchemaError(message: "the schema at \(path) must be an object or a boolean, not \(RequestJSON.kind(s))")
        }
        guard case let .object(fields) = s else { preconditionFailure() }
        for (k, _) in fields where !SchemaCompiler.supported.contains(k) && !SchemaCompiler.annotations.contains(k) {
            throw SchemaError(message: "unsupported keyword \"\(k)\" at \(path) (supported: type, properties, required, additionalProperties, items, minItems, maxItems, enum, const, anyOf, oneOf, allOf of one schema, minLength, maxLength, $ref)")
        }
        if let u = s["uniqueItems"], u != .bool(false) {
            throw SchemaError(message: "unsupported keyword \"uniqueItems\": true at \(path)")
        }

        if let r = s["$ref"] {
            guard case let .string(ref) = r else { throw SchemaError(message: "$ref at \(path) must be a string") }
            let constraining = fields.filter { $0.0 != "$ref" && !SchemaCompiler.annotations.contains($0.0) }
            guard constraining.isEmpty else {
                throw SchemaError(message: "keywords beside $ref at \(path) are not supported (\(constraining.map(\.0).joined(separator: ", ")))")
            }
            return try reference(ref, at: path)
        }
        if let all = s["allOf"] {
            guard case let .array(a) = all, a.count == 1 else { throw SchemaError(message: "allOf at \(path) is supported with exactly one schema") }
            guard fields.allSatisfy({ $0.0 == "allOf" || SchemaCompiler.annotations.contains($0.0) }) else {
                throw SchemaError(message: "keywords beside allOf at \(path) are not supported")
            }
            return try compile(a[0], at: path + "/allOf/0")
        }
        if let c = s["const"] { return try literals([c], filteredBy: s, at: path) }
        if let e = s["enum"] {
            guard case let .array(values) = e, !values.isEmpty else { throw SchemaError(message: "enum at \(path) must be a non-empty array") }
            return try literals(values, filteredBy: s, at: path)
        }
        let alternatives = s["anyOf"] ?? s["oneOf"]
        if let alternatives {
            guard s["anyOf"] == nil || s["oneOf"] == nil else { throw SchemaError(message: "anyOf and oneOf together at \(path) are not supported") }
            let word = s["anyOf"] != nil ? "anyOf" : "oneOf"
            guard case let .array(a) = alternatives, !a.isEmpty else { throw SchemaError(message: "\(word) at \(path) must be a non-empty array") }
            guard s["type"] == nil, s["properties"] == nil, s["items"] == nil else {
                throw SchemaError(message: "type, properties or items beside \(word) at \(path) are not supported")
            }
            var alts: [Int] = []
            for (i, alt) in a.enumerated() { alts.append(try compile(alt, at: "\(path)/\(word)/\(i)")) }
            return try union(alts, at: path)
        }

        var types: [String] = []
        switch s["type"] {
        case nil:
            if s["properties"] != nil || s["additionalProperties"] != nil || s["required"] != nil { types = ["object"] }
            else if s["items"] != nil || s["minItems"] != nil || s["maxItems"] != nil { types = ["array"] }
            else if s["minLength"] != nil || s["maxLength"] != nil { types = ["string"] }
            else { return anyValue() }
        case let .string(t)?: types = [t]
        case let .array(a)?:
            for t in a {
                guard case let .string(name) = t else { throw SchemaError(message: "type at \(path) must be a string or an array of strings") }
                types.append(name)
            }
            guard !types.isEmpty else { throw SchemaError(message: "type at \(path) is an empty array") }
        default: throw SchemaError(message: "type at \(path) must be a string or an array of strings")
        }
        var alts: [Int] = []
        for t in types {
            switch t {
            case "object": alts.append(try object(s, at: path))
            case "array": alts.append(try array(s, at: path))
            case "string":
                let (mn, mx) = try bounds(s, "minLength", "maxLength", at: path)
                alts.append(add(.string(min: mn, max: mx)))
            case "integer": alts.append(add(.integer))
            case "number": alts.append(add(.number))
            case "boolean": alts.append(try literals([.bool(true), .bool(false)], filteredBy: nil, at: path))
            case "null": alts.append(try literals([.null], filteredBy: nil, at: path))
            default: throw SchemaError(message: "unknown type \"\(t)\" at \(path)")
            }
        }
        return alts.count == 1 ? alts[0] : try union(alts, at: path)
    }

    /// A non-negative integer keyword pair (minLength/maxLength, minItems/maxItems).
    func bounds(_ s: JSON, _ minKey: String, _ maxKey: String, at path: String) throws -> (Int, Int?) {
        func read(_ k: String) throws -> Int? {
            guard let v = s[k] else { return nil }
            switch v {
            case let .int(i) where i >= 0: return i
            case let .double(d) where d >= 0 && d == d.rounded() && d < 1e9: return Int(d)
            default: throw SchemaError(message: "\(k) at \(path) must be a non-negative integer")
            }
        }
        let mn = try read(minKey) ?? 0, mx = try read(maxKey)
        if let mx, mx < mn { throw SchemaError(message: "\(maxKey) \(mx) is less than \(minKey) \(mn) at \(path)") }
        return (mn, mx)
    }

    mutating func object(_ s: JSON, at path: String) throws -> Int {
        var names: [String] = []
        if let r = s["required"] {
            guard case let .array(a) = r else { throw SchemaError(message: "required at \(path) must be an array of strings") }
            for n in a {
                guard case let .string(name) = n else { throw SchemaError(message: "required at \(path) must be an array of strings") }
                names.append(name)
            }
        }
        let additional = s["additionalProperties"]
        if let additional {
            switch additional {
            case .bool, .object: break
            default: throw SchemaError(message: "additionalProperties at \(path) must be a boolean or a schema")
            }
        }
        guard let p = s["properties"] else {
            // No declared properties: a map whose values match additionalProperties (absent or true: anything).
            guard names.isEmpty else { throw SchemaError(message: "required names properties that \(path) does not declare (\(names.joined(separator: ", ")))") }
            switch additional {
            case .bool(false)?: return add(.object(JSONGrammar.Object(keys: [], values: [], required: [])))
            case let .object(o)?: return add(.map(value: try compile(.object(o), at: path + "/additionalProperties")))
            default: return add(.map(value: anyValue()))
            }
        }
        guard case let .object(props) = p else { throw SchemaError(message: "properties at \(path) must be an object") }
        guard props.count <= SchemaCompiler.maxProperties else {
            throw SchemaError(message: "\(path) has \(props.count) properties; at most \(SchemaCompiler.maxProperties) are supported")
        }
        var seen = Set<String>()
        for (k, _) in props where !seen.insert(k).inserted { throw SchemaError(message: "property \"\(k)\" appears twice at \(path)") }
        for n in names where !seen.contains(n) {
            throw SchemaError(message: "required property \"\(n)\" is not in properties at \(path)")
        }
        let me = add(.alias(0))
        var keys: [[UInt8]] = [], values: [Int] = [], required: [Bool] = []
        for (k, v) in props {
            keys.append(Array(JSON.string(k).serialized().utf8))
            values.append(try compile(v, at: "\(path)/properties/\(k)"))
            required.append(names.contains(k))
        }
        nodes[me] = .object(JSONGrammar.Object(keys: keys, values: values, required: required))
        return me
    }

    mutating func array(_ s: JSON, at path: String) throws -> Int {
        let (mn, mx) = try bounds(s, "minItems", "maxItems", at: path)
        let items: Int
        switch s["items"] {
        case nil: items = anyValue()
        case .array?: throw SchemaError(message: "items at \(path) as an array (tuple validation) is not supported")
        case let i?: items = try compile(i, at: path + "/items")
        }
        return add(.array(items: items, min: mn, max: mx))
    }

    /// enum / const values (those of the schema's `type`, if it has one) as a literal trie.
    mutating func literals(_ values: [JSON], filteredBy s: JSON?, at path: String) throws -> Int {
        var allowed: Set<String>? = nil
        if let s, let t = s["type"] {
            switch t {
            case let .string(n): allowed = [n]
            case let .array(a): allowed = Set(a.compactMap { if case let .string(n) = $0 { n } else { nil } })
            default: throw SchemaError(message: "type at \(path) must be a string or an array of strings")
            }
        }
        var trie = JSONGrammar.LiteralTrie()
        var count = 0
        for v in values {
            if let allowed, !allowed.contains(where: { SchemaCompiler.value(v, isOfType: $0) }) { continue }
            trie.insert(Array(v.serialized().utf8))
            count += 1
        }
        guard count > 0 else { throw SchemaError(message: "no enum/const value at \(path) has the schema's type") }
        return add(.literals(trie))
    }

    static func value(_ v: JSON, isOfType t: String) -> Bool {
        switch (t, v) {
        case ("string", .string), ("boolean", .bool), ("null", .null), ("object", .object), ("array", .array),
             ("number", .int), ("number", .double), ("integer", .int): return true
        case let ("integer", .double(d)): return d == d.rounded()
        default: return false
        }
    }

    mutating func reference(_ ref: String, at path: String) throws -> Int {
        if let i = refs[ref] { return i }
        var target = root
        if ref != "#" {
            guard ref.hasPrefix("#/") else { throw SchemaError(message: "$ref \"\(ref)\" at \(path): only local references (#/$defs/…) are supported") }
            for part in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
                let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                guard let next = target[key] else { throw SchemaError(message: "$ref \"\(ref)\" at \(path) points to nothing") }
                target = next
            }
        }
        let me = add(.alias(0))
        refs[ref] = me
        let t = try compile(target, at: ref)
        guard t != me else { throw SchemaError(message: "$ref \"\(ref)\" refers to itself") }
        nodes[me] = .alias(t)
        return me
    }

    /// The alternatives of anyOf / oneOf / a type list, by the kind of their first byte. Alternatives of the same
    /// kind merge when one contains the others (integer ⊂ number, literals ⊂ their type, literal sets join);
    /// otherwise the schema is refused, since the matcher decides at the first byte.
    mutating func union(_ alts: [Int], at path: String) throws -> Int {
        let me = add(.union([]))
        unions.append((me, alts, path))
        unionAlternatives[me] = alts
        return me
    }

    /// Makes the tables of the unions, innermost first.
    mutating func finishUnions() throws {
        for (me, alts, path) in unions {
            var table = [Int](repeating: -1, count: JSONGrammar.Kind.allCases.count)
            for a in alts {
                for k in kinds(a) {
                    let old = table[k.rawValue]
                    table[k.rawValue] = old < 0 ? a : try merge(old, a, kind: k, at: path)
                }
            }
            nodes[me] = .union(table)
            unionAlternatives[me] = nil
        }
        unions = []
    }

    /// The kinds a node's values can start with.
    func kinds(_ i: Int, depth: Int = 0) -> [JSONGrammar.Kind] {
        guard depth < 64 else { return [] }
        if let alts = unionAlternatives[i] {
            let ks = Set(alts.flatMap { kinds($0, depth: depth + 1) })
            return JSONGrammar.Kind.allCases.filter { ks.contains($0) }
        }
        switch nodes[i] {
        case .object, .map: return [.object]
        case .array: return [.array]
        case .string: return [.string]
        case .integer, .number: return [.number]
        case let .literals(t): return JSONGrammar.Kind.allCases.filter { k in t.children[0].contains { JSONGrammar.Kind(first: $0.byte) == k } }
        case let .union(table): return JSONGrammar.Kind.allCases.filter { table[$0.rawValue] >= 0 }
        case let .alias(t): return kinds(t, depth: depth + 1)
        }
    }

    mutating func merge(_ a: Int, _ b: Int, kind: JSONGrammar.Kind, at path: String) throws -> Int {
        func base(_ i: Int) -> (Int, JSONGrammar.Node) {
            var i = i
            while true {
                switch nodes[i] {
                case let .alias(t): i = t
                case let .union(table) where unionAlternatives[i] == nil && table[kind.rawValue] >= 0 && table[kind.rawValue] != i:
                    i = table[kind.rawValue]
                default: return (i, nodes[i])
                }
            }
        }
        let (ia, na) = base(a), (ib, nb) = base(b)
        if ia == ib { return ia }
        switch (na, nb) {
        case (.number, .integer), (.number, .number), (.integer, .integer): return ia
        case (.integer, .number): return ib
        case (.number, .literals), (.string(0, nil), .literals): return ia
        case (.literals, .number), (.literals, .string(0, nil)): return ib
        case let (.literals(x), .literals(y)):
            var t = x
            for bytes in SchemaCompiler.strings(y) { t.insert(bytes) }
            return add(.literals(t))
        default:
            throw SchemaError(message: "anyOf/oneOf at \(path) has two alternatives that both start a \(kind) in different ways; alternatives must differ in JSON type (or be enum/const values)")
        }
    }

    /// Every literal of a trie.
    static func strings(_ t: JSONGrammar.LiteralTrie) -> [[UInt8]] {
        var out: [[UInt8]] = []
        func walk(_ n: Int, _ prefix: [UInt8]) {
            if t.terminal[n] { out.append(prefix) }
            for c in t.children[n] { walk(Int(c.node), prefix + [c.byte]) }
        }
        walk(0, [])
        return out
    }
}
