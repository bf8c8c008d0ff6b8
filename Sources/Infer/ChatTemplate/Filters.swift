// Filters and tests: jinja2's builtin filters that chat templates use (trim, length, tojson as Hugging Face
// overrides it, selectattr/map, join, default, indent …) and its tests (defined, none, string, mapping,
// iterable, divisibleby …), each with jinja2 3.1's behaviour on Undefined and on generators.
// An unknown filter or test is an error at its position.

import Formats
import Foundation

extension TemplateInterpreter {
    func applyFilter(_ name: String, _ value: JinjaValue, _ arguments: CallArguments, _ p: TemplatePosition, _ scope: TemplateScope) throws -> JinjaValue {
        let (args, kwargs) = try evaluateArguments(arguments, scope)
        return try located(p) { try filter(name, value, args, kwargs) }
    }

    func filter(_ name: String, _ value: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws -> JinjaValue {
        if case .markup = value, ["string", "safe", "escape", "e"].contains(name) { return value }
        let value = value.demoted
        func bind(_ names: [String]) throws -> [JinjaValue?] { try bindArguments(name, names, args, kwargs) }
        if name == "int" || name == "float", case let .undefined(hint) = value {
            throw TemplateError(hint)  // Undefined's __int__/__float__ raise, and jinja2's filters let that through
        }
        if ["selectattr", "rejectattr", "select", "reject", "map"].contains(name), !value.truthy {
            return .generator([])  // jinja2 walks these only `if value:` (None gives nothing, not an error)
        }
        func str(_ v: JinjaValue) throws -> String { try v.pythonString() }
        switch name {
        case "trim":
            let a = try bind(["chars"])
            return .string(pythonStrip(try str(value), try a[0].given.map(str)))
        case "length", "count":
            if case .generator = value { throw TemplateError("object of type 'generator' has no len()") }
            guard let n = try length(value) else { throw TemplateError("object of type '\(value.typeName)' has no len()") }
            return .int(n)
        case "tojson":
            let a = try bind(["ensure_ascii", "indent", "separators", "sort_keys"])
            var indent: String?
            switch a[1].given {
            case nil: indent = nil
            case let .string(s)?: indent = s
            case let v?:
                guard let n = v.integer else { throw TemplateError("tojson indent must be an int or a string") }
                indent = String(repeating: " ", count: max(n, 0))
            }
            var separators = indent == nil ? (", ", ": ") : (",", ": ")
            if let s = a[2].given {
                let parts = try iterate(s)
                guard parts.count == 2, case let .string(item) = parts[0], case let .string(key) = parts[1] else {
                    throw TemplateError("tojson separators must be two strings")
                }
                separators = (item, key)
            }
            var out = ""
            try writePythonJSON(value, into: &out, ensureASCII: a[0]?.truthy ?? false, indent: indent,
                          separators: separators, sortKeys: a[3]?.truthy ?? false, level: 0)
            return .string(out)
        case "string": return .string(try str(value))
        case "safe", "escape", "e", "forceescape":
            if name == "safe" { return .markup(try str(value)) }
            if case .undefined = value { return .markup("") }
            return .markup(htmlEscape(try str(value)))
        case "lower": return .string(try str(value).lowercased())
        case "upper": return .string(try str(value).uppercased())
        case "capitalize": return .string(pythonCapitalize(try str(value)))
        case "title":
            // jinja2's own title: words start after '-', whitespace, '(', '{', '[', '<'.
            var out = "", word = String.UnicodeScalarView()
            let separators: Set<Unicode.Scalar> = ["-", "(", "{", "[", "<"]
            func flush() {
                guard let first = word.first else { return }
                var rest = String.UnicodeScalarView()
                rest.append(contentsOf: word.dropFirst())
                out += String(first).uppercased() + String(rest).lowercased()
                word = String.UnicodeScalarView()
            }
            for u in try str(value).unicodeScalars {
                if separators.contains(u) || isPythonSpace(u) { flush(); out.unicodeScalars.append(u) } else { word.append(u) }
            }
            flush()
            return .string(out)
        case "replace":
            let a = try bind(["old", "new", "count"])
            guard let old = a[0], let new = a[1] else { throw TemplateError("replace needs old and new") }
            return .string(pythonReplace(try str(value), try str(old), try str(new), a[2].given?.integer ?? -1))
        case "join":
            let a = try bind(["d", "attribute"])
            var items = try iterate(value)
            if let attr = a[1].given { items = try items.map { try attributePath($0, attr) } }
            return .string(try items.map(str).joined(separator: try a[0].map(str) ?? ""))
        case "first":
            return try iterate(value).first ?? .undefined(hint: "No first item, sequence was empty.")
        case "last":
            if case .generator = value { throw TemplateError("'generator' object is not reversible") }
            return try iterate(value).last ?? .undefined(hint: "No last item, sequence was empty.")
        case "list": return .list(try iterate(value))
        case "default", "d":
            let a = try bind(["default_value", "boolean"])
            let useDefault = value.isUndefined || (a[1]?.truthy ?? false) && !value.truthy
            return useDefault ? (a[0] ?? .string("")) : value
        case "items":
            switch value {
            case .undefined: return .generator([])
            case let .dict(d): return .generator(d.pairs.map { .tuple([$0.0, $0.1]) })
            default: throw TemplateError("Can only get item pairs from a mapping.")
            }
        case "selectattr", "rejectattr":
            guard let attr = args.first else { throw TemplateError("\(name) needs an attribute name") }
            let test = args.count > 1 ? try str(args[1]) : nil
            let testArgs = Array(args.dropFirst(2))
            return .generator(try iterate(value).filter { item in
                let v = try attributePath(item, attr)
                let ok = try test.map { try applyTest($0, v, testArgs, []) } ?? v.truthy
                return ok == (name == "selectattr")
            })
        case "select", "reject":
            let test = try args.first.map(str)
            let testArgs = Array(args.dropFirst())
            return .generator(try iterate(value).filter { item in
                let ok = try test.map { try applyTest($0, item, testArgs, []) } ?? item.truthy
                return ok == (name == "select")
            })
        case "map":
            let items = try iterate(value)
            if let attr = kwargs.first(where: { $0.0 == "attribute" })?.1 {
                let def = kwargs.first(where: { $0.0 == "default" })?.1
                return .generator(try items.map { item in
                    let v = try attributePath(item, attr)
                    if v.isUndefined, let def { return def }
                    return v
                })
            }
            guard let f = args.first else { throw TemplateError("map requires a filter argument") }
            let filterName = try str(f)
            let rest = Array(args.dropFirst())
            return .generator(try items.map { try filter(filterName, $0, rest, kwargs) })
        case "reverse":
            switch value {
            case let .string(s): return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed())))
            case .list, .tuple, .dict, .undefined: return .generator(try iterate(value).reversed())
            case .generator: return .list(try iterate(value).reversed())
            default: throw TemplateError("argument must be iterable")
            }
        case "unique":
            let a = try bind(["case_sensitive", "attribute"])
            var seen: [JinjaValue] = []
            var out: [JinjaValue] = []
            for item in try iterate(value) {
                var key = try a[1].given.map { try attributePath(item, $0) } ?? item
                if !(a[0]?.truthy ?? false), case let .string(s) = key { key = .string(s.lowercased()) }
                guard key.dictKey != nil else { throw TemplateError("unhashable type: '\(key.typeName)'") }
                if !seen.contains(where: { pythonEquals($0, key) }) { seen.append(key); out.append(item) }
            }
            return .generator(out)
        case "sort":
            let a = try bind(["reverse", "case_sensitive", "attribute"])
            let items = try iterate(value)
            let keys = try items.map { item -> JinjaValue in
                var key = try a[2].given.map { try attributePath(item, $0) } ?? item
                if !(a[1]?.truthy ?? false), case let .string(s) = key { key = .string(s.lowercased()) }
                return key
            }
            return .list(try stableSortedIndices(keys, descending: a[0]?.truthy ?? false).map { items[$0] })
        case "dictsort":
            guard case let .dict(d) = value else { throw TemplateError("You can only sort by either 'key' or 'value'") }
            let a = try bind(["case_sensitive", "by", "reverse"])
            let byValue = try a[1].map(str) == "value"
            let keys = d.pairs.map { p -> JinjaValue in
                let k = byValue ? p.1 : p.0
                if !(a[0]?.truthy ?? false), case let .string(s) = k { return .string(s.lowercased()) }
                return k
            }
            return .list(try stableSortedIndices(keys, descending: a[2]?.truthy ?? false).map { .tuple([d.pairs[$0].0, d.pairs[$0].1]) })
        case "int":
            let a = try bind(["default", "base"])
            let def = a[0] ?? .int(0)
            switch value {
            case let .int(i): return .int(i)
            case let .bool(b): return .int(b ? 1 : 0)
            case let .double(d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : def
            case let .string(s):
                let t = pythonStrip(s, nil).replacingOccurrences(of: "_", with: "")
                if let i = Int(t, radix: a[1]?.integer ?? 10) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
                return def
            default: return def
            }
        case "float":
            let a = try bind(["default"])
            switch value {
            case .int, .bool, .double: return .double(value.number!)
            case let .string(s): return Double(pythonStrip(s, nil)).map { .double($0) } ?? (a[0] ?? .double(0))
            default: return a[0] ?? .double(0)
            }
        case "abs":
            switch value {
            case let .int(i): return .int(abs(i))
            case let .bool(b): return .int(b ? 1 : 0)
            case let .double(d): return .double(abs(d))
            case let .undefined(hint): throw TemplateError(hint)
            default: throw TemplateError("bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            let a = try bind(["precision", "method"])
            let precision = a[0]?.integer ?? 0
            let method = try a[1].map(str) ?? "common"
            guard let x = value.number else { throw TemplateError("round needs a number, not \(value.typeName)") }
            let scale = pow(10.0, Double(precision))
            let rule: FloatingPointRoundingRule = switch method {
            case "common": .toNearestOrEven
            case "ceil": .up
            case "floor": .down
            default: throw TemplateError("method must be common, ceil or floor")
            }
            if method == "common", let i = value.integer { return .int(i) }  // Python's round(int, n) is an int
            return .double((x * scale).rounded(rule) / scale)
        case "sum":
            let a = try bind(["attribute", "start"])
            var total = a[1] ?? .int(0)
            for item in try iterate(value) {
                let v = try a[0].given.map { try attributePath(item, $0) } ?? item
                total = try filterAdd(total, v)
            }
            return total
        case "min", "max":
            let a = try bind(["case_sensitive", "attribute"])
            let items = try iterate(value)
            guard !items.isEmpty else { return .undefined(hint: "No aggregated item, sequence was empty.") }
            var best = items[0]
            func key(_ v: JinjaValue) throws -> JinjaValue {
                let k = try a[1].given.map { try attributePath(v, $0) } ?? v
                if !(a[0]?.truthy ?? false), case let .string(s) = k { return .string(s.lowercased()) }
                return k
            }
            for item in items.dropFirst() {
                guard let less = pythonLess(try key(item), try key(best)) else { throw TemplateError("values are not comparable") }
                let greater = try pythonLess(key(best), key(item)) ?? false
                if name == "min" ? less : greater { best = item }
            }
            return best
        case "attr":
            guard let n = args.first, case let .string(attr) = n else { throw TemplateError("attr needs a name") }
            return try attribute(of: value, attr)
        case "indent":
            let a = try bind(["width", "first", "blank"])
            var indentation = "    "
            if let w = a[0] {
                if case let .string(s) = w { indentation = s } else { indentation = String(repeating: " ", count: max(w.integer ?? 4, 0)) }
            }
            // jinja2 does `s += "\n"` on the value itself, so only strings can be indented.
            guard case let .string(text) = value else {
                if case let .undefined(hint) = value { throw TemplateError(hint) }
                throw TemplateError("unsupported operand type(s) for +=: '\(value.typeName)' and 'str'")
            }
            let lines = pythonSplitLines(text + "\n")
            var rv: String
            if a[2]?.truthy ?? false {
                rv = lines.joined(separator: "\n" + indentation)
            } else {
                rv = lines.first ?? ""
                if lines.count > 1 {
                    rv += "\n" + lines.dropFirst().map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
                }
            }
            if a[1]?.truthy ?? false { rv = indentation + rv }
            return .string(rv)
        case "format":
            return .string(try percentFormat(try str(value), kwargs.isEmpty ? .tuple(args) : .dict(JinjaDict(kwargs))))
        case "wordcount":
            // Runs of word characters (Python's \w: letters, digits, underscore).
            var count = 0, inWord = false
            for u in try str(value).unicodeScalars {
                let word = u == "_" || u.properties.isAlphabetic || u.properties.numericType != nil
                if word && !inWord { count += 1 }
                inWord = word
            }
            return .int(count)
        case "center":
            let a = try bind(["width"])
            let s = try str(value), width = a[0]?.integer ?? 80
            let n = s.unicodeScalars.count
            guard width > n else { return .string(s) }
            let total = width - n, left = total / 2 + (total & width & 1)
            return .string(String(repeating: " ", count: left) + s + String(repeating: " ", count: total - left))
        default:
            throw TemplateError("no filter named '\(name)'")
        }
    }

    /// `item.a.b` for selectattr/map/sort's attribute= (dotted names; integer parts index).
    func attributePath(_ item: JinjaValue, _ path: JinjaValue) throws -> JinjaValue {
        if let i = path.integer { return try self.item(of: item, .int(i)) }
        var v = item
        for part in try path.pythonString().split(separator: ".", omittingEmptySubsequences: false) {
            if let i = Int(part) { v = try self.item(of: v, .int(i)) } else { v = try self.item(of: v, .string(String(part))) }
        }
        return v
    }

    private func filterAdd(_ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if let x = a.integer, let y = b.integer {
            let (r, o) = x.addingReportingOverflow(y)
            if o { throw TemplateError("integer overflow in sum") }
            return .int(r)
        }
        guard let x = a.number, let y = b.number else {
            throw TemplateError("unsupported operand type(s) for +: '\(a.typeName)' and '\(b.typeName)'")
        }
        return .double(x + y)
    }

    // MARK: - tests

    func applyTest(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws -> Bool {
        let v = v.demoted
        func arg() throws -> JinjaValue {
            guard let a = args.first ?? kwargs.first?.1 else { throw TemplateError("test '\(name)' needs an argument") }
            return a
        }
        let takesNoArgument: Set<String> = ["defined", "undefined", "none", "boolean", "true", "false", "string", "mapping",
                                            "number", "integer", "float", "iterable", "sequence", "callable", "odd", "even",
                                            "lower", "upper", "escaped"]
        if takesNoArgument.contains(name), !(args.isEmpty && kwargs.isEmpty) {
            throw TemplateError("test '\(name)' takes no argument (\(args.count + kwargs.count) given)")
        }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": if case .none = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "string": if case .string = v { return true }; return false
        case "mapping": if case .dict = v { return true }; return false
        case "number": return v.number != nil
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "iterable":
            switch v {
            case .undefined, .string, .list, .tuple, .dict, .generator: return true
            default: return false
            }
        case "sequence":
            switch v {
            case .undefined, .string, .list, .tuple, .dict: return true
            default: return false
            }
        case "callable": if case .function = v { return true }; return false
        case "odd", "even":
            // jinja2: value % 2 == 1 (odd) / == 0 (even), with Python's float modulo for floats.
            if let i = v.integer { return (i & 1 == 1) == (name == "odd") }
            if case let .double(d) = v {
                let r = fmod(d, 2) < 0 ? fmod(d, 2) + 2 : fmod(d, 2)
                return r == (name == "odd" ? 1 : 0)
            }
            if case let .undefined(hint) = v { throw TemplateError(hint) }
            throw TemplateError("test '\(name)' needs a number, not \(v.typeName)")
        case "divisibleby":
            let n = try arg()
            if let i = v.integer, let k = n.integer {
                guard k != 0 else { throw TemplateError("integer division or modulo by zero") }
                return i % k == 0
            }
            guard let x = v.number, let k = n.number else { throw TemplateError("divisibleby needs numbers") }
            guard k != 0 else { throw TemplateError("float modulo") }
            return fmod(x, k) == 0
        case "eq", "equalto", "==": return pythonEquals(v, try arg())
        case "ne", "!=": return !pythonEquals(v, try arg())
        case "lt", "<", "le", "<=", "gt", ">", "ge", ">=":
            let other = try arg()
            let op = ["lt": "<", "le": "<=", "gt": ">", "ge": ">="][name] ?? name
            let (a, b) = op.hasPrefix("<") ? (v, other) : (other, v)
            guard let less = pythonLess(a, b) else {
                throw TemplateError("'\(op)' not supported between instances of '\(v.typeName)' and '\(other.typeName)'")
            }
            return op.count == 2 ? less || pythonEquals(a, b) : less
        case "in": return try contains(try arg(), v)
        case "sameas":
            let other = try arg()
            switch (v, other) {
            case (.none, .none): return true
            case let (.bool(a), .bool(b)): return a == b
            case let (.namespace(a), .namespace(b)): return a === b
            case let (.function(a), .function(b)): return a === b
            default: return false
            }
        case "lower", "upper":
            // str(value).islower() / .isupper(): some cased character, and no cased character of the other case.
            let s = try v.pythonString()
            let cased = s.unicodeScalars.contains { $0.properties.isCased }
            return cased && (name == "lower" ? s == s.lowercased() : s == s.uppercased())
        case "escaped": return false
        case "filter":
            guard case let .string(n) = try arg() else { return false }
            return TemplateInterpreter.filterNames.contains(n)
        case "test":
            guard case let .string(n) = try arg() else { return false }
            return TemplateInterpreter.testNames.contains(n)
        default:
            throw TemplateError("no test named '\(name)'")
        }
    }

    static let filterNames: Set<String> = [
        "trim", "length", "count", "tojson", "string", "safe", "escape", "e", "forceescape", "lower", "upper",
        "capitalize", "title", "replace", "join", "first", "last", "list", "default", "d", "items", "selectattr",
        "rejectattr", "select", "reject", "map", "reverse", "unique", "sort", "dictsort", "int", "float", "abs",
        "round", "sum", "min", "max", "attr", "indent", "format", "wordcount", "center",
    ]
    static let testNames: Set<String> = [
        "defined", "undefined", "none", "boolean", "true", "false", "string", "mapping", "number", "integer", "float",
        "iterable", "sequence", "callable", "odd", "even", "divisibleby", "eq", "equalto", "==", "ne", "!=", "lt", "<",
        "le", "<=", "gt", ">", "ge", ">=", "in", "sameas", "lower", "upper", "escaped", "filter", "test",
    ]
}

/// The order Python's `sorted(keys, reverse=descending)` puts `keys` in: stable, equal keys keep their order
/// either way; unorderable keys are Python's TypeError.
private func stableSortedIndices(_ keys: [JinjaValue], descending: Bool) throws -> [Int] {
    var failure: TemplateError?
    // Swift's Array.sort is stable (a merge sort since Swift 5), as Python's is.
    let order = keys.indices.sorted { i, j in
        let (a, b) = descending ? (keys[j], keys[i]) : (keys[i], keys[j])
        guard let less = pythonLess(a, b) else {
            failure = TemplateError("'<' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            return false
        }
        return less
    }
    if let failure { throw failure }
    return order
}

/// markupsafe's escape: & < > " ' as entities.
func htmlEscape(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&#34;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}

// MARK: - tojson (Hugging Face's: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False))

func writePythonJSON(_ v: JinjaValue, into out: inout String, ensureASCII: Bool, indent: String?,
               separators: (String, String), sortKeys: Bool, level: Int) throws {
    func newline(_ level: Int) {
        guard let indent else { return }
        out += "\n" + String(repeating: indent, count: level)
    }
    func array(_ items: [JinjaValue]) throws {
        guard !items.isEmpty else { out += "[]"; return }
        out += "["
        for (i, item) in items.enumerated() {
            if i > 0 { out += separators.0 }
            newline(level + 1)
            try writePythonJSON(item, into: &out, ensureASCII: ensureASCII, indent: indent, separators: separators,
                          sortKeys: sortKeys, level: level + 1)
        }
        newline(level)
        out += "]"
    }
    switch v {
    case .none: out += "null"
    case let .bool(b): out += b ? "true" : "false"
    case let .int(i): out += String(i)
    case let .double(d):
        out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : pythonFloatRepr(d)
    case let .string(s), let .markup(s): JSON.escape(s, into: &out, asciiOnly: ensureASCII)
    case let .list(items), let .tuple(items): try array(items)
    case let .dict(d):
        guard d.count > 0 else { out += "{}"; return }
        // Python's json turns str, int, float, bool and None keys into strings; others are a TypeError.
        var pairs = try d.pairs.map { k, v -> (String, JinjaValue) in
            switch k {
            case let .string(s), let .markup(s): return (s, v)
            case .int, .double, .bool, .none:
                var text = ""
                try writePythonJSON(k, into: &text, ensureASCII: false, indent: nil, separators: separators, sortKeys: false, level: 0)
                return (text, v)
            default: throw TemplateError("keys must be str, int, float, bool or None, not \(k.typeName)")
            }
        }
        if sortKeys { pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } }
        out += "{"
        for (i, (k, item)) in pairs.enumerated() {
            if i > 0 { out += separators.0 }
            newline(level + 1)
            JSON.escape(k, into: &out, asciiOnly: ensureASCII)
            out += separators.1
            try writePythonJSON(item, into: &out, ensureASCII: ensureASCII, indent: indent, separators: separators,
                          sortKeys: sortKeys, level: level + 1)
        }
        newline(level)
        out += "}"
    default:
        throw TemplateError("Object of type \(v.typeName) is not JSON serializable")
    }
}
