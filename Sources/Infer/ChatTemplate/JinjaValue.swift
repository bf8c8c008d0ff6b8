// JinjaValue: what a template computes with, modelled on the Python objects jinja2 hands around — None, bool, int,
// float, str, list, tuple, dict (insertion-ordered), generators (the lazy results of select/map/reverse…),
// namespace(), callables, and jinja2's default Undefined. Python's rules for truth, equality, ordering,
// str() and repr() live here so the interpreter and the filters share one definition.
// Strings are measured and sliced in Unicode code points, as Python's str is.

import Foundation
import Formats  // String.leftPadded

indirect enum JinjaValue: @unchecked Sendable {
    /// jinja2's default Undefined: prints as "", is falsy and iterates as empty; anything else raises `hint`.
    case undefined(hint: String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// markupsafe's Markup (from `|safe`, `|escape`): a string that HTML-escapes plain strings added to it.
    case markup(String)
    case list([JinjaValue])
    case tuple([JinjaValue])
    case dict(JinjaDict)
    /// A Python generator/iterator: iterable, always truthy, no len(), not printable.
    case generator([JinjaValue])
    case namespace(TemplateNamespace)
    case function(TemplateFunction)

    static func undefinedName(_ name: String) -> JinjaValue { .undefined(hint: "'\(name)' is undefined") }
}

/// A Python dict: insertion-ordered, keyed by any hashable value (strings, numbers, None, tuples); `1`,
/// `1.0` and `True` are one key, as in Python.
struct JinjaDict {
    private(set) var pairs: [(JinjaValue, JinjaValue)] = []
    private var index: [DictKey: Int] = [:]

    init() {}
    init(_ pairs: [(String, JinjaValue)]) { for (k, v) in pairs { self[k] = v } }
    init(keyed pairs: [(JinjaValue, JinjaValue)]) throws {
        for (k, v) in pairs {
            guard k.dictKey != nil else { throw TemplateError("unhashable type: '\(k.typeName)'") }
            self[k] = v
        }
    }

    subscript(key: String) -> JinjaValue? {
        get { self[JinjaValue.string(key)] }
        set { self[JinjaValue.string(key)] = newValue }
    }

    /// Lookup by any value (nil for a missing or unhashable key). Setting keeps a key's first position;
    /// setting nil does nothing (templates cannot delete keys).
    subscript(key: JinjaValue) -> JinjaValue? {
        get { key.dictKey.flatMap { index[$0] }.map { pairs[$0].1 } }
        set {
            guard let k = key.dictKey, let newValue else { return }
            if let i = index[k] { pairs[i].1 = newValue } else { index[k] = pairs.count; pairs.append((key, newValue)) }
        }
    }

    var count: Int { pairs.count }
    var keys: [JinjaValue] { pairs.map(\.0) }
    var values: [JinjaValue] { pairs.map(\.1) }
}

/// A dict key as Python hashes it: bool and integral floats fold into int.
enum DictKey: Hashable {
    case string(String)
    case int(Int)
    case double(Double)
    case none
    case tuple([DictKey])
}

extension JinjaValue {
    /// The key this value makes in a dict, or nil if it is unhashable (list, dict, …).
    var dictKey: DictKey? {
        switch self {
        case let .string(s), let .markup(s): .string(s)
        case let .bool(b): .int(b ? 1 : 0)
        case let .int(i): .int(i)
        case let .double(d): d == d.rounded() && abs(d) < 9.2e18 ? .int(Int(d)) : .double(d)
        case .none: DictKey.none
        case let .tuple(items):
            items.allSatisfy { $0.dictKey != nil } ? .tuple(items.map { $0.dictKey! }) : nil
        default: nil
        }
    }
}

/// `namespace(...)`: the one mutable object templates get (`{% set ns.x = … %}`).
final class TemplateNamespace {
    var attributes: JinjaDict
    init(_ attributes: JinjaDict) { self.attributes = attributes }
}

/// A callable: a global (`range`, `raise_exception` …), a bound method (`s.strip`), a macro, `loop.cycle`.
final class TemplateFunction {
    let name: String
    let body: (TemplateInterpreter, [JinjaValue], [(String, JinjaValue)], TemplatePosition?) throws -> JinjaValue
    init(_ name: String, _ body: @escaping (TemplateInterpreter, [JinjaValue], [(String, JinjaValue)], TemplatePosition?) throws -> JinjaValue) {
        self.name = name
        self.body = body
    }
}

extension JinjaValue {
    /// Python's type name, for error messages (`'dict object' has no attribute 'x'`).
    var typeName: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .markup: "Markup"
        case .list: "list"
        case .tuple: "tuple"
        case .dict: "dict"
        case .generator: "generator"
        case .namespace: "Namespace"
        case .function: "function"
        }
    }

    /// Markup as the plain string it also is (everywhere but `+`, printing and the escape filters).
    var demoted: JinjaValue {
        if case let .markup(s) = self { return .string(s) }
        return self
    }

    var isUndefined: Bool { if case .undefined = self { return true }; return false }

    /// Python truthiness (Undefined is falsy; a generator is always truthy).
    var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case let .bool(b): b
        case let .int(i): i != 0
        case let .double(d): d != 0
        case let .string(s), let .markup(s): !s.isEmpty
        case let .list(a), let .tuple(a): !a.isEmpty
        case let .dict(d): d.count > 0
        case .generator, .namespace, .function: true
        }
    }

    /// A number as Python sees it (bool is an int), or nil.
    var number: Double? {
        switch self {
        case let .bool(b): b ? 1 : 0
        case let .int(i): Double(i)
        case let .double(d): d
        default: nil
        }
    }

    var integer: Int? {
        switch self {
        case let .bool(b): b ? 1 : 0
        case let .int(i): i
        default: nil
        }
    }
}

