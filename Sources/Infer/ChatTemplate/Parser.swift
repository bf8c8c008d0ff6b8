// TemplateParser: tokens → a tree of statements and expressions, following jinja2's grammar and operator precedence
// (ternary < or < and < not < comparisons/in < + - < ~ < * / // % < ** < unary - + < postfix . [] () and
// filters | / tests `is`). Statements: if/elif/else, for (tuple targets, `if` filter, else), set (names,
// tuples, namespace attributes, block set), macro, with, break/continue (Hugging Face enables
// loopcontrols), filter blocks, raw (handled by the lexer), Hugging Face's `generation` block. Anything
// else — extends, include, import, call blocks — is a clear error at its position, and so is an unknown
// filter or test (at parse time, or when reached inside an `if`, as jinja2 does).

indirect enum TemplateExpr: Sendable {
    case constant(JinjaValue)
    case name(String, TemplatePosition)
    case list([TemplateExpr])
    case tuple([TemplateExpr])
    case dict([(TemplateExpr, TemplateExpr)], TemplatePosition)
    case attribute(TemplateExpr, String, TemplatePosition)
    case item(TemplateExpr, TemplateExpr, TemplatePosition)
    case slice(TemplateExpr, TemplateExpr?, TemplateExpr?, TemplateExpr?, TemplatePosition)
    case call(TemplateExpr, CallArguments, TemplatePosition)
    case filter(TemplateExpr, String, CallArguments, TemplatePosition)
    case test(TemplateExpr, String, CallArguments, TemplatePosition)
    case not(TemplateExpr)
    case negate(TemplateExpr, TemplatePosition)
    case plus(TemplateExpr, TemplatePosition)
    case and(TemplateExpr, TemplateExpr)
    case or(TemplateExpr, TemplateExpr)
    case binary(String, TemplateExpr, TemplateExpr, TemplatePosition)
    /// `a < b <= c`: each comparison against the previous operand, all must hold.
    case compare(TemplateExpr, [(String, TemplateExpr)], TemplatePosition)
    case conditional(test: TemplateExpr, then: TemplateExpr, otherwise: TemplateExpr?)
}

struct CallArguments: Sendable {
    var positional: [TemplateExpr] = []
    var keywords: [(String, TemplateExpr)] = []
}

/// Where a `set` or `for` stores its value.
indirect enum AssignTarget: Sendable {
    case name(String)
    case namespaceAttribute(String, String, TemplatePosition)
    case tuple([AssignTarget], TemplatePosition)
}

indirect enum TemplateNode: Sendable {
    case text(String)
    case output(TemplateExpr, TemplatePosition)
    case conditional([(TemplateExpr, [TemplateNode])], otherwise: [TemplateNode])
    case loop(target: AssignTarget, iterable: TemplateExpr, filter: TemplateExpr?, body: [TemplateNode], otherwise: [TemplateNode], TemplatePosition)
    case assign(AssignTarget, TemplateExpr, TemplatePosition)
    case assignBlock(String, [TemplateNode], filters: [(String, CallArguments, TemplatePosition)])
    case macro(MacroDefinition)
    case with([(AssignTarget, TemplateExpr)], [TemplateNode])
    /// `{% filter f | g %}body{% endfilter %}`: the body's text through the filters.
    case filterBlock([(String, CallArguments, TemplatePosition)], [TemplateNode])
    case breakLoop(TemplatePosition)
    case continueLoop(TemplatePosition)
}

struct MacroDefinition: Sendable {
    var name: String
    var parameters: [(String, TemplateExpr?)]
    var body: [TemplateNode]
}

struct TemplateParser {
    private var tokens: [TemplateToken]
    private var i = 0

    static func parse(_ tokens: [TemplateToken]) throws -> [TemplateNode] {
        var parser = TemplateParser(tokens: tokens)
        let (nodes, stop) = try parser.subparse(until: [])
        if let stop { throw TemplateError("unexpected '\(stop)'", at: parser.current.position) }
        try checkNames(nodes, soft: false)
        return nodes
    }

    // MARK: - unknown filters and tests

