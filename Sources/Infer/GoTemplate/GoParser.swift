// GoParser: Go text/template's parser (text/template/parse/parse.go) — the same grammar, the same checks at
// parse time (functions defined, variables declared, break/continue inside range, …) and the same error texts
// (`template: NAME:LINE: …`). Produces the main tree and the `define`/`block` trees by name.

indirect enum GoNode: Sendable {
    case text(String)
    case action(GoPipe)
    case ifNode(GoBranch)
    case rangeNode(GoBranch)
    case withNode(GoBranch)
    case template(pos: Int, name: String, pipe: GoPipe?)
    case breakNode(pos: Int)
    case continueNode(pos: Int)
}

struct GoBranch: Sendable {
    var pipe: GoPipe
    var list: [GoNode]
    var elseList: [GoNode]?
}

struct GoPipe: Sendable {
    var pos: Int
    var isAssign = false
    var decl: [String] = []
    var cmds: [GoCommand] = []
}

struct GoCommand: Sendable {
    var pos: Int
    var args: [GoArg] = []
}

indirect enum GoArg: Sendable {
    case field(pos: Int, idents: [String])
    case variable(pos: Int, idents: [String])
    case dot(pos: Int)
    case null(pos: Int)
    case bool(pos: Int, Bool)
    case number(pos: Int, text: String, value: GoValue)
    case string(pos: Int, quoted: String, value: String)
    case identifier(pos: Int, name: String)
    case pipe(GoPipe)
    case chain(pos: Int, node: GoArg, fields: [String])

    var pos: Int {
        switch self {
        case let .field(p, _), let .variable(p, _), let .dot(p), let .null(p), let .bool(p, _), let .number(p, _, _),
             let .string(p, _, _), let .identifier(p, _), let .chain(p, _, _): p
        case let .pipe(p): p.pos
        }
    }
}

/// A parse or exec error with Go's full text.
public struct GoTemplateError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

struct GoParser {
    private var tokens: [GoToken]
    private var i = 0
    private let name: String
    private let functions: Set<String>
    private var vars: [String] = ["$"]
    private var rangeDepth = 0
    private var actionLine = 0
    private var depth = 0
    private var lastLine = 1
    var defined: [String: [GoNode]] = [:]
    static let maxDepth = 200

    init(source: String, name: String, functions: Set<String>) {
        tokens = GoLexer.tokenize(source)
        self.name = name
        self.functions = functions
    }

    // MARK: tokens

    private mutating func next() -> GoToken {
        let t = tokens[min(i, tokens.count - 1)]
        i += 1
        lastLine = t.line
        return t
    }
    private mutating func backup(_ n: Int = 1) { i -= n }
    private func peek() -> GoToken { tokens[min(i, tokens.count - 1)] }
    private mutating func nextNonSpace() -> GoToken {
        var t = next()
        while t.kind == .space { t = next() }
        return t
    }
    private mutating func peekNonSpace() -> GoToken {
        let t = nextNonSpace()
        backup()
        return t
    }

    private func error(_ message: String) -> GoTemplateError {
        GoTemplateError(message: "template: \(name):\(lastLine): \(message)")
    }
    private func unexpected(_ t: GoToken, _ context: String) -> GoTemplateError {
        if t.kind == .error {
            var extra = ""
            if actionLine != 0, actionLine != t.line {
                extra = " in \(context)"
                if t.value.hasSuffix(" action") { extra = String(extra.dropFirst(4)) }
            }
            return error("\(t.value)\(extra)")
        }
        return error("unexpected \(t.description) in \(context)")
    }
    private mutating func expect(_ kind: GoToken.Kind, _ context: String) throws(GoTemplateError) -> GoToken {
        let t = nextNonSpace()
        guard t.kind == kind else { throw unexpected(t, context) }
        return t
    }

    // MARK: structure

    /// The main template's nodes; `defined` gets the define/block templates.
    mutating func parse() throws(GoTemplateError) -> [GoNode] {
        var root: [GoNode] = []
        while peek().kind != .eof {
            if peek().kind == .leftDelim {
                let mark = i
                _ = next()
                if nextNonSpace().kind == .kwDefine {
                    try parseDefinition()
                    continue
                }
                i = mark
            }
            switch try textOrAction() {
            case let .node(n): root.append(n)
            case let .end(s), let .else(s): throw error("unexpected \(s)")
            }
        }
        return root
    }

    private enum Item { case node(GoNode), end(String), `else`(String) }

    private mutating func parseDefinition() throws(GoTemplateError) {
        let context = "define clause"
        let t = nextNonSpace()
        guard t.kind == .string || t.kind == .rawString else { throw unexpected(t, context) }
        let name = try unquote(t.value)
        _ = try expect(.rightDelim, context)
        let saved = vars
        vars = ["$"]
        let (list, end) = try itemList()
        vars = saved
        guard case .end = end else { throw error("unexpected \(endText(end)) in \(context)") }
        add(name, list)
    }

