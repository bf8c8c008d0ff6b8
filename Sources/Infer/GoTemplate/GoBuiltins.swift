// GoBuiltins: text/template's predefined functions (funcs.go) — not, len, index, slice, eq/ne/lt/le/gt/ge,
// print/printf/println, html/js/urlquery, call — plus Ollama's `json`, with Go's error texts. `and`/`or`
// short-circuit and live in the executor.

struct GoBuiltinError: Error { let message: String }

enum GoBuiltins {
    /// reflect's indirectInterface: a nil interface is no value.
    private static func ii(_ v: GoVal) -> GoValue? { v.v == .null ? nil : v.v }

    static func call(_ name: String, _ a: [GoVal]) throws(GoBuiltinError) -> GoVal {
        switch name {
        case "not": return GoVal(v: .bool(!(ii(a[0])?.isTrue ?? false)))
        case "len": return GoVal(v: .int(try length(a[0])))
        case "index": return try index(a[0], Array(a.dropFirst()))
        case "slice": return try slice(a[0], Array(a.dropFirst()))
        case "eq": return GoVal(v: .bool(try eq(a[0], Array(a.dropFirst()))))
        case "ne": return GoVal(v: .bool(!(try eq(a[0], [a[1]]))))
        case "lt": return GoVal(v: .bool(try lt(a[0], a[1])))
        case "le":
            let less = try lt(a[0], a[1])
            return GoVal(v: .bool(less ? true : try eq(a[0], [a[1]])))
        case "gt":
            let less = try lt(a[0], a[1])
            return GoVal(v: .bool(less ? false : !(try eq(a[0], [a[1]]))))
        case "ge": return GoVal(v: .bool(!(try lt(a[0], a[1]))))
        case "print": return GoVal(v: .string(GoFormat.sprint(a.map(\.v))))
        case "println": return GoVal(v: .string(GoFormat.sprintln(a.map(\.v))))
        case "printf":
            guard case let .string(f)? = a[0].v else { return GoVal(v: .string("")) }
            return GoVal(v: .string(GoFormat.sprintf(f, a.dropFirst().map(\.v))))
        case "html": return GoVal(v: .string(GoFormat.html(evalArgs(a))))
        case "js": return GoVal(v: .string(GoFormat.js(evalArgs(a))))
        case "urlquery": return GoVal(v: .string(GoFormat.urlquery(evalArgs(a))))
        case "call":
            // No value passed to a template is a function.
            guard let f = ii(a[0]) else { throw GoBuiltinError(message: "call of nil") }
            throw GoBuiltinError(message: "non-function of type \(f.goType)")
        case "json":
            var out = ""
            GoFormat.json(a[0].v, into: &out)
            return GoVal(v: .string(out))
        default:
            throw GoBuiltinError(message: "unknown function \(name)")
        }
    }

    /// The escapers' argument: one string as is, else fmt.Sprint of all.
    private static func evalArgs(_ a: [GoVal]) -> String {
        if a.count == 1, case let .string(s)? = a[0].v { return s }
        return GoFormat.sprint(a.map { $0.v == .null ? nil : $0.v })
    }

    private static func length(_ v: GoVal) throws(GoBuiltinError) -> Int {
        switch v.v {
        case nil: throw GoBuiltinError(message: "reflect: call of reflect.Value.Type on zero Value")
        case .null?: throw GoBuiltinError(message: "len of nil pointer")
        case let .string(s)?: return s.utf8.count
        case let .list(l)?: return l.count
        case let .map(m)? where m.record == nil: return m.count
        case let x?: throw GoBuiltinError(message: "len of type \(x.goType)")
        }
    }

    private static func indexArg(_ v: GoVal, size: Int) throws(GoBuiltinError) -> Int {
        switch ii(v) {
        case let .int(x)?:
            if x < 0 || x > size { throw GoBuiltinError(message: "index out of range: \(x)") }
            return x
        case nil: throw GoBuiltinError(message: "cannot index slice/array with nil")
        case let x?: throw GoBuiltinError(message: "cannot index slice/array with type \(x.goType)")
        }
    }