    /// jinja2 rejects an unknown filter or test when it compiles a template — except inside an `if` (a "soft"
    /// frame: the error waits until that branch runs). Loop bodies, macros and blocks open frames that are not soft.
    private static func checkNames(_ nodes: [TemplateNode], soft: Bool) throws {
        for node in nodes {
            switch node {
            case .text, .breakLoop, .continueLoop: break
            case let .output(e, _): try checkNames(e, soft: soft)
            case let .assign(_, e, _): try checkNames(e, soft: soft)
            case let .conditional(branches, otherwise):
                for (test, body) in branches {
                    try checkNames(test, soft: true)
                    try checkNames(body, soft: true)
                }
                try checkNames(otherwise, soft: true)
            case let .loop(_, iterable, filter, body, otherwise, _):
                try checkNames(iterable, soft: soft)
                if let filter { try checkNames(filter, soft: false) }
                try checkNames(body, soft: false)
                try checkNames(otherwise, soft: false)
            case let .assignBlock(_, body, filters):
                for (name, args, p) in filters { try checkFilter(name, args, p, soft: false) }
                try checkNames(body, soft: false)
            case let .filterBlock(filters, body):
                for (name, args, p) in filters { try checkFilter(name, args, p, soft: false) }
                try checkNames(body, soft: false)
            case let .macro(def):
                for case let (_, e?) in def.parameters { try checkNames(e, soft: false) }
                try checkNames(def.body, soft: false)
            case let .with(assignments, body):
                for (_, e) in assignments { try checkNames(e, soft: soft) }
                try checkNames(body, soft: false)
            }
        }
    }

    private static func checkFilter(_ name: String, _ args: CallArguments, _ p: TemplatePosition, soft: Bool) throws {
        if !soft && !TemplateInterpreter.filterNames.contains(name) { throw TemplateError("no filter named '\(name)'", at: p) }
        for e in args.positional { try checkNames(e, soft: soft) }
        for (_, e) in args.keywords { try checkNames(e, soft: soft) }
    }

    private static func checkNames(_ e: TemplateExpr, soft: Bool) throws {
        switch e {
        case .constant, .name: break
        case let .list(items), let .tuple(items): for i in items { try checkNames(i, soft: soft) }
        case let .dict(pairs, _):
            for (k, v) in pairs {
                try checkNames(k, soft: soft)
                try checkNames(v, soft: soft)
            }
        case let .attribute(base, _, _): try checkNames(base, soft: soft)
        case let .item(base, index, _):
            try checkNames(base, soft: soft)
            try checkNames(index, soft: soft)
        case let .slice(base, a, b, c, _):
            for x in [base, a, b, c] { if let x { try checkNames(x, soft: soft) } }
        case let .call(callee, args, _):
            try checkNames(callee, soft: soft)
            for x in args.positional { try checkNames(x, soft: soft) }
            for (_, x) in args.keywords { try checkNames(x, soft: soft) }
        case let .filter(base, name, args, p):
            try checkNames(base, soft: soft)
            try checkFilter(name, args, p, soft: soft)
        case let .test(base, name, args, p):
            try checkNames(base, soft: soft)
            if !soft && !TemplateInterpreter.testNames.contains(name) { throw TemplateError("no test named '\(name)'", at: p) }
            for x in args.positional { try checkNames(x, soft: soft) }
            for (_, x) in args.keywords { try checkNames(x, soft: soft) }
        case let .not(x), let .negate(x, _), let .plus(x, _): try checkNames(x, soft: soft)
        case let .and(a, b), let .or(a, b), let .binary(_, a, b, _):
            try checkNames(a, soft: soft)
            try checkNames(b, soft: soft)
        case let .compare(first, rest, _):
            try checkNames(first, soft: soft)
            for (_, x) in rest { try checkNames(x, soft: soft) }
        case let .conditional(test, then, otherwise):
            try checkNames(test, soft: soft)
            try checkNames(then, soft: soft)
            if let otherwise { try checkNames(otherwise, soft: soft) }
        }
    }

    private init(tokens: [TemplateToken]) { self.tokens = tokens }

    private var current: TemplateToken { tokens[i] }
    private func peek(_ k: Int = 1) -> TemplateToken { tokens[min(i + k, tokens.count - 1)] }
    private mutating func advance() -> TemplateToken { let t = tokens[i]; if i < tokens.count - 1 { i += 1 }; return t }

