// TemplateInterpreter: runs a parsed template over a context, with jinja2's semantics — scoping (each pass of a `for`
// body is its own scope; `if` is not; `namespace()` is how a loop writes outward), attribute lookup that falls back to
// dict keys (`message.role`), missing keys and names as Undefined, the `loop` object, break/continue, macros,
// and the globals Hugging Face installs (`raise_exception`, `strftime_now`) next to jinja2's own
// (`namespace`, `range`, `dict`). Filters, tests and methods on values are in Filters.swift / Methods.swift.

import Foundation

/// Variables visible at one level; lookups fall through to the enclosing level.
final class TemplateScope {
    var variables: [String: JinjaValue] = [:]
    let parent: TemplateScope?
    init(parent: TemplateScope?) { self.parent = parent }

    func lookup(_ name: String) -> JinjaValue? {
        var s: TemplateScope? = self
        while let scope = s {
            if let v = scope.variables[name] { return v }
            s = scope.parent
        }
        return nil
    }
}

/// What a statement list asks of the loop around it.
enum LoopFlow { case normal, breakLoop, continueLoop }

/// `raise_exception(message)` from the template: its message must reach the user verbatim.
struct RaisedException: Error {
    var message: String
    var position: TemplatePosition?
}

final class TemplateInterpreter {
    private let root: TemplateScope

    init(context: [String: JinjaValue]) {
        root = TemplateScope(parent: nil)
        root.variables = TemplateInterpreter.globals
        for (k, v) in context { root.variables[k] = v }
    }

    func render(_ nodes: [TemplateNode]) throws -> String {
        var out = ""
        _ = try execute(nodes, TemplateScope(parent: root), into: &out)
        return out
    }

    // MARK: - statements

