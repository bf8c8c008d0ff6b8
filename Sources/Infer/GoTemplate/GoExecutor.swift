// GoExecutor: runs a parsed Go template as text/template's exec.go does — pipelines with the previous result as
// the last argument, variables and their scopes, if/with/range (lists, maps by sorted key, ints) with
// break/continue, {{template}}, the builtins, missingkey=zero or default, and Go's exec error texts
// (`template: NAME:LINE:COL: executing "T" at <NODE>: …`). Bounded: steps, output bytes and template call depth,
// so an untrusted template ends with an error instead of running forever or exhausting memory or the stack.

/// A value as reflect sees it: `v == nil` is an invalid Value (no value); `boxed` says its static type is
/// `interface {}` (an element of a list or map), which Go names in error texts and digs out after a pipeline.
struct GoVal {
    var v: GoValue?
    var boxed = false
    static let invalid = GoVal(v: nil)
}

struct GoExecutor {
    struct Limits: Sendable {
        var maxSteps = 10_000_000
        var maxOutputBytes = 64 << 20
        var maxDepth = 100
        var maxNesting = 1000
    }

    enum Signal { case normal, breakLoop, continueLoop }

    let source: [UInt8]
    let parseName: String
    let templates: [String: [GoNode]]
    let missingKeyZero: Bool
    let extraFunctions: Bool   // Ollama's `json`
    let limits: Limits

    var out = ""
    private var outBytes = 0
    private var steps = 0
    private var depth = 0
    private var nesting = 0   // walk/pipeline recursion across template calls (the Swift stack)
    private var vars: [(name: String, value: GoVal)] = []
    private var tmplName = ""
    private var nodePos = 0
    private var nodeText = ""

    init(source: String, parseName: String, templates: [String: [GoNode]], missingKeyZero: Bool,
         extraFunctions: Bool, limits: Limits) {
        self.source = Array(source.utf8)
        self.parseName = parseName
        self.templates = templates
        self.missingKeyZero = missingKeyZero
        self.extraFunctions = extraFunctions
        self.limits = limits
    }

    mutating func run(_ nodes: [GoNode], name: String, data: GoValue) throws(GoTemplateError) {
        tmplName = name
        let dot = GoVal(v: data)
        vars = [("$", dot)]
        _ = try walk(dot, nodes)
    }

    // MARK: errors

    private mutating func at(_ pos: Int, _ text: String) { nodePos = pos; nodeText = text }
    private mutating func at(_ a: GoArg) { at(a.pos, GoFormat.node(a)) }

    private func fail(_ message: String) -> GoTemplateError {
        let pos = min(nodePos, source.count)
        var line = 1, lineStart = 0
        for k in 0..<pos where source[k] == 0x0A { line += 1; lineStart = k + 1 }
        return GoTemplateError(message: "template: \(parseName):\(line):\(pos - lineStart): executing \(goQuote(tmplName)) at <\(nodeText)>: \(message)")
    }

    private mutating func step() throws(GoTemplateError) {
        steps += 1
        if steps > limits.maxSteps {
            throw GoTemplateError(message: "template: \(parseName): execution exceeded \(limits.maxSteps) steps")
        }
    }

    private mutating func write(_ s: String) throws(GoTemplateError) {
        outBytes += s.utf8.count
        if outBytes > limits.maxOutputBytes {
            throw GoTemplateError(message: "template: \(parseName): output exceeded \(limits.maxOutputBytes) bytes")
        }
        out += s
    }

    // MARK: walk

    private mutating func walk(_ dot: GoVal, _ nodes: [GoNode]) throws(GoTemplateError) -> Signal {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > limits.maxNesting { throw fail("exceeded maximum nesting depth (\(limits.maxNesting))") }
        for n in nodes {
            try step()
            switch n {
            case let .text(s): try write(s)
            case let .action(pipe):
                let v = try evalPipeline(dot, pipe)
                if pipe.decl.isEmpty {
                    try write(v.v.map { GoFormat.plain($0) } ?? "<no value>")
                }
            case let .ifNode(b):
                let s = try walkIfOrWith(dot, b, with: false)
                if s != .normal { return s }
            case let .withNode(b):
                let s = try walkIfOrWith(dot, b, with: true)
                if s != .normal { return s }
            case let .rangeNode(b):
                try walkRange(dot, b)
            case let .template(pos, name, pipe):
                try walkTemplate(dot, pos: pos, name: name, pipe: pipe)
            case .breakNode: return .breakLoop
            case .continueNode: return .continueLoop
            }
        }
        return .normal
    }