    private static func index(_ item0: GoVal, _ indexes: [GoVal]) throws(GoBuiltinError) -> GoVal {
        guard ii(item0) != nil else { throw GoBuiltinError(message: "index of untyped nil") }
        var item = item0
        for idx in indexes {
            guard let value = ii(item) else { throw GoBuiltinError(message: "index of nil pointer") }
            switch value {
            case let .list(l):
                let x = try indexArg(idx, size: l.count)
                if x == l.count { throw GoBuiltinError(message: "index out of range: \(x)") }
                item = GoVal(v: l[x], boxed: true)
            case let .string(s):
                let bytes = Array(s.utf8)
                let x = try indexArg(idx, size: bytes.count)
                if x == bytes.count { throw GoBuiltinError(message: "index out of range: \(x)") }
                item = GoVal(v: .int(Int(bytes[x])))
            case let .map(m) where m.record == nil:
                guard let key = ii(idx) else { throw GoBuiltinError(message: "value is nil; should be of type string") }
                guard case let .string(k) = key else {
                    throw GoBuiltinError(message: "value has type \(key.goType); should be string")
                }
                item = GoVal(v: m[k] ?? .null, boxed: true)
            default:
                throw GoBuiltinError(message: "can't index item of type \(value.goType)")
            }
        }
        return item
    }

    private static func slice(_ item0: GoVal, _ indexes: [GoVal]) throws(GoBuiltinError) -> GoVal {
        guard let item = ii(item0) else { throw GoBuiltinError(message: "slice of untyped nil") }
        if indexes.count > 3 { throw GoBuiltinError(message: "too many slice indexes: \(indexes.count)") }
        let count: Int
        switch item {
        case let .string(s):
            if indexes.count == 3 { throw GoBuiltinError(message: "cannot 3-index slice a string") }
            count = s.utf8.count
        case let .list(l): count = l.count
        default: throw GoBuiltinError(message: "can't slice item of type \(item.goType)")
        }
        var idx = [0, count, count]
        for (k, v) in indexes.enumerated() { idx[k] = try indexArg(v, size: count) }
        if idx[0] > idx[1] { throw GoBuiltinError(message: "invalid slice index: \(idx[0]) > \(idx[1])") }
        if indexes.count == 3, idx[1] > idx[2] { throw GoBuiltinError(message: "invalid slice index: \(idx[1]) > \(idx[2])") }
        switch item {
        case let .string(s): return GoVal(v: .string(String(decoding: Array(s.utf8)[idx[0]..<idx[1]], as: UTF8.self)))
        case let .list(l): return GoVal(v: .list(Array(l[idx[0]..<idx[1]])))
        default: return .invalid
        }
    }

    private enum Kind { case invalid, bool, int, float, string }
    private static func kind(_ v: GoValue?) -> Kind {
        switch v {
        case .bool?: .bool
        case .int?: .int
        case .float?: .float
        case .string?: .string
        default: .invalid
        }
    }

    private static func eq(_ a1: GoVal, _ rest: [GoVal]) throws(GoBuiltinError) -> Bool {
        let arg1 = ii(a1)
        if rest.isEmpty { throw GoBuiltinError(message: "missing argument for comparison") }
        let k1 = kind(arg1)
        for r in rest {
            let arg = ii(r)
            let k2 = kind(arg)
            var truth = false
            if k1 != k2 {
                if arg1 != nil && arg != nil { throw GoBuiltinError(message: "incompatible types for comparison") }
            } else {
                switch (arg1, arg) {
                case let (.bool(x)?, .bool(y)?): truth = x == y
                case let (.int(x)?, .int(y)?): truth = x == y
                case let (.float(x)?, .float(y)?): truth = x == y
                case let (.string(x)?, .string(y)?): truth = x == y
                default:
                    if let x = arg1, let y = arg {
                        let sameKind: Bool = switch (x, y) {
                        case (.list, .list): true
                        case (.map, .map): true
                        default: false
                        }
                        if !sameKind {
                            throw GoBuiltinError(message: "non-comparable types \(verbS(x)): \(x.goType), \(y.goType): \(GoFormat.plain(y))")
                        }
                        if case .map(let m) = y, m.record != nil { truth = false; break }
                        throw GoBuiltinError(message: "non-comparable type \(verbS(y)): \(y.goType)")
                    }
                    truth = arg1 == nil && arg == nil
                }
            }
            if truth { return true }
        }
        return false
    }

    private static func verbS(_ v: GoValue) -> String {
        var out = ""
        GoFormat.format(v, verb: "s", spec: GoFormat.Spec(), into: &out)
        return out
    }

    private static func lt(_ a1: GoVal, _ a2: GoVal) throws(GoBuiltinError) -> Bool {
        let x = ii(a1), y = ii(a2)
        let k1 = kind(x), k2 = kind(y)
        if k1 == .invalid || k2 == .invalid { throw GoBuiltinError(message: "invalid type for comparison") }
        if k1 != k2 { throw GoBuiltinError(message: "incompatible types for comparison") }
        switch (x, y) {
        case let (.int(p)?, .int(q)?): return p < q
        case let (.float(p)?, .float(q)?): return p < q
        case let (.string(p)?, .string(q)?): return Array(p.utf8).lexicographicallyPrecedes(Array(q.utf8))
        default: throw GoBuiltinError(message: "invalid type for comparison")
        }
    }
}
