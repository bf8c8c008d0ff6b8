// Methods: the Python methods templates call on values — str (strip, split, startswith, replace, format …),
// dict (items, keys, values, get) and list (index, count) — with Python's semantics, plus `%` string
// formatting. Mutating methods (append, update, pop …) fail as they do in Hugging Face's
// ImmutableSandboxedEnvironment.

import Foundation

/// Python's argument binding for a builtin: positional then keyword into `names`; missing ones are nil.
func bindArguments(_ function: String, _ names: [String], _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws -> [JinjaValue?] {
    guard args.count <= names.count else {
        throw TemplateError("\(function)() takes at most \(names.count) argument(s) (\(args.count) given)")
    }
    var bound: [JinjaValue?] = args.map { $0 } + Array(repeating: nil, count: names.count - args.count)
    for (k, v) in kwargs {
        guard let i = names.firstIndex(of: k) else { throw TemplateError("\(function)() got an unexpected keyword argument '\(k)'") }
        guard bound[i] == nil else { throw TemplateError("\(function)() got multiple values for argument '\(k)'") }
        bound[i] = v
    }
    return bound
}

extension Optional where Wrapped == JinjaValue {
    /// nil for a missing argument or an explicit None.
    var given: JinjaValue? {
        if case .none? = self { return nil }
        return self
    }
}

extension TemplateInterpreter {
    func method(of v: JinjaValue, _ name: String) -> JinjaValue? {
        let mutating: Set<String>
        switch v {
        case .string: if let m = stringMethod(v, name) { return m }; mutating = []
        case let .dict(d):
            switch name {
            case "items": return bound(name) { _, _ in .list(d.pairs.map { .tuple([$0.0, $0.1]) }) }
            case "keys": return bound(name) { _, _ in .list(d.keys) }
            case "values": return bound(name) { _, _ in .list(d.values) }
            case "get":
                return bound(name) { args, kwargs in
                    let a = try bindArguments("get", ["key", "default"], args, kwargs)
                    guard let key = a[0] else { throw TemplateError("get() missing argument 'key'") }
                    return d[key] ?? a[1] ?? .none
                }
            default: mutating = ["pop", "popitem", "setdefault", "update", "clear"]
            }
        case let .list(items), let .tuple(items):
            switch name {
            case "index":
                return bound(name) { args, _ in
                    guard let x = args.first, let i = items.firstIndex(where: { pythonEquals($0, x) }) else {
                        throw TemplateError("value is not in list")
                    }
                    return .int(i)
                }
            case "count":
                return bound(name) { args, _ in
                    guard let x = args.first else { throw TemplateError("count() takes exactly one argument") }
                    return .int(items.filter { pythonEquals($0, x) }.count)
                }
            default: mutating = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"]
            }
        default: return nil
        }
        guard mutating.contains(name) else { return nil }
        return .undefined(hint: "access to attribute '\(name)' of '\(v.typeName)' object is unsafe")
    }

    private func bound(_ name: String, _ body: @escaping ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue) -> JinjaValue {
        .function(TemplateFunction(name) { _, args, kwargs, _ in try body(args, kwargs) })
    }

    private func stringMethod(_ v: JinjaValue, _ name: String) -> JinjaValue? {
        guard case let .string(s) = v else { return nil }
        func strArg(_ x: JinjaValue?, _ what: String) throws -> String? {
            guard let x = x.given else { return nil }
            guard case let .string(t) = x else { throw TemplateError("\(name)() \(what) must be str, not \(x.typeName)") }
            return t
        }
        switch name {
        case "strip", "lstrip", "rstrip":
            return bound(name) { args, kwargs in
                let a = try bindArguments(name, ["chars"], args, kwargs)
                return .string(pythonStrip(s, try strArg(a[0], "arg"), leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "upper": return bound(name) { _, _ in .string(s.uppercased()) }
        case "lower": return bound(name) { _, _ in .string(s.lowercased()) }
        case "title": return bound(name) { _, _ in .string(pythonTitle(s)) }
        case "capitalize": return bound(name) { _, _ in .string(pythonCapitalize(s)) }
        case "startswith", "endswith":
            return bound(name) { args, _ in
                guard let p = args.first else { throw TemplateError("\(name)() takes at least 1 argument") }
                let candidates: [JinjaValue]
                if case let .tuple(t) = p { candidates = t } else { candidates = [p] }
                return .bool(try candidates.contains { c in
                    guard case let .string(x) = c else {
                        throw TemplateError("\(name) first arg must be str or a tuple of str, not \(c.typeName)")
                    }
                    return name == "startswith" ? s.unicodeScalars.starts(with: x.unicodeScalars)
                        : s.unicodeScalars.reversed().starts(with: x.unicodeScalars.reversed())
                })
            }
        case "split", "rsplit":
            return bound(name) { args, kwargs in
                let a = try bindArguments(name, ["sep", "maxsplit"], args, kwargs)
                let sep = try strArg(a[0], "sep")
                let maxsplit = a[1].given?.integer ?? -1
                return .list(pythonSplit(s, sep, maxsplit, fromRight: name == "rsplit").map { .string($0) })
            }
        case "splitlines":
            return bound(name) { _, _ in .list(pythonSplitLines(s).map { .string($0) }) }
        case "replace":
            return bound(name) { args, kwargs in
                let a = try bindArguments(name, ["old", "new", "count"], args, kwargs)
                guard let old = try strArg(a[0], "arg 1"), let new = try strArg(a[1], "arg 2") else {
                    throw TemplateError("replace() takes at least 2 arguments")
                }
                return .string(pythonReplace(s, old, new, a[2].given?.integer ?? -1))
            }
        case "join":
            return bound(name) { args, _ in
                guard let items = args.first else { throw TemplateError("join() takes exactly one argument") }
                return .string(try self.iterate(items).map { item in
                    guard case let .string(t) = item else {
                        throw TemplateError("sequence item: expected str instance, \(item.typeName) found")
                    }
                    return t
                }.joined(separator: s))
            }
        case "count", "find", "rfind", "index":
            return bound(name) { args, _ in
                guard case let .string(sub)? = args.first else { throw TemplateError("\(name)() needs a str argument") }
                let hay = Array(s.unicodeScalars), needle = Array(sub.unicodeScalars)
                var hits: [Int] = []
                var i = 0
                while i + needle.count <= hay.count {
                    if Array(hay[i..<(i + needle.count)]) == needle {
                        hits.append(i)
                        if name == "count" { i += max(needle.count, 1); continue }
                    }
                    i += 1
                }
                switch name {
                case "count": return .int(hits.count)
                case "rfind": return .int(hits.last ?? -1)
                case "index":
                    guard let first = hits.first else { throw TemplateError("substring not found") }
                    return .int(first)
                default: return .int(hits.first ?? -1)
                }
            }
        case "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper":
            return bound(name) { _, _ in
                let u = s.unicodeScalars
                switch name {
                case "isdigit": return .bool(!u.isEmpty && u.allSatisfy { $0.properties.numericType != nil })
                case "isalpha": return .bool(!u.isEmpty && u.allSatisfy { $0.properties.isAlphabetic })
                case "isalnum": return .bool(!u.isEmpty && u.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
                case "isspace": return .bool(!u.isEmpty && u.allSatisfy(isPythonSpace))
                case "islower": return .bool(u.contains { $0.properties.isCased } && s == s.lowercased())
                default: return .bool(u.contains { $0.properties.isCased } && s == s.uppercased())
                }
            }
        case "format":
            return bound(name) { args, kwargs in .string(try pythonFormat(s, args, kwargs)) }
        default: return nil
        }
    }
}

// MARK: - Python string algorithms (on code points)

func pythonStrip(_ s: String, _ chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
    let u = Array(s.unicodeScalars)
    let set = chars.map { Set($0.unicodeScalars) }
    func strip(_ c: Unicode.Scalar) -> Bool { set?.contains(c) ?? isPythonSpace(c) }
    var a = 0, b = u.count
    if leading { while a < b, strip(u[a]) { a += 1 } }
    if trailing { while b > a, strip(u[b - 1]) { b -= 1 } }
    var out = String.UnicodeScalarView()
    out.append(contentsOf: u[a..<b])
    return String(out)
}

func pythonSplit(_ s: String, _ sep: String?, _ maxsplit: Int, fromRight: Bool = false) -> [String] {
    var u = Array(s.unicodeScalars)
    var sepScalars = sep.map { Array($0.unicodeScalars) }
    if fromRight { u.reverse(); sepScalars?.reverse() }
    func str(_ x: ArraySlice<Unicode.Scalar>) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: fromRight ? Array(x.reversed()) : Array(x))
        return String(v)
    }
    var parts: [String] = []
    if let sepScalars, !sepScalars.isEmpty {
        var start = 0, i = 0
        while i + sepScalars.count <= u.count {
            if (maxsplit < 0 || parts.count < maxsplit), u[i..<(i + sepScalars.count)].elementsEqual(sepScalars) {
                parts.append(str(u[start..<i]))
                i += sepScalars.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(str(u[start...]))
    } else {
        var i = 0
        while i < u.count {
            while i < u.count, isPythonSpace(u[i]) { i += 1 }
            guard i < u.count else { break }
            if maxsplit >= 0, parts.count == maxsplit {
                var end = u.count
                while end > i, isPythonSpace(u[end - 1]) { end -= 1 }
                parts.append(str(u[i..<end]))
                break
            }
            let start = i
            while i < u.count, !isPythonSpace(u[i]) { i += 1 }
            parts.append(str(u[start..<i]))
        }
    }
    return fromRight ? parts.reversed() : parts
}

/// `str.splitlines()`: splits at \n, \r, \r\n, \v, \f, \x1c–\x1e, \x85, \u2028, \u2029; drops the breaks.
func pythonSplitLines(_ s: String) -> [String] {
    let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
    var lines: [String] = []
    var current = String.UnicodeScalarView()
    var previousCR = false
    for u in s.unicodeScalars {
        if u == "\n" && previousCR { previousCR = false; continue }
        previousCR = u == "\r"
        if breaks.contains(u.value) {
            lines.append(String(current))
            current = String.UnicodeScalarView()
        } else {
            current.append(u)
        }
    }
    if !current.isEmpty { lines.append(String(current)) }
    return lines
}

func pythonReplace(_ s: String, _ old: String, _ new: String, _ count: Int) -> String {
    let u = Array(s.unicodeScalars), o = Array(old.unicodeScalars)
    var out = String.UnicodeScalarView()
    var done = 0
    if o.isEmpty {
        for (i, c) in u.enumerated() {
            if count < 0 || done < count { out.append(contentsOf: new.unicodeScalars); done += 1 }
            out.append(c)
            if i == u.count - 1 && (count < 0 || done < count) { out.append(contentsOf: new.unicodeScalars) }
        }
        if u.isEmpty && count != 0 { out.append(contentsOf: new.unicodeScalars) }
        return String(out)
    }
    var i = 0
    while i < u.count {
        if (count < 0 || done < count), i + o.count <= u.count, u[i..<(i + o.count)].elementsEqual(o) {
            out.append(contentsOf: new.unicodeScalars)
            i += o.count
            done += 1
        } else {
            out.append(u[i])
            i += 1
        }
    }
    return String(out)
}

/// `str.title()`: a cased character after an uncased one is uppercased, the others lowercased.
func pythonTitle(_ s: String) -> String {
    var out = ""
    var previousCased = false
    for u in s.unicodeScalars {
        let c = String(u)
        out += previousCased ? c.lowercased() : c.uppercased()
        previousCased = u.properties.isCased
    }
    return out
}

func pythonCapitalize(_ s: String) -> String {
    guard let first = s.unicodeScalars.first else { return s }
    var rest = String.UnicodeScalarView()
    rest.append(contentsOf: s.unicodeScalars.dropFirst())
    return String(first).uppercased() + String(rest).lowercased()
}

/// `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}` (no format specs or conversions).
func pythonFormat(_ s: String, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws -> String {
    var out = ""
    var auto = 0
    var u = s.unicodeScalars.makeIterator()
    while let c = u.next() {
        if c == "}" {
            guard u.next() == "}" else { throw TemplateError("single '}' encountered in format string") }
            out += "}"
            continue
        }
        guard c == "{" else { out.unicodeScalars.append(c); continue }
        var field = ""
        var closed = false
        while let d = u.next() {
            if d == "{" && field.isEmpty { out += "{"; closed = true; field = "\u{0}"; break }
            if d == "}" { closed = true; break }
            field.unicodeScalars.append(d)
        }
        guard closed else { throw TemplateError("single '{' encountered in format string") }
        if field == "\u{0}" { continue }
        if field.contains(":") || field.contains("!") { throw TemplateError("format specs are not supported in str.format") }
        let value: JinjaValue
        if field.isEmpty {
            guard auto < args.count else { throw TemplateError("Replacement index \(auto) out of range for positional args tuple") }
            value = args[auto]
            auto += 1
        } else if let i = Int(field) {
            guard i < args.count else { throw TemplateError("Replacement index \(i) out of range for positional args tuple") }
            value = args[i]
        } else {
            guard let v = kwargs.first(where: { $0.0 == field })?.1 else { throw TemplateError("KeyError: '\(field)'") }
            value = v
        }
        out += try value.pythonString()
    }
    return out
}

/// `format % args` for `%s`, `%r`, `%d`/`%i`, `%f` and `%%` (no flags or widths).
func percentFormat(_ format: String, _ args: JinjaValue) throws -> String {
    var values: [JinjaValue]
    if case let .tuple(t) = args { values = t } else { values = [args] }
    var out = ""
    var u = format.unicodeScalars.makeIterator()
    while let c = u.next() {
        guard c == "%" else { out.unicodeScalars.append(c); continue }
        guard let spec = u.next() else { throw TemplateError("incomplete format") }
        if spec == "%" { out += "%"; continue }
        guard !values.isEmpty else { throw TemplateError("not enough arguments for format string") }
        let v = values.removeFirst()
        switch spec {
        case "s": out += try v.pythonString()
        case "r": out += v.pythonRepr()
        case "d", "i":
            guard let n = v.number else { throw TemplateError("%\(spec) format: a real number is required, not \(v.typeName)") }
            out += String(Int(n.rounded(.towardZero)))
        case "f":
            guard let n = v.number else { throw TemplateError("must be real number, not \(v.typeName)") }
            out += String(format: "%f", n)
        default: throw TemplateError("unsupported format character '\(spec)'")
        }
    }
    // Python lets a lone list or dict argument go unused (it could have been a mapping for %(name)s).
    let unusedIsFine: Bool = switch args { case .list, .dict, .undefined: true; default: false }
    guard values.isEmpty || unusedIsFine else { throw TemplateError("not all arguments converted during string formatting") }
    return out
}