    private mutating func walkIfOrWith(_ dot: GoVal, _ b: GoBranch, with: Bool) throws(GoTemplateError) -> Signal {
        let mark = vars.count
        defer { vars.removeLast(vars.count - mark) }
        let val = try evalPipeline(dot, b.pipe)
        if val.v?.isTrue ?? false {
            return try walk(with ? val : dot, b.list)
        } else if let e = b.elseList {
            return try walk(dot, e)
        }
        return .normal
    }

    private mutating func walkRange(_ dot: GoVal, _ b: GoBranch) throws(GoTemplateError) {
        let outer = vars.count
        defer { vars.removeLast(vars.count - outer) }
        let val = try evalPipeline(dot, b.pipe)
        let mark = vars.count
        let decl = b.pipe.decl
        // One pass of the body; false when it ended with {{break}}.
        func iteration(_ this: inout GoExecutor, index: GoVal, elem: GoVal) throws(GoTemplateError) -> Bool {
            if !decl.isEmpty {
                if b.pipe.isAssign {
                    try this.setVar(decl[0], decl.count > 1 ? index : elem)
                } else {
                    this.vars[mark - 1].value = elem
                }
            }
            if decl.count > 1 {
                if b.pipe.isAssign { try this.setVar(decl[1], elem) } else { this.vars[mark - 2].value = index }
            }
            defer { this.vars.removeLast(this.vars.count - mark) }
            return try this.walk(elem, b.list) != .breakLoop
        }
        switch val.v {
        case let .list(l)? where !l.isEmpty:
            for (k, e) in l.enumerated() {
                guard try iteration(&self, index: GoVal(v: .int(k)), elem: GoVal(v: e, boxed: true)) else { break }
            }
            return
        case let .map(m)? where m.record == nil && m.count > 0:
            for key in m.sortedKeys {
                guard try iteration(&self, index: GoVal(v: .string(key)), elem: GoVal(v: m[key], boxed: true)) else { break }
            }
            return
        case let .int(n)?:
            if decl.count > 1 { throw fail("can't use \(n) to iterate over more than one variable") }
            if n > 0 {
                for k in 0..<n {
                    try step()
                    guard try iteration(&self, index: GoVal(v: .int(k)), elem: GoVal(v: .int(k))) else { break }
                }
                return
            }
        case .list?, nil:
            break
        case let .map(m)? where m.record == nil:
            break
        case let v?:
            throw fail("range can't iterate over \(GoFormat.plain(v))")
        }
        if let e = b.elseList { _ = try walk(dot, e) }
    }

    private mutating func walkTemplate(_ dot: GoVal, pos: Int, name: String, pipe: GoPipe?) throws(GoTemplateError) {
        at(pos, "{{template \(goQuote(name))\(pipe.map { " " + GoFormat.pipe($0) } ?? "")}}")
        guard let nodes = templates[name] else { throw fail("template \(goQuote(name)) not defined") }
        guard depth < limits.maxDepth else { throw fail("exceeded maximum template depth (\(limits.maxDepth))") }
        let newDot = try pipe.map { p throws(GoTemplateError) in try evalPipeline(dot, p) } ?? .invalid
        let saved = (vars, tmplName)
        vars = [("$", newDot)]
        tmplName = name
        depth += 1
        defer { depth -= 1; (vars, tmplName) = saved }
        _ = try walk(newDot, nodes)
    }

    // MARK: pipelines and commands

    private mutating func evalPipeline(_ dot: GoVal, _ pipe: GoPipe) throws(GoTemplateError) -> GoVal {
        nesting += 1
        defer { nesting -= 1 }
        at(pipe.pos, GoFormat.pipe(pipe))
        if nesting > limits.maxNesting { throw fail("exceeded maximum nesting depth (\(limits.maxNesting))") }
        var value: GoVal? = nil
        for cmd in pipe.cmds {
            try step()
            var v = try evalCommand(dot, cmd, final: value)
            if v.boxed { v = GoVal(v: v.v == .null ? nil : v.v) }   // dig the value out of its interface
            value = v
        }
        let result = value ?? .invalid
        for name in pipe.decl {
            if pipe.isAssign { try setVar(name, result) } else { vars.append((name, result)) }
        }
        return result
    }