    private func describe(_ k: TemplateTokenKind) -> String {
        switch k {
        case let .data(s): "text '\(s.prefix(20))'"
        case .variableBegin: "'{{'"
        case .variableEnd: "end of print statement '}}'"
        case .blockBegin: "'{%'"
        case .blockEnd: "end of statement block '%}'"
        case let .name(n): "'\(n)'"
        case let .string(s): "string '\(s.prefix(20))'"
        case let .integer(n): "integer \(n)"
        case let .float(d): "number \(d)"
        case let .op(o): "'\(o)'"
        case .end: "end of template"
        }
    }

    private func fail(_ message: String) -> TemplateError { TemplateError(message, at: current.position) }

    private func isName(_ n: String, _ t: TemplateToken? = nil) -> Bool { (t ?? current).kind == .name(n) }
    private func isOp(_ o: String) -> Bool { current.kind == .op(o) }

    private mutating func skip(op o: String) -> Bool {
        if isOp(o) { _ = advance(); return true }
        return false
    }

    private mutating func skip(name n: String) -> Bool {
        if isName(n) { _ = advance(); return true }
        return false
    }

    private mutating func expect(op o: String) throws {
        guard skip(op: o) else { throw fail("expected '\(o)', got \(describe(current.kind))") }
    }

    private mutating func expectName() throws -> String {
        guard case let .name(n) = current.kind else { throw fail("expected a name, got \(describe(current.kind))") }
        _ = advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw fail("expected end of statement block '%}', got \(describe(current.kind))") }
        _ = advance()
    }

    // MARK: - statements

    /// Nodes up to a `{% name %}` whose name is in `until` (returned, with the cursor on that name), or the end.
    private mutating func subparse(until: Set<String>) throws -> ([TemplateNode], String?) {
        var body: [TemplateNode] = []
        while true {
            let t = current
            switch t.kind {
            case let .data(s):
                body.append(.text(s))
                _ = advance()
            case .variableBegin:
                _ = advance()
                let e = try parseTuple()
                guard current.kind == .variableEnd else {
                    throw fail("expected end of print statement '}}', got \(describe(current.kind))")
                }
                _ = advance()
                body.append(.output(e, t.position))
            case .blockBegin:
                _ = advance()
                if case let .name(n) = current.kind, until.contains(n) { return (body, n) }
                body.append(try parseStatement())
            case .end:
                if !until.isEmpty {
                    let names = until.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw fail("unexpected end of template, expected \(names)")
                }
                return (body, nil)
            default:
                throw fail("unexpected \(describe(t.kind))")
            }
        }
    }

    private mutating func parseStatement() throws -> TemplateNode {
        let start = current.position
        guard case let .name(tag) = current.kind else { throw fail("expected a tag name, got \(describe(current.kind))") }
        switch tag {
        case "if": return try parseIf()
        case "for": return try parseFor()
        case "set": return try parseSet()
        case "macro": return try parseMacro()
        case "with": return try parseWith()
        case "filter": return try parseFilterBlock()
        case "generation":
            // Hugging Face's AssistantTracker tag: marks assistant text for training masks; renders its body
            // in a scope of its own (it is a call block).
            _ = advance()
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endgeneration"])
            _ = advance()
            try expectBlockEnd()
            return .with([], body)
        case "break", "continue":
            _ = advance()
            try expectBlockEnd()
            return tag == "break" ? .breakLoop(start) : .continueLoop(start)
        default:
            let known = ["extends", "include", "import", "from", "block", "call", "autoescape", "do"]
            if known.contains(tag) { throw fail("the '\(tag)' tag is not supported in chat templates") }
            throw fail("unknown tag '\(tag)'")
        }
    }

    private mutating func parseIf() throws -> TemplateNode {
        _ = advance()
        var branches: [(TemplateExpr, [TemplateNode])] = []
        var otherwise: [TemplateNode] = []
        var test = try parseTuple(withCondexpr: false)
        while true {
            try expectBlockEnd()
            let (body, stop) = try subparse(until: ["elif", "else", "endif"])
            branches.append((test, body))
            _ = advance()
            if stop == "elif" { test = try parseTuple(withCondexpr: false); continue }
            if stop == "else" {
                try expectBlockEnd()
                (otherwise, _) = try subparse(until: ["endif"])
                _ = advance()
            }
            try expectBlockEnd()
            return .conditional(branches, otherwise: otherwise)
        }
    }

    private mutating func parseFor() throws -> TemplateNode {
        let start = advance().position
        let target = try parseAssignTarget(endsAtIn: true, allowNamespace: false)
        guard skip(name: "in") else { throw fail("expected 'in', got \(describe(current.kind))") }
        let iterable = try parseTuple(withCondexpr: false, endsAtName: ["recursive"])
        var filter: TemplateExpr?
        if skip(name: "if") { filter = try parseTuple(withCondexpr: true) }
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        let (body, stop) = try subparse(until: ["endfor", "else"])
        _ = advance()
        var otherwise: [TemplateNode] = []
        if stop == "else" {
            try expectBlockEnd()
            (otherwise, _) = try subparse(until: ["endfor"])
            _ = advance()
        }
        try expectBlockEnd()
        return .loop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise, start)
    }

    private mutating func parseSet() throws -> TemplateNode {
        let start = advance().position
        let target = try parseAssignTarget(endsAtIn: false, allowNamespace: true)
        if skip(op: "=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .assign(target, value, start)
        }
        guard case let .name(name) = target else { throw fail("expected '='") }
        var filters: [(String, CallArguments, TemplatePosition)] = []
        while isOp("|") {
            _ = advance()
            let p = current.position
            let (fname, args) = try parseFilterNameAndArguments()
            filters.append((fname, args, p))
        }
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endset"])
        _ = advance()
        try expectBlockEnd()
        return .assignBlock(name, body, filters: filters)
    }

    private mutating func parseMacro() throws -> TemplateNode {
        _ = advance()
        let name = try expectName()
        try expect(op: "(")
        var parameters: [(String, TemplateExpr?)] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expect(op: ",") }
            if isOp(")") { break }
            let p = try expectName()
            var def: TemplateExpr?
            if skip(op: "=") { def = try parseExpression() }
            parameters.append((p, def))
        }
        try expect(op: ")")
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endmacro"])
        _ = advance()
        if case .name = current.kind { _ = advance() }  // `{% endmacro name %}`
        try expectBlockEnd()
        return .macro(MacroDefinition(name: name, parameters: parameters, body: body))
    }

    private mutating func parseWith() throws -> TemplateNode {
        _ = advance()
        var assignments: [(AssignTarget, TemplateExpr)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { try expect(op: ",") }
            let target = try parseAssignTarget(endsAtIn: false, allowNamespace: false)
            try expect(op: "=")
            assignments.append((target, try parseExpression()))
        }
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endwith"])
        _ = advance()
        try expectBlockEnd()
        return .with(assignments, body)
    }

    private mutating func parseFilterBlock() throws -> TemplateNode {
        _ = advance()
        var filters: [(String, CallArguments, TemplatePosition)] = []
        repeat {
            let p = current.position
            let (name, args) = try parseFilterNameAndArguments()
            filters.append((name, args, p))
        } while skip(op: "|")
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endfilter"])
        _ = advance()
        try expectBlockEnd()
        return .filterBlock(filters, body)
    }

    private mutating func parseAssignTarget(endsAtIn: Bool, allowNamespace: Bool) throws -> AssignTarget {
        let start = current.position
        func one(_ p: inout TemplateParser) throws -> AssignTarget {
            if p.skip(op: "(") {
                let t = try p.parseAssignTarget(endsAtIn: endsAtIn, allowNamespace: false)
                try p.expect(op: ")")
                return t
            }
            let pos = p.current.position
            let n = try p.expectName()
            if allowNamespace, p.isOp("."), case .name = p.peek().kind {
                _ = p.advance()
                return .namespaceAttribute(n, try p.expectName(), pos)
            }
            if ["true", "false", "none", "True", "False", "None"].contains(n) {
                throw TemplateError("cannot assign to '\(n)'", at: pos)
            }
            return .name(n)
        }
        var targets = [try one(&self)]
        var isTuple = false
        while isOp(",") {
            _ = advance()
            isTuple = true
            if isOp("=") || current.kind == .blockEnd || isOp(")") || (endsAtIn && isName("in")) { break }
            targets.append(try one(&self))
        }
        return isTuple ? .tuple(targets, start) : targets[0]
    }

    // MARK: - expressions

    /// A bare `a, b` is a tuple (print statements, set values, loop iterables).
    private mutating func parseTuple(withCondexpr: Bool = true, endsAtName: Set<String> = [],
                                     explicitParentheses: Bool = false) throws -> TemplateExpr {
        let start = current.position
        var items: [TemplateExpr] = []
        var isTuple = false
        while true {
            if !items.isEmpty {
                guard skip(op: ",") else { break }
                isTuple = true
            }
            switch current.kind {
            case .variableEnd, .blockEnd, .op(")"): break
            case let .name(n) where endsAtName.contains(n) || n == "if" && !withCondexpr: break
            default:
                items.append(withCondexpr ? try parseExpression() : try parseOr())
                continue
            }
            break
        }
        if !isTuple {
            guard let e = items.first else {
                if explicitParentheses { return .tuple([]) }
                throw TemplateError("expected an expression, got \(describe(current.kind))", at: start)
            }
            return e
        }
        return .tuple(items)
    }

    mutating func parseExpression() throws -> TemplateExpr {
        var e = try parseOr()
        while skip(name: "if") {
            let test = try parseOr()
            let otherwise: TemplateExpr? = skip(name: "else") ? try parseExpression() : nil
            e = .conditional(test: test, then: e, otherwise: otherwise)
        }
        return e
    }

    private mutating func parseOr() throws -> TemplateExpr {
        var e = try parseAnd()
        while skip(name: "or") { e = .or(e, try parseAnd()) }
        return e
    }

    private mutating func parseAnd() throws -> TemplateExpr {
        var e = try parseNot()
        while skip(name: "and") { e = .and(e, try parseNot()) }
        return e
    }

    private mutating func parseNot() throws -> TemplateExpr {
        if skip(name: "not") { return .not(try parseNot()) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> TemplateExpr {
        let start = current.position
        let first = try parseMath1()
        var ops: [(String, TemplateExpr)] = []
        while true {
            if case let .op(o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                _ = advance()
                ops.append((o, try parseMath1()))
            } else if skip(name: "in") {
                ops.append(("in", try parseMath1()))
            } else if isName("not"), isName("in", peek()) {
                _ = advance(); _ = advance()
                ops.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? first : .compare(first, ops, start)
    }

    private mutating func parseMath1() throws -> TemplateExpr {
        var e = try parseConcat()
        while case let .op(o) = current.kind, o == "+" || o == "-" {
            let p = advance().position
            e = .binary(o, e, try parseConcat(), p)
        }
        return e
    }

    private mutating func parseConcat() throws -> TemplateExpr {
        var e = try parseMath2()
        while isOp("~") {
            let p = advance().position
            e = .binary("~", e, try parseMath2(), p)
        }
        return e
    }

    private mutating func parseMath2() throws -> TemplateExpr {
        var e = try parsePow()
        while case let .op(o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            let p = advance().position
            e = .binary(o, e, try parsePow(), p)
        }
        return e
    }

    private mutating func parsePow() throws -> TemplateExpr {
        var e = try parseUnary()
        while isOp("**") {
            let p = advance().position
            e = .binary("**", e, try parseUnary(), p)
        }
        return e
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> TemplateExpr {
        let p = current.position
        var e: TemplateExpr
        if skip(op: "-") {
            e = .negate(try parseUnary(withFilter: false), p)
        } else if skip(op: "+") {
            e = .plus(try parseUnary(withFilter: false), p)
        } else {
            e = try parsePrimary()
        }
        e = try parsePostfix(e, from: p)
        if withFilter { e = try parseFilterExpression(e) }
        return e
    }

    private mutating func parsePrimary() throws -> TemplateExpr {
        let t = current
        switch t.kind {
        case let .name(n):
            _ = advance()
            switch n {
            case "true", "True": return .constant(.bool(true))
            case "false", "False": return .constant(.bool(false))
            case "none", "None": return .constant(.none)
            default: return .name(n, t.position)
            }
        case let .string(s):
            _ = advance()
            var text = s
            while case let .string(more) = current.kind { text += more; _ = advance() }
            return .constant(.string(text))
        case let .integer(n):
            _ = advance()
            return .constant(.int(n))
        case let .float(d):
            _ = advance()
            return .constant(.double(d))
        case .op("("):
            _ = advance()
            let e = try parseTuple(explicitParentheses: true)
            try expect(op: ")")
            return e
        case .op("["):
            _ = advance()
            var items: [TemplateExpr] = []
            while !isOp("]") {
                if !items.isEmpty { try expect(op: ",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expect(op: "]")
            return .list(items)
        case .op("{"):
            _ = advance()
            var pairs: [(TemplateExpr, TemplateExpr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expect(op: ",") }
                if isOp("}") { break }
                let k = try parseExpression()
                try expect(op: ":")
                pairs.append((k, try parseExpression()))
            }
            try expect(op: "}")
            return .dict(pairs, t.position)
        default:
            throw fail("unexpected \(describe(t.kind))")
        }
    }

    /// `.name`, `[…]` and `(…)` after a primary; their errors point at `start`, where the expression begins.
    private mutating func parsePostfix(_ base: TemplateExpr, from start: TemplatePosition) throws -> TemplateExpr {
        var e = base
        let p = start
        while true {
            if isOp(".") {
                _ = advance()
                switch current.kind {
                case let .name(n): _ = advance(); e = .attribute(e, n, p)
                case let .integer(n): _ = advance(); e = .item(e, .constant(.int(n)), p)
                default: throw fail("expected a name after '.', got \(describe(current.kind))")
                }
            } else if isOp("[") {
                _ = advance()
                e = try parseSubscript(e, p)
            } else if isOp("(") {
                e = .call(e, try parseCallArguments(), p)
            } else {
                return e
            }
        }
    }

    private mutating func parseSubscript(_ base: TemplateExpr, _ p: TemplatePosition) throws -> TemplateExpr {
        var parts: [TemplateExpr?] = []
        var current: TemplateExpr? = nil
        var isSlice = false
        while !isOp("]") {
            if isOp(":") {
                _ = advance()
                parts.append(current)
                current = nil
                isSlice = true
                continue
            }
            if current != nil { throw fail("expected ']' or ':' in subscript") }
            current = try parseExpression()
            if isOp(",") { throw fail("tuple subscripts are not supported") }
        }
        try expect(op: "]")
        parts.append(current)
        if !isSlice {
            guard let index = parts[0] else { throw TemplateError("empty subscript", at: p) }
            return .item(base, index, p)
        }
        guard parts.count <= 3 else { throw TemplateError("too many ':' in slice", at: p) }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, parts[0], parts[1], parts[2], p)
    }

    private mutating func parseCallArguments() throws -> CallArguments {
        try expect(op: "(")
        var args = CallArguments()
        while !isOp(")") {
            if !(args.positional.isEmpty && args.keywords.isEmpty) { try expect(op: ",") }
            if isOp(")") { break }
            if isOp("*") || isOp("**") { throw fail("*args and **kwargs in calls are not supported") }
            if case let .name(n) = current.kind, peek().kind == .op("=") {
                _ = advance(); _ = advance()
                args.keywords.append((n, try parseExpression()))
            } else {
                if !args.keywords.isEmpty { throw fail("positional argument after keyword argument") }
                args.positional.append(try parseExpression())
            }
        }
        try expect(op: ")")
        return args
    }

    private mutating func parseFilterNameAndArguments() throws -> (String, CallArguments) {
        var name = try expectName()
        while isOp("."), case .name = peek().kind { _ = advance(); name += "." + (try expectName()) }
        let args = isOp("(") ? try parseCallArguments() : CallArguments()
        return (name, args)
    }

    private mutating func parseFilterExpression(_ base: TemplateExpr) throws -> TemplateExpr {
        var e = base
        while true {
            let p = current.position
            if isOp("|") {
                _ = advance()
                let (name, args) = try parseFilterNameAndArguments()
                e = .filter(e, name, args, p)
            } else if isName("is") {
                _ = advance()
                let negated = skip(name: "not")
                let name = try expectName()
                var args = CallArguments()
                if isOp("(") {
                    args = try parseCallArguments()
                } else {
                    switch current.kind {
                    case .name("else"), .name("or"), .name("and"): break
                    case .name("is"): throw fail("you cannot chain multiple tests with 'is'")
                    case .name, .string, .integer, .float, .op("("), .op("["), .op("{"):
                        let start = current.position
                        args.positional = [try parsePostfix(try parsePrimary(), from: start)]
                    default: break
                    }
                }
                e = .test(e, name, args, p)
                if negated { e = .not(e) }
            } else if isOp("(") {
                e = .call(e, try parseCallArguments(), p)
            } else {
                return e
            }
        }
    }
}
