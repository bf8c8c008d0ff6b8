"""llmkit's Go template engine (Sources/Infer/GoTemplate) and Ollama's TEMPLATE rules (Sources/Server/
OllamaTemplate.swift) against Go itself: Tests/oracle/gotmpl is a Go program that executes the same cases with
text/template (and Ollama's execution rules for the "ollama" mode). Needs `go` (Debian golang-go, setup.sh)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, ROOT

HERE = Path(__file__).resolve().parent
TEMPLATES = sorted((HERE / "gotemplates").glob("*.gotmpl"))


@pytest.fixture(scope="module")
def gobin(tmp_path_factory):
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not installed (scripts/setup.sh installs golang-go)")
    out = tmp_path_factory.mktemp("gotmpl") / "gotmpl"
    env = {"GOCACHE": str(out.parent / "cache"), "GOPATH": str(out.parent / "gopath"), "GOFLAGS": "-mod=mod",
           "HOME": str(out.parent), "PATH": "/usr/bin:/bin", "GOTOOLCHAIN": "local"}
    subprocess.run([go, "build", "-o", str(out), "."], cwd=HERE / "gotmpl", check=True, env=env, timeout=600)
    return out


def run_cases(cmd, cases):
    text = "".join(json.dumps(c) + "\n" for c in cases)
    p = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.split("\n") if line]
    assert len(lines) == len(cases)
    return lines


def compare(gobin, cases):
    want = run_cases([str(gobin)], cases)
    got = run_cases([str(BIN), "dev", "gotemplate"], cases)
    bad = [(c, w, g) for c, w, g in zip(cases, want, got) if w != g]
    msg = "\n".join(f"template {c['template']!r} data {json.dumps(c.get('data'))} mode {c.get('mode')}\n"
                    f"   go:     {w}\n   llmkit: {g}" for c, w, g in bad[:15])
    assert not bad, f"{len(bad)} of {len(cases)} differ:\n{msg}"


# ------------------------------------------------------------------------------ Ollama's templates, many contexts

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather in a city",
    "parameters": {"type": "object", "required": ["city"], "properties": {
        "city": {"description": "The city", "type": "string"},
        "unit": {"description": "celsius or fahrenheit", "enum": ["c", "f"], "type": "string"}}}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}

CONTEXTS = {
    "user": {"messages": [{"role": "user", "content": "Hello!"}]},
    "system-user": {"messages": [{"role": "system", "content": "You are terse."},
                                 {"role": "user", "content": "Hi"}]},
    "system-user-assistant-user": {"messages": [
        {"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"}, {"role": "user", "content": "Tell me a joke."}]},
    "collate": {"messages": [
        {"role": "system", "content": "A"}, {"role": "system", "content": "B"}, {"role": "user", "content": "u1"},
        {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a1"},
        {"role": "assistant", "content": "a2"}, {"role": "user", "content": "u3"}]},
    "assistant-prefill": {"messages": [{"role": "user", "content": "Count"},
                                       {"role": "assistant", "content": "1, 2,"}]},
    "system-after-turns": {"messages": [
        {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
        {"role": "system", "content": "late system"}, {"role": "user", "content": "u2"}]},
    "tools": {"tools": [WEATHER, TIME], "messages": [
        {"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"}]},
    "tools-call-result": {"tools": [WEATHER], "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]},
        {"role": "tool", "content": "18 degrees", "tool_name": "get_weather"},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"}]},
    "empty": {"messages": []},
    "unicode": {"messages": [{"role": "user", "content": "héllo <b>&\"' \u2028 日本 🙂\n\ttab"}]},
    "suffix": {"prompt": "def add(a, b):", "suffix": "    return c"},
}


def test_ollama_templates_match_go(gobin):
    assert len(TEMPLATES) >= 8
    cases = [{"template": t.read_text(), "data": ctx, "mode": "ollama"} for t in TEMPLATES for ctx in CONTEXTS.values()]
    compare(gobin, cases)


# ------------------------------------------------------------------------------ construct by construct

DATA = {"S": "abc", "E": "", "N": 3, "Z": 0, "F": 2.5, "Big": 1e21, "Small": 1e-7, "T": True, "Fa": False,
        "L": [1, "two", 3.5, None, True], "EL": [], "M": {"b": 2, "a": 1, "c": {"d": "deep"}}, "EM": {},
        "Nil": None, "Msgs": [{"Role": "user", "Content": "hi"}, {"Role": "assistant", "Content": "yo"}],
        "Neg": -7, "Str": "<a href='x'>&\"</a> é\n", "Q": "a b&c=d/é"}

CONSTRUCTS = [
    # text, trim markers, comments
    "plain text", "a {{- \" b \" -}} c", "a  {{- .S }}  b", "{{ .S -}}   \n  x", "{{/* c */}}x", "a {{- /* c */ -}} b",
    "{{-3}}", "{{ - 3 }}", "{{ .S }}\n{{- .S }}", "x{{- \"\" }}\n\n{{- \"\" -}}\ny",
    # fields, maps, chains, missing keys
    "{{ .S }} {{ .N }} {{ .F }} {{ .T }} {{ .L }} {{ .M }} {{ .EL }} {{ .EM }}", "{{ .M.c.d }} {{ .M.a }}",
    "{{ .Missing }}", "{{ .Missing.X }}", "{{ .Nil }}", "{{ .Nil.X }}", "{{ .S.X }}", "{{ .L.X }}",
    "{{ .M.zz }}", "{{ .M.zz.yy }}", "{{ (index .M \"c\").d }}", "{{ .Big }} {{ .Small }} {{ 1e6 }} {{ 123456.0 }}",
    "{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 'a' }} {{ '\\n' }} {{ -3 }} {{ +4 }} {{ 1.0 }} {{ .5 }}",
    "{{ \"\\u00e9\\x41\\101\\t\" }} {{ `raw\\n` }}",
    # variables
    "{{ $x := .S }}{{ $x }}{{ $x = \"new\" }}{{ $x }}", "{{ $ }}", "{{ $.S }}",
    "{{ range .L }}{{ $.S }}{{ end }}", "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}",
    "{{ with $x := .M }}{{ $x.a }}{{ end }}", "{{ $x := .Missing }}{{ $x }}", "{{ $x := .Missing }}{{ $x.Y }}",
    # if / else if / with / else
    "{{ if .T }}yes{{ else }}no{{ end }}", "{{ if .Fa }}a{{ else if .N }}b{{ else }}c{{ end }}",
    "{{ if .E }}a{{ else if .Z }}b{{ else if .EL }}c{{ else if .EM }}d{{ else }}e{{ end }}",
    "{{ if .Nil }}a{{ end }}{{ if .Missing }}b{{ end }}{{ if .L }}c{{ end }}{{ if .M }}d{{ end }}",
    "{{ with .S }}{{ . }}{{ end }}", "{{ with .E }}x{{ else }}empty{{ end }}", "{{ with .M }}{{ .a }}{{ end }}",
    "{{ if and .T .N }}{{ and .T .N }}{{ end }} {{ or .E .Z .S }} {{ or .E .Z }} {{ and .N .E .S }}",
    "{{ not .T }} {{ not .E }} {{ not .L }} {{ not .Nil }}",
    # range
    "{{ range .L }}[{{ . }}]{{ end }}", "{{ range $i, $e := .L }}{{ $i }}:{{ $e }} {{ end }}",
    "{{ range $e := .L }}{{ $e }}{{ end }}", "{{ range $k, $v := .M }}{{ $k }}={{ $v }};{{ end }}",
    "{{ range .EL }}x{{ else }}empty{{ end }}", "{{ range .Nil }}x{{ else }}nil{{ end }}",
    "{{ range .Missing }}x{{ else }}missing{{ end }}",
    "{{ range .L }}{{ if eq . 3.5 }}{{ break }}{{ end }}{{ . }},{{ end }}",
    "{{ range $i, $_ := .L }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}",
    "{{ range .Msgs }}{{ .Role }}: {{ .Content }}\n{{ end }}", "{{ range .S }}x{{ end }}",
    "{{ range $i, $m := .Msgs }}{{ if $i }}, {{ end }}{{ $m.Role }}{{ end }}",
    # define / template / block
    "{{ define \"t\" }}<{{ . }}>{{ end }}{{ template \"t\" .S }}{{ template \"t\" }}",
    "{{ block \"b\" .N }}[{{ . }}]{{ end }}", "{{ template \"nope\" }}",
    "{{ define \"r\" }}{{ if . }}{{ len . }}{{ template \"r\" (slice . 1) }}{{ end }}{{ end }}{{ template \"r\" .L }}",
    # pipelines, parens
    "{{ .S | printf \"%s!\" }}", "{{ .N | printf \"%d-%d\" 1 }}", "{{ (len .L) }} {{ len (index .M \"c\") }}",
    "{{ \"x\" | printf \"%s%s\" \"y\" | printf \"[%s]\" }}",
    # comparisons
    "{{ eq .N 3 }} {{ eq .S \"abc\" }} {{ eq .N 1 2 3 }} {{ ne .S \"x\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt .F 1.5 }} {{ ge \"b\" \"a\" }}",
    "{{ eq .Nil .Missing }}", "{{ eq .Missing \"a\" }}", "{{ eq .N \"3\" }}", "{{ eq .N 3.0 }}", "{{ lt .L .L }}",
    "{{ eq .L .L }}", "{{ eq .M .L }}", "{{ lt true false }}", "{{ eq .T true }}", "{{ eq 1 }}",
    # index, slice, len
    "{{ index .L 1 }} {{ index .M \"a\" }} {{ index .M \"zz\" }} {{ index .S 0 }} {{ index .M \"c\" \"d\" }}",
    "{{ index .L 6 }}", "{{ index .L 4 }}", "{{ index .L -1 }}", "{{ index .M 1 }}", "{{ index .N 1 }}",
    "{{ index .Nil 1 }}", "{{ index .L \"a\" }}", "{{ slice .S 1 }} {{ slice .S 1 2 }} {{ slice .L 2 }} {{ slice .L }}",
    "{{ slice .S 2 1 }}", "{{ slice .S 9 }}", "{{ slice .N 1 }}", "{{ slice .L 1 2 3 }}", "{{ slice .S 1 2 3 }}",
    "{{ len .S }} {{ len .L }} {{ len .M }} {{ len .EL }} {{ len \"héllo\" }}", "{{ len .N }}", "{{ len .Nil }}",
    "{{ len .Missing }}", "{{ len }}", "{{ len 1 2 }}",
    # print family and fmt verbs
    "{{ print 1 2 \"a\" \"b\" 3 .T }}", "{{ println .S .N }}", "{{ print .Nil }} {{ print .L }} {{ print .M }}",
    "{{ printf \"%s|%d|%v|%q|%t|%x|%X|%f|%%\" .S .N .F .S .T .N .N .F }}",
    "{{ printf \"%5d|%-5d|%05d|%+d|%x|%o|%b|%c|%U\" .N .N .N .N .Neg .N .N 65 233 }}",
    "{{ printf \"%.2f|%8.3f|%-8.1f|%e|%g|%.3g|%E\" .F .F .F .F .F 3.14159 1234.5 }}",
    "{{ printf \"%10s|%-10s|%.2s|%q|%x|% x|%#x\" .S .S .S .Str .S .S .S }}",
    "{{ printf \"%d\" .S }} {{ printf \"%s\" .N }} {{ printf \"%t\" .N }} {{ printf \"%d\" .F }} {{ printf \"%s\" .Nil }}",
    "{{ printf \"%d %d\" 1 }}", "{{ printf \"%d\" 1 2 }}", "{{ printf \"%v %s %d\" .L .L .L }}", "{{ printf \"%v\" .M }}",
    "{{ printf \"%v|%v|%v\" .Big .Small 100000000.0 }}", "{{ printf \"%q\" 'x' }}", "{{ printf \"%!\" }}",
    "{{ printf 3 }}", "{{ printf .N }}", "{{ printf .S }}",
    # escapers and json
    "{{ html .Str }}", "{{ js .Str }}", "{{ urlquery .Q }}", "{{ html 1 \"a\" 2 }}", "{{ .Str | html }}",
    "{{ json .L }} {{ json .M }} {{ json .S }} {{ json .Nil }} {{ json .F }} {{ json .Big }} {{ json .Small }} {{ json .Str }}",
    "{{ json .Msgs }}", "{{ json }}",
    # call and nil
    "{{ call .S }}", "{{ call .Nil }}", "{{ nil }}", "{{ printf \"%v\" nil }}", "{{ len nil }}",
    # exec errors with arguments
    "{{ .S | }}", "{{ $ = 1 }}{{ $ }}", "{{ .S 1 }}", "{{ 3 4 }}", "{{ .M.a 1 }}", "{{ $x := 1 }}{{ $x 2 }}", "{{ \"a\" | .S }}",
    "line1\nline2 {{ .S.x }}", "{{ printf \"%s\" (.S.x) }}", "{{ (1).x }}",
]

PARSE_ERRORS = [
    "{{ if }}", "{{ end }}", "{{ else }}", "{{ range .L }}", "{{ if .T }}x", "{{ $x }}", "{{ foo }}", "{{ \"a }}",
    "{{ `a }}", "{{ .S", "{{ .S }", "{{/* x */ }}", "{{/* x ", "{{ 1a }}", "{{ ( .S }}", "{{ .S ) }}",
    "{{ break }}", "{{ continue }}", "{{ range .L }}{{ break 1 }}{{ end }}", "{{ with }}", "{{ define }}",
    "{{ define \"a\" }}", "{{ template }}", "{{ template 1 }}", "{{ if .T }}{{ else }}{{ else }}{{ end }}",
    "{{ .S | 3 }}", "{{ \"x\".y }}", "{{ $x, $y := .L }}", "{{ range $a, $b, $c := .L }}{{ end }}",
    "a\nb\n{{ if }}", "{{ . .}}", "{{ | .S }}", "{{ \"\\q\" }}", "{{ 'ab' }}", "{{ 0x }}",
    "{{ $x := 1 }}{{ $x := }}", "{{ := 1 }}", "{{ .S :}}", "{{ if .T }}{{ end }}{{ end }}",
    "{{ nil.x }}", "{{ len .S.x.y. }}", "{{ @ }}", "{{ $x = 1 }}", "{{ {{ }}", "}}{{",
]


@pytest.mark.parametrize("mode", ["plain", "zero"])
def test_constructs_match_go(gobin, mode):
    compare(gobin, [{"template": t, "data": DATA, "mode": mode} for t in CONSTRUCTS])


def test_parse_errors_match_go(gobin):
    cases = [{"template": t, "data": DATA, "mode": "zero"} for t in PARSE_ERRORS]
    want = run_cases([str(gobin)], cases)
    assert all("error" in w for w in want), [c for c, w in zip(cases, want) if "error" not in w]
    compare(gobin, cases)


def test_ollama_rules_match_go(gobin):
    """Ollama's execution rules on small templates: legacy turns and the cut after .Response, .Response appended,
    templates naming .Response in odd places, json of messages and tools, missing fields of api.Message."""
    templates = [
        "{{ .System }}|{{ .Prompt }}|", "S:{{ .System }} P:{{ .Prompt }} R:{{ .Response }} END",
        "{{ if .Prompt }}P:{{ .Prompt }}{{ end }}{{ if .Response }}[{{ .Response }}]{{ end }}after",
        "{{ .Prompt }}{{ printf \"<%s>\" .Response }}tail", "{{ .Prompt }}{{ .Response | printf \"%s\" }}tail",
        "{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}{{ .Prompt }}",
        "{{ range .Messages }}{{ json . }}{{ end }}", "{{ json .Tools }}", "{{ range .Tools }}{{ json .Function }}{{ end }}",
        "{{ range .Messages }}{{ .Nope }}{{ end }}", "{{ range .Messages }}{{ range .ToolCalls }}{{ json .Function.Arguments }}{{ end }}{{ end }}",
        "{{ len .Messages }}", "{{ .Prompt }}<{{ .Suffix }}>", "{{ .Suffix }}{{ .Prompt }}",
        "{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}{{ json .Prompt }}",
        "{{ define \"x\" }}X{{ end }}{{ .Prompt }}{{ template \"x\" }}{{ .Response }}{{ template \"x\" }}",
        "{{ .Prompt }}{{ .Response }}{{ json .Prompt }}",
    ]
    cases = [{"template": t, "data": ctx, "mode": "ollama"} for t in templates for ctx in CONTEXTS.values()]
    compare(gobin, cases)