    private mutating func setVar(_ name: String, _ value: GoVal) throws(GoTemplateError) {
        guard let k = vars.lastIndex(where: { $0.name == name }) else { throw fail("undefined variable: \(name)") }
        vars[k].value = value
    }

    private func varValue(_ name: String) throws(GoTemplateError) -> GoVal {
        guard let k = vars.lastIndex(where: { $0.name == name }) else { throw fail("undefined variable: \(name)") }
        return vars[k].value
    }

    private mutating func notAFunction(_ args: [GoArg], _ final: GoVal?) throws(GoTemplateError) {
        if args.count > 1 || final != nil { throw fail("can't give argument to non-function \(GoFormat.node(args[0]))") }
    }

    private mutating func evalCommand(_ dot: GoVal, _ cmd: GoCommand, final: GoVal?) throws(GoTemplateError) -> GoVal {
        let first = cmd.args[0]
        switch first {
        case let .field(_, idents):
            at(first)
            return try evalFieldChain(dot, receiver: dot, idents[...], args: cmd.args, final: final)
        case .chain:
            return try evalChain(dot, first, args: cmd.args, final: final)
        case let .identifier(_, name):
            return try evalFunction(dot, name: name, node: first, cmd: cmd, args: cmd.args, final: final)
        case let .pipe(p):
            try notAFunction(cmd.args, final)
            return try evalPipeline(dot, p)
        case let .variable(_, idents):
            at(first)
            let value = try varValue(idents[0])
            if idents.count == 1 { try notAFunction(cmd.args, final); return value }
            return try evalFieldChain(dot, receiver: value, idents[1...], args: cmd.args, final: final)
        default: break
        }
        at(first)
        try notAFunction(cmd.args, final)
        switch first {
        case let .bool(_, b): return GoVal(v: .bool(b))
        case .dot: return dot
        case .null: throw fail("nil is not a command")
        case let .number(_, _, v): return GoVal(v: v)
        case let .string(_, _, s): return GoVal(v: .string(s))
        default: return .invalid
        }
    }

    private mutating func evalChain(_ dot: GoVal, _ chain: GoArg, args: [GoArg], final: GoVal?) throws(GoTemplateError) -> GoVal {
        guard case let .chain(_, node, fields) = chain else { return .invalid }
        at(chain)
        if case .null = node { throw fail("indirection through explicit nil in \(GoFormat.node(chain))") }
        let receiver = try evalArg(dot, .untyped, node)
        return try evalFieldChain(dot, receiver: receiver, fields[...], args: args, final: final)
    }

    private mutating func evalFieldChain(_ dot: GoVal, receiver: GoVal, _ idents: ArraySlice<String>, args: [GoArg],
                                         final: GoVal?) throws(GoTemplateError) -> GoVal {
        var r = receiver
        for name in idents.dropLast() { r = try evalField(name, args: [], final: nil, receiver: r) }
        return try evalField(idents.last!, args: args, final: final, receiver: r)
    }

    private mutating func evalField(_ name: String, args: [GoArg], final: GoVal?, receiver: GoVal) throws(GoTemplateError) -> GoVal {
        guard let rv = receiver.v else { return .invalid }
        let typ = receiver.boxed ? "interface {}" : rv.goType
        if rv == .null { throw fail("nil pointer evaluating \(typ).\(name)") }
        let hasArgs = args.count > 1 || final != nil
        if case let .map(m) = rv {
            if let rec = m.record {
                if let f = m[name] {
                    if hasArgs { throw fail("\(name) has arguments but cannot be invoked as function") }
                    return GoVal(v: f)
                }
                throw fail("can't evaluate field \(name) in type \(rec.typeName)")
            }
            if hasArgs { throw fail("\(name) is not a method but has arguments") }
            if let x = m[name] { return GoVal(v: x, boxed: true) }
            return missingKeyZero ? GoVal(v: .null, boxed: true) : .invalid
        }
        throw fail("can't evaluate field \(name) in type \(typ)")
    }

    // MARK: arguments

    enum ArgType { case untyped, any, value, string }