    /// Go's Tree.add: a non-empty redefinition replaces; an empty one never replaces a non-empty one.
    private mutating func add(_ name: String, _ list: [GoNode]) {
        if let old = defined[name], !GoParser.isEmpty(old), GoParser.isEmpty(list) { return }
        defined[name] = list
    }
    static func isEmpty(_ nodes: [GoNode]) -> Bool {
        nodes.allSatisfy { if case let .text(s) = $0 { s.allSatisfy { " \t\r\n".contains($0) } } else { false } }
    }

    private func endText(_ item: Item) -> String {
        switch item {
        case let .end(s), let .else(s): s
        case .node: "node"
        }
    }

    private mutating func itemList() throws(GoTemplateError) -> ([GoNode], Item) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= GoParser.maxDepth else { throw error("exceeded maximum nesting depth (\(GoParser.maxDepth))") }
        var list: [GoNode] = []
        while peekNonSpace().kind != .eof {
            let item = try textOrAction()
            switch item {
            case let .node(n): list.append(n)
            default: return (list, item)
            }
        }
        throw error("unexpected EOF")
    }

    private mutating func textOrAction() throws(GoTemplateError) -> Item {
        let t = nextNonSpace()
        switch t.kind {
        case .text: return .node(.text(t.value))
        case .leftDelim:
            actionLine = t.line
            defer { actionLine = 0 }
            return try action()
        default: throw unexpected(t, "input")
        }
    }

    private mutating func action() throws(GoTemplateError) -> Item {
        let t = nextNonSpace()
        switch t.kind {
        case .kwBlock: return .node(try blockControl())
        case .kwBreak, .kwContinue:
            let word = t.kind == .kwBreak ? "break" : "continue"
            let n = nextNonSpace()
            guard n.kind == .rightDelim else { throw unexpected(n, "{{\(word)}}") }
            guard rangeDepth > 0 else { throw error("{{\(word)}} outside {{range}}") }
            return .node(t.kind == .kwBreak ? .breakNode(pos: t.pos) : .continueNode(pos: t.pos))
        case .kwElse:
            let p = peekNonSpace()
            if p.kind == .kwIf || p.kind == .kwWith { return .else("{{else}}") }
            _ = try expect(.rightDelim, "else")
            return .else("{{else}}")
        case .kwEnd:
            _ = try expect(.rightDelim, "end")
            return .end("{{end}}")
        case .kwIf: return .node(.ifNode(try parseControl("if")))
        case .kwRange: return .node(.rangeNode(try parseControl("range")))
        case .kwWith: return .node(.withNode(try parseControl("with")))
        case .kwTemplate: return .node(try templateControl())
        default:
            backup()
            return .node(.action(try pipeline("command", end: .rightDelim)))
        }
    }

    private mutating func parseControl(_ context: String) throws(GoTemplateError) -> GoBranch {
        let savedVars = vars.count
        defer { vars.removeLast(vars.count - savedVars) }
        let pipe = try pipeline(context, end: .rightDelim)
        if context == "range" { rangeDepth += 1 }
        let (list, first) = try itemList()
        var next = first
        if context == "range" { rangeDepth -= 1 }
        var elseList: [GoNode]? = nil
        if case .else = next {
            // "else if" / "else with": one {{end}} closes the chain.
            if context == "if", peekNonSpace().kind == .kwIf {
                _ = nextNonSpace()
                elseList = [.ifNode(try parseControl("if"))]
            } else if context == "with", peekNonSpace().kind == .kwWith {
                _ = nextNonSpace()
                elseList = [.withNode(try parseControl("with"))]
            } else {
                let (l, n) = try itemList()
                elseList = l
                next = n
                guard case .end = next else { throw error("expected end; found \(endText(next))") }
            }
        }
        return GoBranch(pipe: pipe, list: list, elseList: elseList)
    }

    private mutating func templateControl() throws(GoTemplateError) -> GoNode {
        let context = "template clause"
        let t = nextNonSpace()
        guard t.kind == .string || t.kind == .rawString else { throw unexpected(t, context) }
        let name = try unquote(t.value)
        var pipe: GoPipe? = nil
        if nextNonSpace().kind != .rightDelim {
            backup()
            pipe = try pipeline(context, end: .rightDelim)
        }
        return .template(pos: t.pos, name: name, pipe: pipe)
    }

    private mutating func blockControl() throws(GoTemplateError) -> GoNode {
        let context = "block clause"
        let t = nextNonSpace()
        guard t.kind == .string || t.kind == .rawString else { throw unexpected(t, context) }
        let name = try unquote(t.value)
        let pipe = try pipeline(context, end: .rightDelim)
        let saved = (vars, rangeDepth)
        vars = ["$"]; rangeDepth = 0
        let (list, end) = try itemList()
        (vars, rangeDepth) = saved
        guard case .end = end else { throw error("unexpected \(endText(end)) in \(context)") }
        add(name, list)
        return .template(pos: t.pos, name: name, pipe: pipe)
    }

    // MARK: pipelines

    private mutating func pipeline(_ context: String, end: GoToken.Kind) throws(GoTemplateError) -> GoPipe {
        var pipe = GoPipe(pos: peekNonSpace().pos)
        decls: while peekNonSpace().kind == .variable {
            let v = nextNonSpace()
            let after = peek()
            let next = peekNonSpace()
            if next.kind == .assign || next.kind == .declare {
                pipe.isAssign = next.kind == .assign
                _ = nextNonSpace()
                pipe.decl.append(v.value)
                vars.append(v.value)
            } else if next.kind == .comma {
                _ = nextNonSpace()
                pipe.decl.append(v.value)
                vars.append(v.value)
                if context == "range", pipe.decl.count < 2 {
                    switch peekNonSpace().kind {
                    case .variable, .rightDelim, .rightParen: continue decls
                    default: throw error("range can only initialize variables")
                    }
                }
                throw error("too many declarations in \(context)")
            } else if after.kind == .space {
                backup(2)
            } else {
                backup()
            }
            break
        }
        while true {
            let t = nextNonSpace()
            if t.kind == end {
                guard !pipe.cmds.isEmpty else { throw error("missing value for \(context)") }
                for (k, c) in pipe.cmds.enumerated().dropFirst() {
                    switch c.args[0] {
                    case .bool, .dot, .null, .number, .string:
                        throw error("non executable command in pipeline stage \(k + 1)")
                    default: break
                    }
                }
                return pipe
            }
            switch t.kind {
            case .bool, .char, .dot, .field, .identifier, .number, .null, .rawString, .string, .variable, .leftParen:
                backup()
                pipe.cmds.append(try command())
            default:
                throw unexpected(t, context)
            }
        }
    }

    private mutating func command() throws(GoTemplateError) -> GoCommand {
        var cmd = GoCommand(pos: peekNonSpace().pos)
        while true {
            _ = peekNonSpace()
            if let operand = try operand() { cmd.args.append(operand) }
            let t = next()
            switch t.kind {
            case .space: continue
            case .rightDelim, .rightParen: backup()
            case .pipe: break
            default: throw unexpected(t, "operand")
            }
            break
        }
        guard !cmd.args.isEmpty else { throw error("empty command") }
        return cmd
    }

    private mutating func operand() throws(GoTemplateError) -> GoArg? {
        guard let node = try term() else { return nil }
        guard peek().kind == .field else { return node }
        let chainPos = peek().pos
        var fields: [String] = []
        while peek().kind == .field { fields.append(String(next().value.dropFirst())) }
        switch node {
        case let .field(_, idents): return .field(pos: chainPos, idents: idents + fields)
        case let .variable(_, idents): return .variable(pos: chainPos, idents: idents + fields)
        case .bool, .string, .number, .null, .dot:
            throw error("unexpected . after term \(goQuote(GoFormat.node(node)))")
        default: return .chain(pos: chainPos, node: node, fields: fields)
        }
    }

    private mutating func term() throws(GoTemplateError) -> GoArg? {
        let t = nextNonSpace()
        switch t.kind {
        case .identifier:
            guard functions.contains(t.value) else { throw error("function \(goQuote(t.value)) not defined") }
            return .identifier(pos: t.pos, name: t.value)
        case .dot: return .dot(pos: t.pos)
        case .null: return .null(pos: t.pos)
        case .variable:
            let idents = t.value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard vars.contains(idents[0]) else { throw error("undefined variable \(goQuote(idents[0]))") }
            return .variable(pos: t.pos, idents: idents)
        case .field: return .field(pos: t.pos, idents: [String(t.value.dropFirst())])
        case .bool: return .bool(pos: t.pos, t.value == "true")
        case .char, .number: return .number(pos: t.pos, text: t.value, value: try number(t))
        case .leftParen:
            depth += 1
            defer { depth -= 1 }
            guard depth <= GoParser.maxDepth else { throw error("exceeded maximum nesting depth (\(GoParser.maxDepth))") }
            return .pipe(try pipeline("parenthesized pipeline", end: .rightParen))
        case .string, .rawString: return .string(pos: t.pos, quoted: t.value, value: try unquote(t.value))
        default:
            backup()
            return nil
        }
    }

    // MARK: literals

    private func number(_ t: GoToken) throws(GoTemplateError) -> GoValue {
        let s = t.value
        if t.kind == .char {
            let inner = try unquote("\"" + s.dropFirst().dropLast() + "\"", char: true)
            guard inner.unicodeScalars.count == 1, let u = inner.unicodeScalars.first else {
                throw error("malformed character constant: \(s)")
            }
            return .int(Int(u.value))
        }
        if s.hasSuffix("i") { throw error("complex numbers are not supported: \(s)") }
        if let v = GoParser.parseInt(s) { return .int(v) }
        let lower = s.lowercased()
        let isHex = lower.hasPrefix("0x") || lower.hasPrefix("-0x") || lower.hasPrefix("+0x")
        if !isHex, let d = Double(s.replacingOccurrences(of: "_", with: "")), d.isFinite {
            return .float(d)
        }
        throw error("illegal number syntax: \(goQuote(s))")
    }

    /// strconv.ParseInt(s, 0, 64): sign, 0x/0o/0b/0 prefixes, underscores between digits.
    static func parseInt(_ s: String) -> Int? {
        var t = Substring(s)
        var neg = false
        if t.first == "+" || t.first == "-" { neg = t.first == "-"; t = t.dropFirst() }
        var radix = 10
        let l = t.lowercased()
        if l.hasPrefix("0x") { radix = 16; t = t.dropFirst(2) }
        else if l.hasPrefix("0o") { radix = 8; t = t.dropFirst(2) }
        else if l.hasPrefix("0b") { radix = 2; t = t.dropFirst(2) }
        else if l.hasPrefix("0"), l.count > 1 { radix = 8; t = t.dropFirst() }
        if t.contains("_") {
            if t.hasPrefix("_") && radix == 10 { return nil }
            if t.hasSuffix("_") || t.contains("__") { return nil }
            t = Substring(t.replacingOccurrences(of: "_", with: ""))
        }
        guard !t.isEmpty, let mag = UInt64(t, radix: radix) else { return nil }
        if neg { return mag <= UInt64(Int.max) + 1 ? (mag == UInt64(Int.max) + 1 ? Int.min : -Int(mag)) : nil }
        return mag <= UInt64(Int.max) ? Int(mag) : nil
    }

    /// strconv.Unquote for "…" and `…` literals.
    private func unquote(_ s: String, char: Bool = false) throws(GoTemplateError) -> String {
        if s.hasPrefix("`") { return String(s.dropFirst().dropLast()) }
        let u = Array(s.unicodeScalars.dropFirst().dropLast())
        var out = String.UnicodeScalarView()
        var k = 0
        func hex(_ n: Int) throws(GoTemplateError) -> UInt32 {
            guard k + n <= u.count, let v = UInt32(String(String.UnicodeScalarView(u[k..<(k + n)])), radix: 16) else {
                throw error("invalid syntax")
            }
            k += n
            return v
        }
        var bytes: [UInt8] = []   // \x and octal escapes are bytes
        func flushBytes() { if !bytes.isEmpty { out.append(contentsOf: String(decoding: bytes, as: UTF8.self).unicodeScalars); bytes = [] } }
        while k < u.count {
            let c = u[k]; k += 1
            if c != "\\" {
                if c == "\"" && !char { throw error("invalid syntax") }
                flushBytes(); out.append(c); continue
            }
            guard k < u.count else { throw error("invalid syntax") }
            let e = u[k]; k += 1
            switch e {
            case "a": flushBytes(); out.append("\u{07}")
            case "b": flushBytes(); out.append("\u{08}")
            case "f": flushBytes(); out.append("\u{0C}")
            case "n": flushBytes(); out.append("\n")
            case "r": flushBytes(); out.append("\r")
            case "t": flushBytes(); out.append("\t")
            case "v": flushBytes(); out.append("\u{0B}")
            case "\\": flushBytes(); out.append("\\")
            case "\"" where !char, "'" where char: flushBytes(); out.append(e)
            case "x": bytes.append(UInt8(try hex(2)))
            case "u", "U":
                let v = try hex(e == "u" ? 4 : 8)
                guard let sc = Unicode.Scalar(v) else { throw error("invalid syntax") }
                flushBytes(); out.append(sc)
            case "0"..."7":
                k -= 1
                guard k + 3 <= u.count, let v = UInt32(String(String.UnicodeScalarView(u[k..<(k + 3)])), radix: 8), v < 256 else {
                    throw error("invalid syntax")
                }
                k += 3
                bytes.append(UInt8(v))
            default: throw error("invalid syntax")
            }
        }
        flushBytes()
        return String(out)
    }
}