// MARK: - equality and ordering

func pythonEquals(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
    switch (a.demoted, b.demoted) {
    case (.undefined, .undefined), (.none, .none): return true
    case let (.string(x), .string(y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
    case let (.list(x), .list(y)), let (.tuple(x), .tuple(y)):
        return x.count == y.count && zip(x, y).allSatisfy { pythonEquals($0, $1) }
    case let (.dict(x), .dict(y)):
        return x.count == y.count && x.pairs.allSatisfy { k, v in y[k].map { pythonEquals(v, $0) } ?? false }
    case let (.namespace(x), .namespace(y)): return x === y
    case let (.function(x), .function(y)): return x === y
    default:
        if let i = a.integer, let j = b.integer { return i == j }
        if let x = a.number, let y = b.number { return x == y }
        return false
    }
}

/// Python's `<` for the types that define it; nil when Python would raise TypeError.
func pythonLess(_ a: JinjaValue, _ b: JinjaValue) -> Bool? {
    switch (a.demoted, b.demoted) {
    case let (.string(x), .string(y)): return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
    case let (.list(x), .list(y)), let (.tuple(x), .tuple(y)):
        for (p, q) in zip(x, y) where !pythonEquals(p, q) { return pythonLess(p, q) }
        return x.count < y.count
    default:
        if let i = a.integer, let j = b.integer { return i < j }
        if let x = a.number, let y = b.number { return x < y }
        return nil
    }
}

// MARK: - str() and repr()

extension JinjaValue {
    /// Python's `str()` of the value — what `{{ }}`, `~`, `join` and `|string` produce (Undefined → "").
    func pythonString() throws -> String {
        switch self {
        case .undefined: return ""
        case let .string(s), let .markup(s): return s
        case .generator: throw TemplateError("cannot print a generator; add '| list'")
        case .function(let f): throw TemplateError("cannot print the function '\(f.name)'")
        default: return pythonRepr()
        }
    }

    /// Python's `repr()` (lists and dicts print their items this way).
    func pythonRepr() -> String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .double(d): return pythonFloatRepr(d)
        case let .string(s): return pythonStringRepr(s)
        case let .markup(s): return "Markup(\(pythonStringRepr(s)))"
        case let .list(a): return "[" + a.map { $0.pythonRepr() }.joined(separator: ", ") + "]"
        case let .tuple(a):
            return a.count == 1 ? "(\(a[0].pythonRepr()),)" : "(" + a.map { $0.pythonRepr() }.joined(separator: ", ") + ")"
        case let .dict(d):
            return "{" + d.pairs.map { "\($0.0.pythonRepr()): \($0.1.pythonRepr())" }.joined(separator: ", ") + "}"
        case .generator: return "<generator object>"
        case let .namespace(n):
            return "<Namespace {" + n.attributes.pairs.map { "\($0.0.pythonRepr()): \($0.1.pythonRepr())" }
                .joined(separator: ", ") + "}>"
        case let .function(f): return "<function \(f.name)>"
        }
    }
}

func pythonStringRepr(_ s: String) -> String {
    let quote: Unicode.Scalar = s.unicodeScalars.contains("'") && !s.unicodeScalars.contains("\"") ? "\"" : "'"
    var out = String.UnicodeScalarView([quote])
    for u in s.unicodeScalars {
        switch u {
        case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
        case "\n": out.append(contentsOf: "\\n".unicodeScalars)
        case "\r": out.append(contentsOf: "\\r".unicodeScalars)
        case "\t": out.append(contentsOf: "\\t".unicodeScalars)
        case quote: out.append("\\"); out.append(u)
        default:
            if u.value < 0x20 || (0x7F...0xA0).contains(u.value) {
                out.append(contentsOf: ("\\x" + String(u.value, radix: 16).leftPadded(2)).unicodeScalars)
            } else {
                out.append(u)
            }
        }
    }
    out.append(quote)
    return String(out)
}

/// Python's `repr(float)`: shortest round-trip digits, positional for exponents -4…15, else `1e+16` style.
func pythonFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
    // Swift's description has the same shortest digits; re-lay them out by Python's rules.
    var text = "\(abs(d))"
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exponent = Int(text[text.index(after: e)...]) ?? 0
        text = String(text[..<e])
    }
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let whole = String(parts[0]), fraction = parts.count > 1 ? String(parts[1]) : ""
    var digits = Array(whole + fraction)
    var point = whole.count + exponent  // digits[0..<point] are before the decimal point
    while digits.count > 1, digits.first == "0" { digits.removeFirst(); point -= 1 }
    while digits.count > 1, digits.last == "0" { digits.removeLast() }
    let sci = point - 1
    var out = d < 0 ? "-" : ""
    if sci < -4 || sci >= 16 {
        out += String(digits[0])
        if digits.count > 1 { out += "." + String(digits[1...]) }
        out += "e" + (sci < 0 ? "-" : "+") + String(abs(sci)).leftPadded(2)
    } else if point <= 0 {
        out += "0." + String(repeating: "0", count: -point) + String(digits)
    } else if point >= digits.count {
        out += String(digits) + String(repeating: "0", count: point - digits.count) + ".0"
    } else {
        out += String(digits[..<point]) + "." + String(digits[point...])
    }
    return out
}