    private mutating func evalArg(_ dot: GoVal, _ type: ArgType, _ n: GoArg) throws(GoTemplateError) -> GoVal {
        at(n)
        switch n {
        case .dot: return try validate(dot, type)
        case .null:
            switch type {
            case .any: return GoVal(v: .null, boxed: true)
            case .value: return .invalid   // reflect.Zero(reflect.Value): no value
            case .string: throw fail("cannot assign nil to string")
            case .untyped: throw fail("evalEmptyInterface: nil (can't happen)")
            }
        case let .field(_, idents):
            return try validate(evalFieldChain(dot, receiver: dot, idents[...], args: [n], final: nil), type)
        case let .variable(_, idents):
            let value = try varValue(idents[0])
            if idents.count == 1 { return try validate(value, type) }
            return try validate(evalFieldChain(dot, receiver: value, idents[1...], args: [n], final: nil), type)
        case let .pipe(p): return try validate(evalPipeline(dot, p), type)
        case let .identifier(_, name):
            return try validate(evalFunction(dot, name: name, node: n, cmd: nil, args: [n], final: nil), type)
        case .chain: return try validate(evalChain(dot, n, args: [n], final: nil), type)
        case let .bool(_, b):
            if type == .string { throw fail("expected string; found \(GoFormat.node(n))") }
            return GoVal(v: .bool(b))
        case let .number(_, _, v):
            if type == .string { throw fail("expected string; found \(GoFormat.node(n))") }
            return GoVal(v: v)
        case let .string(_, _, s): return GoVal(v: .string(s))
        }
    }

    private func validate(_ v: GoVal, _ type: ArgType) throws(GoTemplateError) -> GoVal {
        guard let value = v.v else {
            switch type {
            case .untyped: return .invalid
            case .any: return GoVal(v: .null, boxed: true)
            case .value: return .invalid
            case .string: throw fail("invalid value; expected string")
            }
        }
        if type == .string {
            if case .string = value { return v }
            throw fail("wrong type for value; expected string; got \(value == .null ? "interface {}" : value.goType)")
        }
        return v
    }

    // MARK: functions

    static let builtins: Set<String> = ["and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge",
                                        "print", "printf", "println", "html", "js", "urlquery", "call"]

    /// (fixed parameter count, variadic, type of the fixed parameters, type of the variadic ones)
    private static func signature(_ name: String) -> (Int, Bool, ArgType, ArgType) {
        switch name {
        case "and", "or", "index", "slice", "eq", "call": (1, true, .value, .value)
        case "not", "len": (1, false, .value, .value)
        case "ne", "lt", "le", "gt", "ge": (2, false, .value, .value)
        case "printf": (1, true, .string, .any)
        case "json": (1, false, .any, .any)
        default: (0, true, .any, .any)   // print, println, html, js, urlquery
        }
    }

    private mutating func evalFunction(_ dot: GoVal, name: String, node: GoArg, cmd: GoCommand?, args: [GoArg],
                                       final: GoVal?) throws(GoTemplateError) -> GoVal {
        at(node)
        guard GoExecutor.builtins.contains(name) || (extraFunctions && name == "json") else {
            throw fail("\(goQuote(name)) is not a defined function")
        }
        let argNodes = Array(args.dropFirst())
        let numIn = argNodes.count + (final != nil ? 1 : 0)
        let (fixed, variadic, fixedType, restType) = GoExecutor.signature(name)
        if variadic {
            if numIn < fixed { throw fail("wrong number of args for \(name): want at least \(fixed) got \(argNodes.count)") }
        } else if numIn != fixed {
            throw fail("wrong number of args for \(name): want \(fixed) got \(numIn)")
        }
        if name == "and" || name == "or" {
            var v = GoVal.invalid
            for a in argNodes {
                v = try evalArg(dot, .value, a)
                if (v.v?.isTrue ?? false) == (name == "or") { return v }
            }
            if let final { v = try validate(final, .value) }
            return v
        }
        var values: [GoVal] = []
        for (k, a) in argNodes.enumerated() { values.append(try evalArg(dot, k < fixed ? fixedType : restType, a)) }
        if let final { values.append(try validate(final, values.count < fixed ? fixedType : restType)) }
        do {
            return try GoBuiltins.call(name, values)
        } catch {
            if let cmd { at(cmd.pos, GoFormat.command(cmd)) } else { at(node) }
            throw fail("error calling \(name): \(error.message)")
        }
    }
}
