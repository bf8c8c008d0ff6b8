// OllamaTemplate tests: which syntax a template is, Ollama's rules for .Suffix, collation, the legacy per-turn
// path and the appended .Response. Rendering against Go itself is Tests/oracle/test_go_template.py.

import Formats
import Testing
@testable import Server

private func msgs(_ pairs: [(String, String)]) -> [JSON] {
    pairs.map { .object([("role", .string($0.0)), ("content", .string($0.1))]) }
}

@Test func templateSyntaxIsGoUnlessJinja() {
    #expect(OllamaTemplate.isGo("{{ .Prompt }}"))
    #expect(OllamaTemplate.isGo("plain text"))
    #expect(OllamaTemplate.isGo("{{ if .System }}"))                      // broken Go: reported as Go's error
    #expect(!OllamaTemplate.isGo("{% for m in messages %}{{ m.content }}{% endfor %}"))
    #expect(!OllamaTemplate.isGo("{# c #}{{ messages[0]['content'] }}"))
    #expect(!OllamaTemplate.isGo("{{ messages[0]['content'] }}"))          // Go cannot parse it, Jinja can
}

@Test func suffixFollowsTheTemplate() throws {
    #expect(try OllamaTemplate("<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>").usesSuffix)
    #expect(try !OllamaTemplate("{{ .Prompt }}").usesSuffix)
    #expect(try OllamaTemplate.insertTemplate("{% if x %}{{ suffix }}{% endif %}") == nil)
    #expect(try OllamaTemplate.insertTemplate(nil) == nil)
    let t = try OllamaTemplate("<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>")
    #expect(try t.render(prompt: "def f(", suffix: "return 1") == "<PRE> def f( <SUF>return 1 <MID>")
}

@Test func messagesAreCollated() throws {
    let t = try OllamaTemplate("[{{ .System }}]{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}")
    let out = try t.render(messages: msgs([("system", "a"), ("system", "b"), ("user", "u1"), ("user", "u2"),
                                           ("tool", "t1"), ("tool", "t2")]), tools: nil)
    #expect(out == "[a\n\nb]system:a\n\nb;user:u1\n\nu2;tool:t1;tool:t2;")
}

@Test func legacyTemplatesRenderTurnByTurn() throws {
    let t = try OllamaTemplate("{{ if .System }}<s>{{ .System }}</s>{{ end }}[U]{{ .Prompt }}[A]{{ .Response }}[E]")
    let out = try t.render(messages: msgs([("system", "sys"), ("user", "u1"), ("assistant", "a1"), ("user", "u2")]),
                           tools: nil)
    #expect(out == "<s>sys</s>[U]u1[A]a1[E][U]u2[A]")
    // no .Response and no .Messages: {{ .Response }} is appended, so an assistant prefill continues
    let p = try OllamaTemplate("Q: {{ .Prompt }}\nA: ")
    #expect(try p.render(messages: msgs([("user", "hi"), ("assistant", "hel")]), tools: nil) == "Q: hi\nA: hel")
}

@Test func goErrorStatuses() {
    // Ollama: a request template that does not parse or a template that fails to execute is a 500 (routes.go
    // GenerateHandler / ChatHandler); /api/create's check is a 400.
    do { _ = try OllamaTemplate("{{ end }}"); Issue.record("no error") } catch {
        #expect(error.status == .internalServerError && error.message == "template: :1: unexpected {{end}}")
    }
    do { try OllamaTemplate.validate("{{ if .System }}"); Issue.record("no error") } catch {
        #expect(error.status == .badRequest && error.message == "template: :1: unexpected EOF")
    }
    func failure(_ run: () throws(APIError) -> String) -> APIError? {
        do { _ = try run(); return nil } catch { return error }
    }
    let want = "template: :1:3: executing \"\" at <len 1>: error calling len: len of type int"
    let chat = failure { () throws(APIError) -> String in try OllamaTemplate("{{ len 1 }}").render(messages: [], tools: nil) }
    let insert = failure { () throws(APIError) -> String in try OllamaTemplate("{{ len 1 }}{{ .Suffix }}").render(prompt: "p", suffix: "s") }
    for e in [chat, insert] { #expect(e?.status == .internalServerError && e?.message == want) }
}
