// GoTemplate tests: golden cases whose expected output or error text Go 1.19's text/template produced
// (Tests/oracle/gotmpl; the oracle test Tests/oracle/test_go_template.py compares hundreds more), then what the
// oracle's Go cannot check: range over an int and `else with` (newer Go), the bounds on steps, output and depth,
// deep nesting and every prefix of a real template (an error, never a crash), and the tree edits Ollama makes.

import Formats
import Testing
@testable import Infer

struct GoCase: Sendable, CustomTestStringConvertible {
    let template: String
    let data: String
    let zero: Bool
    let output: String?
    let error: String?
    init(_ template: String, _ data: String, zero: Bool, output: String) {
        (self.template, self.data, self.zero, self.output, self.error) = (template, data, zero, output, nil)
    }
    init(_ template: String, _ data: String, zero: Bool, error: String) {
        (self.template, self.data, self.zero, self.output, self.error) = (template, data, zero, nil, error)
    }
    var testDescription: String { String(template.prefix(60)) }
}

let goldenGoCases: [GoCase] = [
    GoCase("{{- range $i, $m := .Messages }}{{ if $i }}\n{{ end }}<|{{ $m.role }}|>{{ $m.content | printf \"%q\" }}{{ end }}",
           "{\"Messages\": [{\"role\": \"user\", \"content\": \"hi \\\"x\\\"\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}", zero: true,
           output: "<|user|>\"hi \\\"x\\\"\"\n<|assistant|>\"yo\""),
    GoCase("{{ with $x := .M }}{{ range $k, $v := $x }}{{ $k }}={{ $v }};{{ end }}{{ end }}",
           "{\"M\": {\"b\": 2, \"a\": 1.5, \"c\": [1, null]}}", zero: true,
           output: "a=1.5;b=2;c=[1 <nil>];"),
    GoCase("{{ .Missing }}|{{ index .M \"zz\" }}|{{ printf \"%v\" .Missing }}|{{ len .L }}|{{ slice .S 1 3 }}",
           "{\"M\": {}, \"L\": [1, 2], \"S\": \"hello\"}", zero: true,
           output: "<no value>|<no value>|<nil>|2|el"),
    GoCase("{{ if and .A (not .B) }}yes{{ else if or .B .C }}maybe{{ else }}no{{ end }}",
           "{\"A\": 1, \"B\": \"\", \"C\": true}", zero: false,
           output: "yes"),
    GoCase("{{ define \"item\" }}[{{ . }}]{{ end }}{{ range .L }}{{ template \"item\" . }}{{ end }}",
           "{\"L\": [\"a\", 2, 3.25, true]}", zero: false,
           output: "[a][2][3.25][true]"),
    GoCase("{{ json .L }} {{ 1e6 }} {{ 0.000012 }} {{ 123456.0 }} {{ printf \"%5.1f|%-4d|%x|%t\" 3.14159 7 255 false }}",
           "{\"L\": [1, \"<&>\", {\"k\": null}]}", zero: true,
           output: "[1,\"\\u003c\\u0026\\u003e\",{\"k\":null}] 1e+06 1.2e-05 123456   3.1|7   |ff|false"),
    GoCase("a  {{- /* gone */ -}}  b {{- \" c \" -}} d",
           "{}", zero: false,
           output: "ab c d"),
    GoCase("{{ .S.x }}",
           "{\"S\": \"str\"}", zero: true,
           error: "template: :1:5: executing \"\" at <.S.x>: can't evaluate field x in type interface {}"),
    GoCase("x\n{{ range .L }}{{ index . 3 }}{{ end }}",
           "{\"L\": [[1]]}", zero: true,
           error: "template: :2:17: executing \"\" at <index . 3>: error calling index: index out of range: 3"),
    GoCase("{{ eq .N 1.5 }}",
           "{\"N\": 3}", zero: true,
           error: "template: :1:3: executing \"\" at <eq .N 1.5>: error calling eq: incompatible types for comparison"),
    GoCase("{{ if .X }}",
           "{}", zero: true,
           error: "template: :1: unexpected EOF"),
    GoCase("{{ range .L }}{{ break }}{{ end }}{{ continue }}",
           "{}", zero: true,
           error: "template: :1: {{continue}} outside {{range}}"),
    GoCase("{{ $x }}",
           "{}", zero: true,
           error: "template: :1: undefined variable \"$x\""),
    GoCase("{{ .A | nope }}",
           "{}", zero: true,
           error: "template: :1: function \"nope\" not defined"),
    GoCase("{{ \"unterminated }}",
           "{}", zero: true,
           error: "template: :1: unterminated quoted string"),
]

func goRun(_ template: String, _ data: String = "{}", zero: Bool = true, limits: GoExecutorLimits = GoExecutorLimits()) throws -> String {
    let t = try GoTemplate(template, functions: zero ? ["json"] : [])
    return try t.execute(GoValue(json: try TemplateValue.parse(data)), missingKeyZero: zero, limits: limits)
}