    func execute(_ nodes: [TemplateNode], _ scope: TemplateScope, into out: inout String) throws -> LoopFlow {
        for node in nodes {
            switch node {
            case let .text(s):
                out += s
            case let .output(e, p):
                let v = try evaluate(e, scope)
                out += try located(p) { try v.pythonString() }
            case let .conditional(branches, otherwise):
                var taken: [TemplateNode]? = nil
                for (test, body) in branches where try evaluate(test, scope).truthy {
                    taken = body
                    break
                }
                let flow = try execute(taken ?? otherwise, scope, into: &out)
                if flow != .normal { return flow }
            case let .loop(target, iterable, filter, body, otherwise, p):
                try runLoop(target, iterable, filter, body, otherwise, p, scope, &out)
            case let .assign(target, e, p):
                let v = try evaluate(e, scope)
                try located(p) { try assign(target, v, scope) }
            case let .assignBlock(name, body, filters):
                var text = ""
                _ = try execute(body, TemplateScope(parent: scope), into: &text)
                var v = JinjaValue.string(text)
                for (f, args, p) in filters { v = try applyFilter(f, v, args, p, scope) }
                scope.variables[name] = v
            case let .macro(def):
                scope.variables[def.name] = makeMacro(def, scope)
            case let .with(assignments, body):
                let inner = TemplateScope(parent: scope)
                for (target, e) in assignments { try assign(target, try evaluate(e, scope), inner) }
                let flow = try execute(body, inner, into: &out)
                if flow != .normal { return flow }
            case let .filterBlock(filters, body):
                var text = ""
                _ = try execute(body, TemplateScope(parent: scope), into: &text)
                var v = JinjaValue.string(text)
                for (f, args, p) in filters { v = try applyFilter(f, v, args, p, scope) }
                out += try v.pythonString()
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
        }
        return .normal
    }

    private func runLoop(_ target: AssignTarget, _ iterable: TemplateExpr, _ filter: TemplateExpr?, _ body: [TemplateNode], _ otherwise: [TemplateNode],
                         _ p: TemplatePosition, _ scope: TemplateScope, _ out: inout String) throws {
        let sequence = try evaluate(iterable, scope)
        var items = try located(p) { try iterate(sequence) }
        if let filter {
            items = try items.filter { item in
                let filterScope = TemplateScope(parent: scope)
                try located(p) { try assign(target, item, filterScope) }
                return try evaluate(filter, filterScope).truthy
            }
        }
        if items.isEmpty {
            _ = try execute(otherwise, TemplateScope(parent: scope), into: &out)
            return
        }
        let n = items.count
        let cycle = { (index: Int) in
            TemplateFunction("loop.cycle") { _, args, _, _ in
                guard !args.isEmpty else { throw TemplateError("no items for cycling given") }
                return args[index % args.count]
            }
        }
        for (index, item) in items.enumerated() {
            // Each pass starts afresh: a `set` in the body does not carry over to the next item (jinja2).
            let loopScope = TemplateScope(parent: scope)
            try located(p) { try assign(target, item, loopScope) }
            loopScope.variables["loop"] = .dict(JinjaDict([
                ("index", .int(index + 1)), ("index0", .int(index)),
                ("revindex", .int(n - index)), ("revindex0", .int(n - index - 1)),
                ("first", .bool(index == 0)), ("last", .bool(index == n - 1)), ("length", .int(n)),
                ("depth", .int(1)), ("depth0", .int(0)),
                ("previtem", index > 0 ? items[index - 1] : .undefined(hint: "there is no previous item")),
                ("nextitem", index + 1 < n ? items[index + 1] : .undefined(hint: "there is no next item")),
                ("cycle", .function(cycle(index))),
            ]))
            if try execute(body, loopScope, into: &out) == .breakLoop { break }
        }
    }

    private func assign(_ target: AssignTarget, _ value: JinjaValue, _ scope: TemplateScope) throws {
        switch target {
        case let .name(n):
            scope.variables[n] = value
        case let .namespaceAttribute(n, attribute, p):
            guard case let .namespace(ns)? = scope.lookup(n) else {
                throw TemplateError("cannot assign attribute on non-namespace object '\(n)'", at: p)
            }
            ns.attributes[attribute] = value
        case let .tuple(targets, p):
            let items = try iterate(value)
            guard items.count == targets.count else {
                throw TemplateError(items.count > targets.count
                    ? "too many values to unpack (expected \(targets.count))"
                    : "not enough values to unpack (expected \(targets.count), got \(items.count))", at: p)
            }
            for (t, v) in zip(targets, items) { try assign(t, v, scope) }
        }
    }

    private func makeMacro(_ def: MacroDefinition, _ scope: TemplateScope) -> JinjaValue {
        .function(TemplateFunction(def.name) { [weak scope] interpreter, args, kwargs, _ in
            let inner = TemplateScope(parent: scope ?? interpreter.root)
            guard args.count <= def.parameters.count || def.parameters.isEmpty && args.isEmpty else {
                throw TemplateError("macro '\(def.name)' takes not more than \(def.parameters.count) argument(s)")
            }
            var given: [String: JinjaValue] = [:]
            for (i, a) in args.enumerated() { given[def.parameters[i].0] = a }
            for (k, v) in kwargs {
                guard def.parameters.contains(where: { $0.0 == k }) else {
                    throw TemplateError("macro '\(def.name)' takes no keyword argument '\(k)'")
                }
                given[k] = v
            }
            for (name, defaultValue) in def.parameters {
                if let v = given[name] {
                    inner.variables[name] = v
                } else if let defaultValue {
                    inner.variables[name] = try interpreter.evaluate(defaultValue, inner)
                } else {
                    inner.variables[name] = .undefined(hint: "parameter '\(name)' was not provided")
                }
            }
            var text = ""
            _ = try interpreter.execute(def.body, inner, into: &text)
            return .string(text)
        })
    }

    // MARK: - expressions

    func evaluate(_ e: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        switch e {
        case let .constant(v): return v
        case let .name(n, _): return scope.lookup(n) ?? .undefinedName(n)
        case let .list(items): return .list(try items.map { try evaluate($0, scope) })
        case let .tuple(items): return .tuple(try items.map { try evaluate($0, scope) })
        case let .dict(pairs, p):
            let items = try pairs.map { (try evaluate($0.0, scope).demoted, try evaluate($0.1, scope)) }
            return .dict(try located(p) { try JinjaDict(keyed: items) })
        case let .attribute(base, name, p):
            let v = try evaluate(base, scope)
            return try located(p) { try attribute(of: v, name) }
        case let .item(base, index, p):
            let v = try evaluate(base, scope)
            let i = try evaluate(index, scope)
            return try located(p) { try item(of: v, i) }
        case let .slice(base, start, stop, step, p):
            let v = try evaluate(base, scope)
            let bounds = try [start, stop, step].map { try $0.map { try evaluate($0, scope) } }
            return try located(p) { try slice(v, bounds[0], bounds[1], bounds[2]) }
        case let .call(callee, args, p):
            let f = try evaluate(callee, scope)
            let (positional, keywords) = try evaluateArguments(args, scope)
            return try located(p) { try call(f, positional, keywords, p) }
        case let .filter(base, name, args, p):
            return try applyFilter(name, try evaluate(base, scope), args, p, scope)
        case let .test(base, name, args, p):
            let v = try evaluate(base, scope)
            let (positional, keywords) = try evaluateArguments(args, scope)
            return .bool(try located(p) { try applyTest(name, v, positional, keywords) })
        case let .not(x): return .bool(!(try evaluate(x, scope).truthy))
        case let .negate(x, p):
            let v = try evaluate(x, scope)
            return try located(p) {
                switch v {
                case let .double(d): return .double(-d)
                case .int, .bool:
                    let (r, overflow) = 0.subtractingReportingOverflow(v.integer!)
                    if overflow { throw TemplateError("integer overflow") }
                    return .int(r)
                case let .undefined(hint): throw TemplateError(hint)
                default: throw TemplateError("bad operand type for unary -: '\(v.typeName)'")
                }
            }
        case let .plus(x, p):
            let v = try evaluate(x, scope)
            return try located(p) {
                switch v {
                case .double, .int: return v
                case .bool: return .int(v.integer!)
                case let .undefined(hint): throw TemplateError(hint)
                default: throw TemplateError("bad operand type for unary +: '\(v.typeName)'")
                }
            }
        case let .and(a, b):
            let x = try evaluate(a, scope)
            return x.truthy ? try evaluate(b, scope) : x
        case let .or(a, b):
            let x = try evaluate(a, scope)
            return x.truthy ? x : try evaluate(b, scope)
        case let .binary(op, a, b, p):
            let x = try evaluate(a, scope), y = try evaluate(b, scope)
            return try located(p) { try binary(op, x, y) }
        case let .compare(first, rest, p):
            var left = try evaluate(first, scope)
            for (op, e) in rest {
                let right = try evaluate(e, scope)
                guard try located(p, { try compare(op, left, right) }) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case let .conditional(test, then, otherwise):
            if try evaluate(test, scope).truthy { return try evaluate(then, scope) }
            if let otherwise { return try evaluate(otherwise, scope) }
            return .undefined(hint: "the inline if-expression evaluated to false and no else section was defined")
        }
    }

    func evaluateArguments(_ args: CallArguments, _ scope: TemplateScope) throws -> ([JinjaValue], [(String, JinjaValue)]) {
        (try args.positional.map { try evaluate($0, scope) }, try args.keywords.map { ($0.0, try evaluate($0.1, scope)) })
    }

    func call(_ f: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)], _ p: TemplatePosition?) throws -> JinjaValue {
        switch f {
        case let .function(fn): return try fn.body(self, args, kwargs, p)
        case let .undefined(hint): throw TemplateError(hint)
        default: throw TemplateError("'\(f.typeName)' object is not callable")
        }
    }

