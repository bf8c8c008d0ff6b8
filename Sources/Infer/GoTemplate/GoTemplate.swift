// GoTemplate: a Go text/template, parsed once and executed on GoValue data, with Go's output and Go's error texts
// — what Ollama's Modelfile TEMPLATE is. Ollama-specific tree edits (appending `{{ .Response }}`, the legacy
// path's cut after the first `.Response`) and the identifiers Ollama's Template.Vars reads live here too,
// because they work on the parse tree; the Ollama values themselves are the server's business.

public struct GoTemplate: Sendable {
    public let source: String
    public let name: String
    let root: [GoNode]
    let defined: [String: [GoNode]]
    /// Extra function names (Ollama adds `json`); only `json` has an implementation.
    let functions: Set<String>

    /// Parses `source`. A syntax error throws Go's text, e.g. `template: :1: unexpected EOF`.
    public init(_ source: String, name: String = "", functions: Set<String> = []) throws(GoTemplateError) {
        self.source = source
        self.name = name
        self.functions = functions
        var p = GoParser(source: source, name: name, functions: GoExecutor.builtins.union(functions))
        root = try p.parse()
        defined = p.defined
    }

    private init(copying t: GoTemplate, root: [GoNode]) {
        source = t.source; name = t.name; defined = t.defined; functions = t.functions
        self.root = root
    }

    public typealias Limits = GoExecutorLimits

    /// Executes with `data` as dot. `missingKeyZero` is Option("missingkey=zero"); `standalone` runs the main tree
    /// alone, without the defined templates and extra functions (a tree added to a fresh template, as Ollama's
    /// legacy path does).
    public func execute(_ data: GoValue, missingKeyZero: Bool = false, standalone: Bool = false,
                        limits: Limits = Limits()) throws(GoTemplateError) -> String {
        var templates = standalone ? [:] : defined
        if templates[name] == nil { templates[name] = root }
        var e = GoExecutor(source: source, parseName: name, templates: templates, missingKeyZero: missingKeyZero,
                           extraFunctions: !standalone && functions.contains("json"),
                           limits: GoExecutor.Limits(maxSteps: limits.maxSteps, maxOutputBytes: limits.maxOutputBytes,
                                                      maxDepth: limits.maxDepth))
        try e.run(root, name: name, data: data)
        return e.out
    }

    /// Ollama's Template.Vars: every field and variable identifier in the main and defined trees, lowercased,
    /// sorted, unique (a chain `.A.B` gives `a` and `b`; `$` counts).
    public var identifiers: [String] {
        var set = Set<String>()
        func arg(_ a: GoArg) {
            switch a {
            case let .field(_, ids), let .variable(_, ids): ids.forEach { set.insert($0.lowercased()) }
            default: break
            }
        }
        func pipe(_ p: GoPipe?) { p?.cmds.forEach { $0.args.forEach(arg) } }
        func list(_ nodes: [GoNode]) {
            for n in nodes {
                switch n {
                case let .action(p): pipe(p)
                case let .ifNode(b), let .rangeNode(b), let .withNode(b):
                    pipe(b.pipe); list(b.list); if let e = b.elseList { list(e) }
                case let .template(_, _, p): pipe(p)
                default: break
                }
            }
        }
        list(root)
        for (_, t) in defined { list(t) }
        return set.sorted()
    }

    /// The template with `{{ .FIELD }}` appended to the main tree (Ollama appends `.Response`).
    public func appendingField(_ field: String) -> GoTemplate {
        let pos = source.utf8.count
        let action = GoNode.action(GoPipe(pos: pos, cmds: [GoCommand(pos: pos, args: [.field(pos: pos, idents: [field])])]))
        return GoTemplate(copying: self, root: root + [action])
    }

    /// Ollama's deleteNode on the main tree: walking in order, everything after the first field node naming
    /// `field` is removed (a pipeline whose command loses all its arguments goes with its action; a branch's
    /// condition is not searched).
    public func cutAfterField(_ field: String) -> GoTemplate {
        var cut = false
        func walkArg(_ a: GoArg) -> GoArg? {
            if case let .field(_, ids) = a, ids.contains(field) { cut = true; return a }
            if cut { return nil }
            if case let .pipe(p) = a { return walkPipe(p).map { .pipe($0) } }
            return a
        }
        func walkPipe(_ p: GoPipe) -> GoPipe? {
            if cut { return nil }
            var q = p
            q.cmds = []
            for c in p.cmds {
                var d = c
                d.args = c.args.compactMap(walkArg)
                if d.args.isEmpty { return nil }
                q.cmds.append(d)
            }
            return q.cmds.isEmpty ? nil : q
        }
        func walkBranch(_ b: GoBranch) -> GoBranch {
            var c = b
            c.list = walkList(b.list)
            c.elseList = b.elseList.flatMap { cut ? nil : walkList($0) }
            return c
        }
        func walkList(_ nodes: [GoNode]) -> [GoNode] {
            nodes.compactMap { n -> GoNode? in
                if cut { return nil }
                switch n {
                case let .action(p): return walkPipe(p).map { .action($0) }
                case let .ifNode(b): return .ifNode(walkBranch(b))
                case let .withNode(b): return .withNode(walkBranch(b))
                case let .rangeNode(b): return .rangeNode(walkBranch(b))
                default: return n
                }
            }
        }
        return GoTemplate(copying: self, root: walkList(root))
    }
}

public struct GoExecutorLimits: Sendable {
    public var maxSteps = 10_000_000
    public var maxOutputBytes = 64 << 20
    public var maxDepth = 100
    public init(maxSteps: Int = 10_000_000, maxOutputBytes: Int = 64 << 20, maxDepth: Int = 100) {
        self.maxSteps = maxSteps; self.maxOutputBytes = maxOutputBytes; self.maxDepth = maxDepth
    }
}
