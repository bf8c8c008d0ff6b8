// DatasetSwift: Swift functions with doc comments as instruction examples — every `func` with a body (top level,
// in a type, extension or nested) whose declaration (attributes and modifiers included) is directly preceded by a
// `///` or `/** */` doc comment. Output: the declaration from its first attribute/modifier through the closing
// brace, brace-matched on DatasetLexer's tokens, dedented; the doc comment is not in the output (it is the
// instruction). Protocol requirements and other bodiless declarations are skipped.
// Instruction: "Write the Swift function NAME[ in TYPE]." then, after a blank line, the whole doc comment (cleaned
// by CommentExtractor: markers and gutters stripped). Input: the signature on one line.

enum SwiftFunctions {
    static let modifiers: Set<String> = ["public", "private", "fileprivate", "internal", "open", "package", "static", "class",
                                         "final", "override", "mutating", "nonmutating", "convenience", "required",
                                         "nonisolated", "dynamic", "optional", "isolated", "consuming", "borrowing"]
    static let typeKeywords: Set<String> = ["struct", "class", "enum", "extension", "actor", "protocol"]

    static func extract(_ v: TokenView) -> [ExtractedExample] {
        var out: [ExtractedExample] = []
        // Brace stack: the type each open brace belongs to (nil for other blocks).
        var types: [String?] = []
        var lastBoundary = -1  // index of the last { } or ; token
        var k = 0
        while k < v.toks.count {
            if v.isPunct(k, "{") {
                var owner: String?
                var j = k - 1
                while j > lastBoundary {
                    if v.toks[j].kind == .ident, typeKeywords.contains(v.text(j)), j + 1 < k, v.toks[v.code(from: j + 1)].kind == .ident {
                        owner = v.text(v.code(from: j + 1))
                        var e = v.code(from: j + 1) + 1  // dotted extension names: extension Foo.Bar
                        while v.isPunct(e, "."), e + 1 < k, v.toks[e + 1].kind == .ident { owner! += "." + v.text(e + 1); e += 2 }
                    }
                    if v.isIdent(j, "func") || v.isIdent(j, "init") || v.isIdent(j, "var") || v.isIdent(j, "let") { owner = nil; break }
                    j -= 1
                }
                types.append(owner)
                lastBoundary = k
            } else if v.isPunct(k, "}") {
                _ = types.popLast()
                lastBoundary = k
            } else if v.isPunct(k, ";") {
                lastBoundary = k
            } else if v.isIdent(k, "func"), let (ex, end) = function(v, at: k, type: types.last(where: { $0 != nil }) ?? nil) {
                out.append(ex)
                // Nested functions are examples of their own: continue inside the body.
                _ = end
            }
            k += 1
        }
        return out
    }

    static func function(_ v: TokenView, at k: Int, type: String?) -> (ExtractedExample, Int)? {
        // Walk back over modifiers and attributes to the declaration's first token.
        var first = k
        var j = k - 1
        while j >= 0 {
            if v.toks[j].kind == .ident, modifiers.contains(v.text(j)) { first = j; j -= 1; continue }
            if v.isPunct(j, ")"), let o = v.partner[j], o > 0, v.toks[o - 1].kind == .ident {
                // @attr(args) or private(set)
                let a = o - 1
                if a > 0, v.isPunct(a - 1, "@") { first = a - 1; j = a - 2; continue }
                if modifiers.contains(v.text(a)) { first = a; j = a - 1; continue }
                break
            }
            if v.toks[j].kind == .ident, j > 0, v.isPunct(j - 1, "@") { first = j - 1; j -= 2; continue }
            break
        }
        guard let doc = v.leadingComments(before: first, accept: { $0.hasPrefix("///") || ($0.hasPrefix("/**") && $0 != "/**/") }) else { return nil }
        let n = v.code(from: k + 1)
        guard n < v.toks.count else { return nil }
        var name = v.text(n)
        if v.toks[n].kind == .punct {  // an operator: its characters up to '(' or '<'
            var e = n
            name = ""
            while e < v.toks.count, v.toks[e].kind == .punct, !v.isPunct(e, "("), !v.isPunct(e, "<") { name += v.text(e); e += 1 }
        }
        // Parameters: the first '(' after the name (generic parameters may come first).
        var p = n + 1
        while p < v.toks.count && !v.isPunct(p, "(") {
            if v.isPunct(p, "{") || v.isPunct(p, "}") { return nil }
            p += 1
        }
        guard p < v.toks.count, let pc = v.partner[p] else { return nil }
        // Body: the first '{' after the parameters, unless another declaration or the enclosing '}' comes first.
        var b = pc + 1
        while b < v.toks.count {
            if v.isPunct(b, "{") { break }
            if v.isPunct(b, "}") || v.isPunct(b, ";") { return nil }
            if v.isPunct(b, "(") || v.isPunct(b, "["), let c = v.partner[b] { b = c + 1; continue }
            if v.toks[b].kind == .ident, ["func", "var", "let", "init", "subscript", "case", "typealias", "associatedtype",
                                          "struct", "class", "enum", "protocol", "extension", "actor", "deinit"].contains(v.text(b)) { return nil }
            if v.isPunct(b, "@") { return nil }
            b += 1
        }
        guard b < v.toks.count, let end = v.partner[b] else { return nil }
        let docText = CommentExtractor.comments(in: doc.text, language: .swift).joined(separator: "\n")
        var instruction = "Write the Swift function \(name)"
        if let type { instruction += " in \(type)" }
        instruction += "."
        if !docText.isEmpty { instruction += "\n\n" + docText }
        let signature = oneLine(v.text(from: v.toks[first].start, to: v.toks[b].start))
        return (ExtractedExample(instruction: instruction, input: signature, output: v.block(from: first, through: end),
                                 line: v.toks[first].line + 1), end)
    }
}
