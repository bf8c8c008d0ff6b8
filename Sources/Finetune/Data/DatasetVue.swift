// DatasetVue: a Vue single-file component as one instruction example. The top-level blocks of the .vue file are
// found by tag: <template> (nested <template> tags counted), <script> / <script setup> (to </script>), <style> (to
// </style>); custom blocks (<i18n>, <docs> …) and comments between blocks are skipped. Output: the <template>,
// <script> and <style> blocks as written, in file order, separated by a blank line. A file with neither a template
// nor a script gives no example.
// Instruction: "Write the Vue single-file component NAME[ using <script setup>][ in TypeScript]." then " Props: a,
// b." and " Emits: x." when found, then, after a blank line, the leading comment: an <!-- --> comment before the
// first block, or else the comments that open the script (cleaned by CommentExtractor). NAME is the component's
// `name: '…'` option (in `export default {…}`, `defineComponent({…})` or `defineOptions({…})`), else the file name.
// Props / emits, read from the script's tokens (DatasetLexer): `defineProps([...])`, `defineProps({...})`,
// `defineProps<{...}>()`, `defineProps<Props>()` with `interface Props {…}` / `type Props = {…}` in the script,
// and the options API's `props:` / `emits:`; emits also from `defineEmits<{ (e: 'change', …): void }>()`.
// Input: empty.

enum VueComponents {
    struct Block { var tag: String; var start: Int; var end: Int; var contentStart: Int; var contentEnd: Int; var openTag: String }