func goError(_ template: String, _ data: String = "{}", limits: GoExecutorLimits = GoExecutorLimits()) -> String? {
    do { _ = try goRun(template, data, limits: limits); return nil } catch let e as GoTemplateError { return e.message } catch { return "\(error)" }
}

@Test(arguments: goldenGoCases)
func goTemplateMatchesGo(_ c: GoCase) throws {
    if let want = c.output {
        #expect(try goRun(c.template, c.data, zero: c.zero) == want)
    } else {
        #expect(goError(c.template, c.data) == c.error)
    }
}

@Test func goTemplateRangeOverInt() throws {
    #expect(try goRun("{{ range 3 }}{{ . }}{{ end }}") == "012")
    #expect(try goRun("{{ range $i := .N }}{{ $i }},{{ end }}", #"{"N": 4}"#) == "0,1,2,3,")
    #expect(try goRun("{{ range 0 }}x{{ else }}none{{ end }}") == "none")
    #expect(try goRun("{{ range 5 }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}") == "01")
    #expect(goError("{{ range $i, $j := 2 }}{{ end }}")?.hasSuffix("can't use 2 to iterate over more than one variable") == true)
}

@Test func goTemplateElseWith() throws {
    let t = "{{ with .E }}a{{ else with .S }}<{{ . }}>{{ else }}c{{ end }}"
    #expect(try goRun(t, #"{"E": "", "S": "s"}"#) == "<s>")
    #expect(try goRun(t, #"{"E": "", "S": ""}"#) == "c")
}

@Test func goTemplateBounds() throws {
    // steps: a loop that would run for a long time
    let steps = goError("{{ range 100000000 }}{{ end }}", limits: GoExecutorLimits(maxSteps: 10_000))
    #expect(steps == "template: : execution exceeded 10000 steps")
    // output size
    let big = goError("{{ range 1000 }}0123456789{{ end }}", limits: GoExecutorLimits(maxOutputBytes: 1000))
    #expect(big == "template: : output exceeded 1000 bytes")
    // template recursion
    let deep = goError(#"{{ define "r" }}x{{ template "r" . }}{{ end }}{{ template "r" }}"#)
    #expect(deep?.hasSuffix("exceeded maximum template depth (100)") == true)
    // parse nesting: an error, not a stack overflow
    let ifs = String(repeating: "{{ if 1 }}", count: 5000) + String(repeating: "{{ end }}", count: 5000)
    #expect(goError(ifs)?.contains("exceeded maximum nesting depth") == true)
    // recursion through nested blocks: bounded in total, not only per template call
    let nested = #"{{ define "r" }}"# + String(repeating: "{{ if 1 }}", count: 150) + #"{{ template "r" }}"#
        + String(repeating: "{{ end }}", count: 150) + #"{{ end }}{{ template "r" }}"#
    #expect(goError(nested)?.hasSuffix("exceeded maximum nesting depth (1000)") == true)
    let parens = "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}"
    #expect(goError(parens)?.contains("exceeded maximum nesting depth") == true)
}

@Test func goTemplateEveryPrefixOfARealTemplateIsAnErrorOrParses() {
    let source = """
    {{- if .Messages }}{{- if .System }}<|im_start|>system
    {{ .System }}<|im_end|>
    {{ end }}{{- range $i, $m := .Messages }}<|im_start|>{{ $m.Role }}
    {{ printf "%s" .Content | js }}{{/* c */}}<|im_end|>
    {{ end }}<|im_start|>assistant
    {{ else }}{{ .Prompt }}{{ end -}}
    """
    let bytes = Array(source.utf8)
    for n in 0...bytes.count {
        let prefix = String(decoding: bytes[0..<n], as: UTF8.self)
        do {
            let t = try GoTemplate(prefix, functions: ["json"])
            _ = try? t.execute(GoValue(json: try! TemplateValue.parse(#"{"Messages": [{"Role": "user", "Content": "hi"}], "System": "s"}"#)), missingKeyZero: true)
        } catch {
            #expect(error.message.hasPrefix("template: :"))
        }
    }
}

@Test func goTemplateOllamaTreeEdits() throws {
    let t = try GoTemplate("A{{ .System }}B{{ if .Response }}[{{ .Response }}]X{{ else }}Y{{ end }}C{{ $.Tail }}", functions: ["json"])
    #expect(t.identifiers == ["$", "response", "system", "tail"])
    let data = GoValue(json: try TemplateValue.parse(#"{"System": "s", "Response": "r", "Tail": "t"}"#))
    #expect(try t.execute(data, missingKeyZero: true) == "AsB[r]XCt")
    // everything after the first .Response field goes, the else branch included; the condition is not searched
    #expect(try t.cutAfterField("Response").execute(data, standalone: true) == "AsB[r")
    // a command that loses all its arguments takes its action with it
    let p = try GoTemplate("P{{ .Response | printf \"%s\" }}Q").cutAfterField("Response")
    #expect(try p.execute(data, standalone: true) == "P")
    #expect(try GoTemplate("{{ .Prompt }}").appendingField("Response").execute(
        GoValue(json: try TemplateValue.parse(#"{"Prompt": "p", "Response": "r"}"#))) == "pr")
}