    /// jinja2's `environment.getattr`: a Python attribute (methods), else the item of that name, else Undefined.
    func attribute(of v: JinjaValue, _ name: String) throws -> JinjaValue {
        let v = v.demoted
        switch v {
        case let .undefined(hint): throw TemplateError(hint)
        case let .dict(d):
            if let m = method(of: v, name) { return m }
            return d[name] ?? .undefined(hint: "'dict object' has no attribute '\(name)'")
        case let .namespace(ns):
            return ns.attributes[name] ?? .undefined(hint: "'Namespace object' has no attribute '\(name)'")
        default:
            if let m = method(of: v, name) { return m }
            if case .none = v { return .undefined(hint: "'None' has no attribute '\(name)'") }
            return .undefined(hint: "'\(v.typeName) object' has no attribute '\(name)'")
        }
    }

    /// jinja2's `environment.getitem`: `x[key]`, falling back to the attribute for string keys, else Undefined.
    func item(of v: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        let (v, key) = (v.demoted, key.demoted)
        switch v {
        case let .undefined(hint): throw TemplateError(hint)
        case let .dict(d):
            if let found = d[key] { return found }
            if case let .string(k) = key {
                return method(of: v, k) ?? .undefined(hint: "'dict object' has no attribute '\(k)'")
            }
            return .undefined(hint: "'dict object' has no element \(key.pythonRepr())")
        case .list, .tuple, .string:
            if let i = key.integer {
                let count = try length(v)!
                let j = i < 0 ? i + count : i
                guard j >= 0, j < count else {
                    return .undefined(hint: "'\(v.typeName) object' has no element \(i)")
                }
                switch v {
                case let .list(a), let .tuple(a): return a[j]
                case let .string(s):
                    let scalars = s.unicodeScalars
                    return .string(String(scalars[scalars.index(scalars.startIndex, offsetBy: j)]))
                default: break
                }
            }
            if case let .string(k) = key { return try attribute(of: v, k) }
            if case .double = key { throw TemplateError("\(v.typeName) indices must be integers or slices, not float") }
            return .undefined(hint: "'\(v.typeName) object' has no element \(key.pythonRepr())")
        case let .namespace(ns):
            if case let .string(k) = key, let found = ns.attributes[k] { return found }
            return .undefined(hint: "'Namespace object' has no attribute \(key.pythonRepr())")
        default:
            if case let .string(k) = key { return try attribute(of: v, k) }
            return .undefined(hint: "'\(v.typeName) object' has no element \(key.pythonRepr())")
        }
    }