    static func blocks(_ s: [UInt8]) -> (blocks: [Block], leadingComment: String?) {
        func at(_ k: Int) -> UInt8 { k >= 0 && k < s.count ? s[k] : 0 }
        func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 32 : b }
        func starts(_ p: String, _ k: Int) -> Bool {
            var j = k
            for b in p.utf8 { guard j < s.count, lower(s[j]) == b else { return false }; j += 1 }
            return true
        }
        /// `<name` followed by space, '>' or '/' at k.
        func isTag(_ name: String, _ k: Int, closing: Bool = false) -> Bool {
            let p = (closing ? "</" : "<") + name
            guard starts(p, k) else { return false }
            let after = at(k + p.utf8.count)
            return after == 0x3E || after == 0x20 || after == 0x09 || after == 0x0A || after == 0x0D || after == 0x2F
        }
        func tagEnd(_ k: Int) -> Int {  // just past the '>' of the tag opening at k (quotes respected)
            var j = k
            var q: UInt8 = 0
            while j < s.count {
                if q != 0 { if s[j] == q { q = 0 } } else if s[j] == 0x22 || s[j] == 0x27 { q = s[j] } else if s[j] == 0x3E { return j + 1 }
                j += 1
            }
            return s.count
        }
        var out: [Block] = []
        var leading: String?
        var i = 0
        while i < s.count {
            if starts("<!--", i) {
                var e = i + 4
                while e < s.count && !starts("-->", e) { e += 1 }
                e = min(e + 3, s.count)
                if out.isEmpty && leading == nil {
                    leading = CommentExtractor.comments(in: String(decoding: s[i..<e], as: UTF8.self), language: .vue).joined(separator: "\n")
                }
                i = e
                continue
            }
            guard s[i] == 0x3C, at(i + 1) != 0x2F, CodeLexer.isIdent(at(i + 1)) else { i += 1; continue }
            var n = i + 1
            while n < s.count && (CodeLexer.isIdent(s[n]) || s[n] == 0x2D) { n += 1 }
            let name = String(decoding: s[(i + 1)..<n], as: UTF8.self).lowercased()
            let open = tagEnd(i)
            if at(open - 2) == 0x2F { i = open; continue }  // <foo/>
            // The matching close tag (templates nest; script/style and custom blocks do not).
            var depth = 1
            var j = open
            var closeStart = s.count
            while j < s.count {
                if name == "template" && isTag("template", j) && at(tagEnd(j) - 2) != 0x2F { depth += 1; j = tagEnd(j); continue }
                if isTag(name, j, closing: true) {
                    depth -= 1
                    if depth == 0 { closeStart = j; break }
                }
                j += 1
            }
            let end = closeStart < s.count ? tagEnd(closeStart) : s.count
            if ["template", "script", "style"].contains(name) {
                out.append(Block(tag: name, start: i, end: end, contentStart: open, contentEnd: min(closeStart, s.count),
                                 openTag: String(decoding: s[i..<open], as: UTF8.self)))
            }
            i = end
        }
        return (out, leading.flatMap { $0.isEmpty ? nil : $0 })
    }

    static func extract(_ src: [UInt8], fileName: String) -> [ExtractedExample] {
        let (bs, leadingHTML) = blocks(src)
        guard bs.contains(where: { $0.tag == "template" || $0.tag == "script" }) else { return [] }
        var name = fileName.hasSuffix(".vue") ? String(fileName.dropLast(4)) : fileName
        var props: [String] = []
        var emits: [String] = []
        var leading = leadingHTML
        var setup = false, typescript = false
        for b in bs where b.tag == "script" {
            let tag = b.openTag.lowercased()
            if tag.contains("setup") { setup = true }
            if tag.contains("lang=\"ts\"") || tag.contains("lang='ts'") || tag.contains("lang=\"tsx\"") { typescript = true }
            let v = TokenView(Array(src[b.contentStart..<b.contentEnd]), .javascript)
            if leading == nil, let first = v.toks.first, first.kind == .comment {
                var e = 0
                while e + 1 < v.toks.count && v.toks[e + 1].kind == .comment && v.toks[e + 1].line <= v.toks[e].endLine + 1 { e += 1 }
                let t = CommentExtractor.comments(in: v.text(from: first.start, to: v.toks[e].end), language: .javascript).joined(separator: "\n")
                if !t.isEmpty { leading = t }
            }
            if let n = componentName(v) { name = n }
            props += names(v, call: "defineProps", option: "props")
            emits += names(v, call: "defineEmits", option: "emits")
        }
        var instruction = "Write the Vue single-file component \(name)"
        if setup { instruction += " using <script setup>" }
        if typescript { instruction += " in TypeScript" }
        instruction += "."
        if !props.isEmpty { instruction += " Props: \(unique(props).joined(separator: ", "))." }
        if !emits.isEmpty { instruction += " Emits: \(unique(emits).joined(separator: ", "))." }
        if let leading { instruction += "\n\n" + leading }
        let output = bs.map { String(decoding: src[$0.start..<$0.end], as: UTF8.self) }.joined(separator: "\n\n")
        let line = src[..<bs[0].start].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        return [ExtractedExample(instruction: instruction, input: "", output: output, line: line)]
    }

    static func unique(_ a: [String]) -> [String] {
        var seen = Set<String>()
        return a.filter { seen.insert($0).inserted }
    }

    static func unquote(_ s: String) -> String {
        guard let f = s.first, "\"'`".contains(f), s.count >= 2 else { return s }
        return String(s.dropFirst().dropLast())
    }

    /// `name: '…'` at brace depth 1 of the script.
    static func componentName(_ v: TokenView) -> String? {
        var depth = 0
        for k in v.toks.indices {
            if v.isPunct(k, "{") { depth += 1 } else if v.isPunct(k, "}") { depth -= 1 }
            if depth == 1, v.isIdent(k, "name"), v.isPunct(k + 1, ":"), k + 2 < v.toks.count, v.toks[k + 2].kind == .string {
                return unquote(v.text(k + 2))
            }
        }
        return nil
    }

    /// Names declared through `call(...)` / `call<...>()` or an options-API `option:` key.
    static func names(_ v: TokenView, call: String, option: String) -> [String] {
        var out: [String] = []
        var depth = 0
        for k in v.toks.indices {
            if v.isPunct(k, "{") { depth += 1 } else if v.isPunct(k, "}") { depth -= 1 }
            var arg: Int?
            if v.isIdent(k, call) {
                let n = v.code(from: k + 1)
                if v.isPunct(n, "<") {
                    var m = n + 1
                    while m < v.toks.count, !v.isPunct(m, ">"), !v.isPunct(m, "{") { m += 1 }
                    if v.isPunct(m, "{") { arg = m } else if n + 1 < v.toks.count, v.toks[n + 1].kind == .ident {
                        arg = typeBody(v, named: v.text(n + 1))
                    }
                } else if v.isPunct(n, "(") {
                    arg = v.code(from: n + 1)
                }
            } else if depth == 1, v.isIdent(k, option), v.isPunct(k + 1, ":") {
                arg = v.code(from: k + 2)
            }
            guard let a = arg, a < v.toks.count, let close = v.partner[a] else { continue }
            if v.isPunct(a, "[") {
                out += (a + 1..<close).filter { v.toks[$0].kind == .string }.map { unquote(v.text($0)) }
            } else if v.isPunct(a, "{") {
                out += keys(v, open: a, close: close)
            }
        }
        return out
    }

    /// The '{' of `interface NAME {` or `type NAME = {` in the script.
    static func typeBody(_ v: TokenView, named name: String) -> Int? {
        for k in v.toks.indices where v.isIdent(k, name) && k > 0 {
            if v.isIdent(k - 1, "interface") {
                var m = k + 1
                while m < v.toks.count && !v.isPunct(m, "{") { m += 1 }
                if m < v.toks.count { return m }
            }
            if v.isIdent(k - 1, "type"), v.isPunct(k + 1, "="), v.isPunct(k + 2, "{") { return k + 2 }
        }
        return nil
    }

    /// Direct keys of an object / type literal (`a: …`, `'b': …`, `c?: …`) and event names of call signatures
    /// `(e: 'change', …): void`.
    static func keys(_ v: TokenView, open: Int, close: Int) -> [String] {
        var out: [String] = []
        var k = open + 1
        while k < close {
            let t = v.toks[k]
            if t.kind == .punct, let p = v.partner[k], p > k {
                if v.isPunct(k, "("), k + 3 < close, v.toks[k + 1].kind == .ident, v.isPunct(k + 2, ":"), v.toks[k + 3].kind == .string {
                    out.append(unquote(v.text(k + 3)))
                }
                k = p + 1
                continue
            }
            if t.kind == .ident || t.kind == .string {
                let n = v.isPunct(k + 1, "?") ? k + 2 : k + 1
                if v.isPunct(n, ":") {
                    out.append(unquote(v.text(k)))
                    k = n + 1
                    // Skip the value up to the next ',' or ';' at this level.
                    while k < close && !v.isPunct(k, ",") && !v.isPunct(k, ";") {
                        if let p = v.partner[k], p > k { k = p + 1 } else { k += 1 }
                        // A type literal without separators: the next key starts on a new line.
                        if k < close, v.toks[k].line > v.toks[k - 1].endLine, v.toks[k].kind == .ident || v.toks[k].kind == .string,
                           v.isPunct(k + 1, ":") || (v.isPunct(k + 1, "?") && v.isPunct(k + 2, ":")) { break }
                    }
                    continue
                }
            }
            k += 1
        }
        return out
    }
}
