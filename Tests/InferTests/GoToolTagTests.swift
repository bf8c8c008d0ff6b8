// GoTemplate.toolCallTag against the cases of Ollama's tools/template_test.go (TestParseTag): same templates, same tags.
import Testing
@testable import Infer

@Suite struct GoToolTagTests {
    static let cases: [(String, String)] = [
        ("", ""),
        ("{{if .ToolCalls}}{{end}}", ""),
        ("{{if .ToolCalls}}{{range .ToolCalls}}{{ . }}{{end}}{{end}}", ""),
        ("{{if .ToolCalls}}```json\n{{end}}", "```json"),
        ("{{if .ToolCalls}}[{{range .ToolCalls}}{{ . }}{{end}}]{{end}}", "["),
        ("{{if .ToolCalls}}\n [ {{range .ToolCalls}}{{ . }}{{end}}]{{end}}", "["),
        ("{{if .ToolCalls}}{{range .ToolCalls}}{{ . }}{{end}}]{{end}}", ""),
        ("{{if .ToolCalls}} {{range .ToolCalls}}{{ . }}{{end}}{{end}}", ""),
        ("{{if .ToolCalls}}{{range .ToolCalls}}\n{{ . }}\n{{end}}{{end}}", ""),
        (#"{{if .ToolCalls}}{{range .ToolCalls}}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}{{end}}{{end}}"#, ""),
        ("{{if .ToolCalls}}<|tool▁calls▁begin|>{{range .ToolCalls}}<|tool▁call▁begin|>functionget_current_weather\n```json\n{\"location\": \"Tokyo\"}\n```<|tool▁call▁end|>\n{{end}}<|tool▁calls▁end|>{{end}}", "<|tool▁calls▁begin|>"),
        ("{{if .ToolCalls}}{{range .ToolCalls}}<tool_call>{{.}}</tool_call>{{end}}{{end}}", "<tool_call>"),
        (#"{{if .ToolCalls}}{{range .ToolCalls}}<tool_call>{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}<tool_call>{{end}}{{end}}"#, "<tool_call>"),
        ("{{if .ToolCalls}}First text{{if .Something}}inner{{end}}Second text{{end}}", "First text"),
        ("{{if .Something}}{{if .OtherThing}}text{{end}}{{end}}", ""),
        ("{{if .ToolCalls}}Action: ```json{{end}}", "Action: ```json"),
        ("{{if .ToolCalls}}functools[{{end}}", "functools["),
        ("{{if .ToolCalls}}[TOOL_CALL] [{{end}}", "[TOOL_CALL] ["),
        ("{{if .ToolCalls}}[TOOL_CALL][{{end}}", "[TOOL_CALL]["),
        // found inside range/with/else branches too, and through `else if`
        ("{{range .Messages}}{{if eq .Role \"user\"}}u{{else if .ToolCalls}}\r\n<tool_call>\r\n{\"x\": 1}{{end}}{{end}}", "<tool_call>\n"),  // the text up to "{": trimmed before the cut, as Go does
        ("{{with .Messages}}{{else}}{{if .ToolCalls}}[TOOL_CALLS] {{end}}{{end}}", "[TOOL_CALLS]"),
    ]

    @Test func ollamasParseTagCases() throws {
        for (source, want) in Self.cases {
            let t = try GoTemplate(source)
            #expect((t.toolCallTag ?? "") == want, "\(source)")
        }
    }
}
