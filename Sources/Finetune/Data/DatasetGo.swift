// DatasetGo: Go HTTP handlers as instruction examples — each top-level `func` (plain or a method) whose parameters
// are a handler's: net/http's `(w http.ResponseWriter, r *http.Request)` (any names), gin's `*gin.Context`, echo's
// `echo.Context`, fiber's `*fiber.Ctx`. The whole declaration, brace-matched on DatasetLexer's tokens (a `}` in a
// string, raw string, rune or comment does not end it), is the output.
// Instruction: "Write the Go HTTP handler NAME[ (a method on RECV)][ for ROUTE][ using gin|echo|fiber]." then, after
// a blank line, the doc comment above the func (cleaned by CommentExtractor). Input: the signature on one line.
// Routes: a call anywhere in the Go files of the same extraction whose first argument is a string pattern ("/x",
// or Go 1.22's "GET /x") and whose last argument ends in the handler's name (`h.GetUser`, `http.HandlerFunc(GetUser)`)
// gives the route; the method comes from the pattern, from the call's name (`r.GET`, chi's `r.Get`) or from a
// gorilla `.Methods("GET")` after it. First registration wins.

import Foundation

enum GoHandlers {
    static let methods: Set<String> = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"]

    /// Routes registered in one Go file: handler name → "METHOD /pattern" or "/pattern".
    static func routes(_ v: TokenView) -> [(name: String, route: String)] {
        var out: [(String, String)] = []
        for (o, t) in v.toks.enumerated() where t.kind == .punct && v.src[t.start] == 0x28 {
            guard let c = v.partner[o], c > o + 1 else { continue }
            // Arguments at depth 0 of this call.
            var args: [[Int]] = [[]]
            var k = o + 1
            while k < c {
                if v.toks[k].kind == .comment { k += 1; continue }
                if v.isPunct(k, ",") { args.append([]); k += 1; continue }
                args[args.count - 1].append(k)
                if let p = v.partner[k], p > k, p < c {
                    args[args.count - 1] += Array((k + 1)...p)
                    k = p + 1
                    continue
                }
                k += 1
            }
            guard args.count >= 2, args[0].count == 1, v.toks[args[0][0]].kind == .string else { continue }
            let lit = v.text(args[0][0])
            guard lit.count >= 2, let q = lit.first, q == "\"" || q == "`" else { continue }
            let pattern = String(lit.dropFirst().dropLast())
            var method: String?
            var path = pattern
            if let sp = pattern.firstIndex(of: " "), methods.contains(String(pattern[..<sp])) {
                method = String(pattern[..<sp])
                path = String(pattern[pattern.index(after: sp)...]).trimmingCharacters(in: .init(charactersIn: " "))
            }
            guard path.hasPrefix("/") else { continue }
            guard let last = args.last, let nameTok = last.last(where: { v.toks[$0].kind == .ident }) else { continue }
            if method == nil, o > 0, v.toks[o - 1].kind == .ident, methods.contains(v.text(o - 1).uppercased()) {
                method = v.text(o - 1).uppercased()
            }
            if method == nil, v.isPunct(c + 1, "."), v.isIdent(c + 2, "Methods"), v.isPunct(c + 3, "("),
               c + 4 < v.toks.count, v.toks[c + 4].kind == .string {
                method = String(v.text(c + 4).dropFirst().dropLast())
            }
            out.append((v.text(nameTok), (method.map { $0 + " " } ?? "") + path))
        }
        return out
    }

    /// The handlers of one Go file.
    static func extract(_ v: TokenView, routes: [String: String]) -> [ExtractedExample] {
        var out: [ExtractedExample] = []
        var depth = 0
        var k = 0
        while k < v.toks.count {
            let t = v.toks[k]
            if t.kind == .punct {
                if v.src[t.start] == 0x7B || v.src[t.start] == 0x28 || v.src[t.start] == 0x5B { depth += 1 }
                if v.src[t.start] == 0x7D || v.src[t.start] == 0x29 || v.src[t.start] == 0x5D { depth = max(0, depth - 1) }
            }
            guard depth == 0, v.isIdent(k, "func"), let (ex, end) = handler(v, at: k, routes: routes) else { k += 1; continue }
            out.append(ex)
            k = end + 1
        }
        return out
    }

    /// The handler declared by the `func` token at k and the index of its closing brace, or nil.
    static func handler(_ v: TokenView, at k: Int, routes: [String: String]) -> (ExtractedExample, Int)? {
        var j = v.code(from: k + 1)
        var receiver: String?
        if v.isPunct(j, "(") {
            guard let c = v.partner[j] else { return nil }
            let recv = (j + 1..<c).filter { v.toks[$0].kind != .comment }
            // The receiver's type: its tokens after the name (`s *Server` → "*Server").
            if recv.count >= 2 { receiver = recv.dropFirst().map { v.text($0) }.joined() } else if let r = recv.first { receiver = v.text(r) }
            j = v.code(from: c + 1)
        }
        guard j < v.toks.count, v.toks[j].kind == .ident else { return nil }  // a func literal
        let name = v.text(j)
        j = v.code(from: j + 1)
        if v.isPunct(j, "["), let c = v.partner[j] { j = v.code(from: c + 1) }  // type parameters
        guard v.isPunct(j, "("), let pc = v.partner[j] else { return nil }
        let params = (j + 1..<pc).filter { v.toks[$0].kind != .comment }.map { v.text($0) }.joined(separator: " ")
        let compact = params.replacingOccurrences(of: " ", with: "")
        let framework: String?
        if compact.contains("http.ResponseWriter") && compact.contains("*http.Request") { framework = nil }
        else if compact.contains("*gin.Context") { framework = "gin" }
        else if compact.contains("echo.Context") { framework = "echo" }
        else if compact.contains("*fiber.Ctx") { framework = "fiber" }
        else { return nil }
        // The body: the first '{' after the parameters that is not a struct{} / interface{} result type.
        var b = pc + 1
        while b < v.toks.count {
            if v.isPunct(b, "{") {
                if b > 0 && (v.isIdent(b - 1, "struct") || v.isIdent(b - 1, "interface")), let c = v.partner[b] { b = c + 1; continue }
                break
            }
            if v.isPunct(b, "(") || v.isPunct(b, "["), let c = v.partner[b] { b = c + 1; continue }
            if v.toks[b].kind == .ident && ["func", "type", "var", "const", "import"].contains(v.text(b)) { return nil }  // no body
            b += 1
        }
        guard b < v.toks.count, let end = v.partner[b] else { return nil }
        let doc = v.leadingComments(before: k) { _ in true }
        let docText = doc.map { CommentExtractor.comments(in: $0.text, language: .go).joined(separator: "\n") } ?? ""
        var instruction = "Write the Go HTTP handler \(name)"
        if let receiver { instruction += " (a method on \(receiver))" }
        if let route = routes[name] { instruction += " for \(route)" }
        if let framework { instruction += " using \(framework)" }
        instruction += "."
        if !docText.isEmpty { instruction += "\n\n" + docText }
        let signature = oneLine(v.text(from: v.toks[k].start, to: v.toks[b].start))
        return (ExtractedExample(instruction: instruction, input: signature, output: v.block(from: k, through: end),
                                 line: v.toks[k].line + 1), end)
    }
}