    func slice(_ v: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue {
        func bound(_ x: JinjaValue?) throws -> Int? {
            guard let x else { return nil }
            if case .none = x { return nil }
            if case let .undefined(hint) = x { throw TemplateError(hint) }
            guard let i = x.integer else { throw TemplateError("slice indices must be integers or None") }
            return i
        }
        let (a, b, c) = (try bound(start), try bound(stop), try bound(step))
        let step = c ?? 1
        guard step != 0 else { throw TemplateError("slice step cannot be zero") }
        func indices(_ n: Int) -> [Int] {
            func clamp(_ x: Int?, _ def: Int, _ lo: Int, _ hi: Int) -> Int {
                guard var x else { return def }
                if x < 0 { x += n }
                return min(max(x, lo), hi)
            }
            if step > 0 {
                let s = clamp(a, 0, 0, n), e = clamp(b, n, 0, n)
                return s < e ? Array(stride(from: s, to: e, by: step)) : []
            }
            let s = clamp(a, n - 1, -1, n - 1), e = clamp(b, -1, -1, n - 1)
            return s > e ? Array(stride(from: s, to: e, by: step)) : []
        }
        switch v.demoted {
        case let .undefined(hint): throw TemplateError(hint)
        case let .list(items): return .list(indices(items.count).map { items[$0] })
        case let .tuple(items): return .tuple(indices(items.count).map { items[$0] })
        case let .string(s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in indices(scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        default: throw TemplateError("'\(v.typeName)' object is not subscriptable")
        }
    }

    /// The items a `for` loop (or `list`) walks: a dict's keys, a string's characters, nothing for Undefined.
    func iterate(_ v: JinjaValue) throws -> [JinjaValue] {
        switch v.demoted {
        case .undefined: return []
        case let .list(a), let .tuple(a), let .generator(a): return a
        case let .dict(d): return d.keys
        case let .string(s): return s.unicodeScalars.map { .string(String($0)) }
        default: throw TemplateError("'\(v.typeName)' object is not iterable")
        }
    }

    /// Python's `len()`; nil for values without one.
    func length(_ v: JinjaValue) throws -> Int? {
        switch v.demoted {
        case .undefined: return 0
        case let .string(s): return s.unicodeScalars.count
        case let .list(a), let .tuple(a): return a.count
        case let .dict(d): return d.count
        case let .namespace(ns): return ns.attributes.count
        default: return nil
        }
    }

    private func binary(_ op: String, _ x: JinjaValue, _ y: JinjaValue) throws -> JinjaValue {
        if op == "~" { return .string(try x.pythonString() + y.pythonString()) }
        switch (op, x, y) {
        case let ("+", .markup(a), .markup(b)): return .markup(a + b)
        case let ("+", .markup(a), .string(b)): return .markup(a + htmlEscape(b))
        case let ("+", .string(a), .markup(b)): return .markup(htmlEscape(a) + b)
        default: break
        }
        let (x, y) = (x.demoted, y.demoted)
        if op == "%", case let .string(format) = x { return .string(try percentFormat(format, y)) }
        if case let .undefined(hint) = x { throw TemplateError(hint) }
        if case let .undefined(hint) = y { throw TemplateError(hint) }
        func unsupported() -> TemplateError {
            TemplateError("unsupported operand type(s) for \(op): '\(x.typeName)' and '\(y.typeName)'")
        }
        func integer(_ r: (Int, Bool)) throws -> JinjaValue {
            if r.1 { throw TemplateError("integer overflow in \(op)") }
            return .int(r.0)
        }
        switch (op, x, y) {
        case let ("+", .string(a), .string(b)): return .string(a + b)
        case let ("+", .list(a), .list(b)): return .list(a + b)
        case let ("+", .tuple(a), .tuple(b)): return .tuple(a + b)
        case ("+", .string, _), ("+", _, .string):
            throw TemplateError("can only concatenate str (not \"\(x.typeName == "str" ? y.typeName : x.typeName)\") to str")
        case let ("*", .string(s), _), let ("*", _, .string(s)):
            guard let n = (x.integer ?? y.integer), !(x.number != nil && y.number != nil) else { throw unsupported() }
            return .string(String(repeating: s, count: max(n, 0)))
        case let ("*", .list(a), _), let ("*", _, .list(a)):
            guard let n = (x.integer ?? y.integer) else { throw unsupported() }
            return .list(Array([[JinjaValue]](repeating: a, count: max(n, 0)).joined()))
        case let ("*", .tuple(a), _), let ("*", _, .tuple(a)):
            guard let n = (x.integer ?? y.integer) else { throw unsupported() }
            return .tuple(Array([[JinjaValue]](repeating: a, count: max(n, 0)).joined()))
        default: break
        }
        if let a = x.integer, let b = y.integer {
            switch op {
            case "+": return try integer(a.addingReportingOverflow(b))
            case "-": return try integer(a.subtractingReportingOverflow(b))
            case "*": return try integer(a.multipliedReportingOverflow(by: b))
            case "/":
                guard b != 0 else { throw TemplateError("division by zero") }
                return .double(Double(a) / Double(b))
            case "//", "%":
                guard b != 0 else { throw TemplateError("integer division or modulo by zero") }
                var q = a / b, r = a % b
                if r != 0 && ((r < 0) != (b < 0)) { q -= 1; r += b }
                return .int(op == "//" ? q : r)
            case "**":
                if b < 0 {
                    guard a != 0 else { throw TemplateError("0.0 cannot be raised to a negative power") }
                    return .double(pow(Double(a), Double(b)))
                }
                var result = 1, base = a, e = b
                while e > 0 {
                    if e & 1 == 1 { result = try integer(result.multipliedReportingOverflow(by: base)).integer! }
                    e >>= 1
                    if e > 0 { base = try integer(base.multipliedReportingOverflow(by: base)).integer! }
                }
                return .int(result)
            default: break
            }
        }
        guard let a = x.number, let b = y.number else { throw unsupported() }
        switch op {
        case "+": return .double(a + b)
        case "-": return .double(a - b)
        case "*": return .double(a * b)
        case "/":
            guard b != 0 else { throw TemplateError("float division by zero") }
            return .double(a / b)
        case "//":
            guard b != 0 else { throw TemplateError("float floor division by zero") }
            return .double((a / b).rounded(.down))
        case "%":
            guard b != 0 else { throw TemplateError("float modulo") }
            let r = fmod(a, b)
            return .double(r != 0 && ((r < 0) != (b < 0)) ? r + b : r)
        case "**":
            guard a != 0 || b >= 0 else { throw TemplateError("0.0 cannot be raised to a negative power") }
            return .double(pow(a, b))
        default: throw unsupported()
        }
    }

    private func compare(_ op: String, _ x: JinjaValue, _ y: JinjaValue) throws -> Bool {
        switch op {
        case "==": return pythonEquals(x, y)
        case "!=": return !pythonEquals(x, y)
        case "in": return try contains(y, x)
        case "not in": return !(try contains(y, x))
        default:
            if case let .undefined(hint) = x { throw TemplateError(hint) }
            if case let .undefined(hint) = y { throw TemplateError(hint) }
            let (a, b) = op == "<" || op == "<=" ? (x, y) : (y, x)
            guard let less = pythonLess(a, b) else {
                throw TemplateError("'\(op)' not supported between instances of '\(x.typeName)' and '\(y.typeName)'")
            }
            return op.count == 2 ? less || pythonEquals(a, b) : less
        }
    }

    /// Python's `needle in haystack`.
    func contains(_ haystack: JinjaValue, _ needle: JinjaValue) throws -> Bool {
        let (haystack, needle) = (haystack.demoted, needle.demoted)
        switch haystack {
        case let .string(s):
            guard case let .string(n) = needle else {
                if case let .undefined(hint) = needle { throw TemplateError(hint) }
                throw TemplateError("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || s.unicodeScalars.firstRange(of: n.unicodeScalars) != nil
        case let .dict(d):
            if needle.dictKey == nil && !needle.isUndefined { throw TemplateError("unhashable type: '\(needle.typeName)'") }
            return d[needle] != nil
        case let .namespace(ns):
            if case let .string(k) = needle { return ns.attributes[k] != nil }
            return false
        case .undefined, .list, .tuple, .generator:
            return try iterate(haystack).contains { pythonEquals($0, needle) }
        default:
            throw TemplateError("argument of type '\(haystack.typeName)' is not iterable")
        }
    }

    /// Runs `body`, giving any error without a position the position `p`.
    func located<T>(_ p: TemplatePosition?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var e as TemplateError where e.position == nil {
            e.position = p
            throw e
        } catch var e as RaisedException where e.position == nil {
            e.position = p
            throw e
        }
    }

    // MARK: - globals

    static let globals: [String: JinjaValue] = [
        "raise_exception": .function(TemplateFunction("raise_exception") { _, args, _, p in
            throw RaisedException(message: try args.first?.pythonString() ?? "", position: p)
        }),
        "strftime_now": .function(TemplateFunction("strftime_now") { _, args, _, _ in
            guard case let .string(format)? = args.first else { throw TemplateError("strftime_now() needs a format string") }
            return .string(strftimeNow(format))
        }),
        "namespace": .function(TemplateFunction("namespace") { _, args, kwargs, _ in
            var attributes = JinjaDict()
            for a in args {
                guard case let .dict(d) = a else { throw TemplateError("namespace() takes a dict or keyword arguments") }
                for (k, v) in d.pairs { attributes[k] = v }  // namespace(dict) keeps the dict's keys
            }
            for (k, v) in kwargs { attributes[k] = v }
            return .namespace(TemplateNamespace(attributes))
        }),
        "dict": .function(TemplateFunction("dict") { _, args, kwargs, _ in
            var d = JinjaDict()
            if case let .dict(given)? = args.first { d = given }
            for (k, v) in kwargs { d[k] = v }
            return .dict(d)
        }),
        "range": .function(TemplateFunction("range") { _, args, _, _ in
            let ints = try args.map { a -> Int in
                guard let i = a.integer else { throw TemplateError("'\(a.typeName)' object cannot be interpreted as an integer") }
                return i
            }
            let (start, stop, step): (Int, Int, Int) = switch ints.count {
            case 1: (0, ints[0], 1)
            case 2: (ints[0], ints[1], 1)
            case 3: (ints[0], ints[1], ints[2])
            default: throw TemplateError("range expected 1 to 3 arguments, got \(ints.count)")
            }
            guard step != 0 else { throw TemplateError("range() arg 3 must not be zero") }
            let r = stride(from: start, to: stop, by: step)
            guard r.underestimatedCount <= 100_000 else {
                throw TemplateError("range too big; the sandbox blocks ranges larger than 100000")
            }
            return .list(r.map { .int($0) })
        }),
    ]
}

/// Local time formatted by the C library's strftime, as Python's `datetime.now().strftime` does.
func strftimeNow(_ format: String) -> String {
    var t = time(nil)
    var parts = tm()
    localtime_r(&t, &parts)
    var buffer = [CChar](repeating: 0, count: 512)
    let n = strftime(&buffer, buffer.count, format, &parts)
    return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
