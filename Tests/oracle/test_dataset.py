"""`llmkit dataset extract` against the languages' own parsers, and end to end on a small tree.
(a) Python: on stdlib modules, the examples are exactly the functions `ast` finds with a docstring (bar one-line
    `def f(): "doc"` bodies and implicitly concatenated docstrings, which the extractor leaves out), each output
    is the function's source (decorators through the last statement, dedented), parses with `ast`, and the
    instruction carries the docstring's summary.
(b) Swift: functions with doc comments from llmkit's own sources parse with `swiftc -parse` (via `dev metrics`).
(c) A tree of Go, Vue, Swift and Python files with vendored/hidden folders, a binary and a duplicate: the printed
    counts, the split by file (all examples of a file on one side, deterministic, seed-dependent), and errors.
"""
import ast
import glob
import inspect
import json
import os
import shutil
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT, llmkit


def read_jsonl(p):
    return [json.loads(l) for l in Path(p).read_text(encoding="utf-8").splitlines()]


def expected_python(src):
    """(line, name, output text, summary) of each function with a docstring, as ast sees it."""
    lines = src.split("\n")
    out = []
    for node in ast.walk(ast.parse(src)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node, clean=True)
        if doc is None or node.body[0].lineno == node.lineno:
            continue
        seg = ast.get_source_segment(src, node.body[0])
        if seg is None or len(list(ast.walk(ast.parse(seg.strip())))) != 3 or "\n" in seg and seg.count(seg[-1] * 3) < 2 and seg[-1] != seg.lstrip("rRuU")[0]:
            continue
        try:  # implicitly concatenated docstrings: two string tokens in the first statement
            import tokenize, io
            toks = [t for t in tokenize.generate_tokens(io.StringIO(seg.strip()).readline) if t.type == tokenize.STRING]
            if len(toks) != 1:
                continue
        except tokenize.TokenError:
            continue
        first = min([d.lineno for d in node.decorator_list] + [node.lineno])
        indent = lines[node.lineno - 1][: len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())]
        body = lines[first - 1: node.end_lineno]
        body[-1] = body[-1].encode("utf-8")[: node.end_col_offset].decode("utf-8")
        text = "\n".join((l[len(indent):] if l.startswith(indent) else l).rstrip() for l in body)
        para = []
        for l in doc.split("\n"):
            if not l.strip():
                break
            para.append(l.strip())
        summary = " ".join(para)
        out.append((first, node.name, text, summary))
    return out


def stdlib_files(n):
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))
    step = max(1, len(files) // n)
    return files[::step][:n]


@pytest.mark.parametrize("path", stdlib_files(int(os.environ.get("LLMKIT_DATASET_FILES", 40))), ids=os.path.basename)
def test_python_functions_match_ast(path, tmp_path):
    src = Path(path).read_text(encoding="utf-8")
    want = expected_python(src)
    p = llmkit("dataset", "extract", path, "-o", tmp_path / "o.jsonl", check=False)
    if not want:
        assert p.returncode != 0 and "no examples found" in p.stderr
        return
    assert p.returncode == 0, p.stderr
    got = read_jsonl(tmp_path / "o.jsonl")
    dups = int(p.stdout.split("duplicates: ")[1].split(",")[0])
    by_line = {int(e["source"].rsplit(":", 1)[1]): e for e in got}
    assert len(by_line) == len(got)
    missing = [w for w in want if w[0] not in by_line]
    assert len(missing) == dups, f"not extracted: {[(m[0], m[1]) for m in missing][:5]}"
    assert len(got) + dups == len(want), f"extra: {sorted(set(by_line) - {w[0] for w in want})[:5]}"
    for line, name, text, summary in want:
        if line not in by_line:
            continue
        e = by_line[line]
        assert e["lang"] == "python" and e["source"] == f"{os.path.basename(path)}:{line}"
        assert e["output"] == text, f"line {line}"
        ast.parse(e["output"])
        assert e["instruction"].startswith(f"Write the Python function {name}")
        if summary:
            assert e["instruction"].endswith("\n\n" + summary)
        assert e["input"].split("(")[0].split()[-1] == name


@pytest.mark.skipif(shutil.which("swiftc") is None, reason="swiftc not installed")
def test_swift_functions_parse(tmp_path):
    p = llmkit("dataset", "extract", ROOT / "Sources" / "Finetune", ROOT / "Sources" / "Formats", "--lang", "swift",
               "-o", tmp_path / "s.jsonl")
    got = read_jsonl(tmp_path / "s.jsonl")
    assert len(got) > 100, p.stdout
    sample = got[:: max(1, len(got) // 40)]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"target": "", "prediction": e["output"], "lang": "swift"}) + "\n" for e in sample))
    res = [json.loads(l) for l in llmkit("dev", "metrics", "--pairs", pairs).stdout.splitlines()]
    bad = [e["source"] for e, r in zip(sample, res) if r["parse"] != "parsed"]
    assert not bad, bad
    for e in sample:
        assert e["instruction"].startswith("Write the Swift function ") and "\n\n" in e["instruction"]
        assert e["output"].rstrip().endswith("}") and "func " in e["input"]


GO = '''package api

import "net/http"

// GetUser returns the user named in the path.
func (s *Server) GetUser(w http.ResponseWriter, r *http.Request) {
	msg := "not found: }"
	raw := `a } raw { string`
	c := '}'
	/* } */
	if s == nil { // }
		http.Error(w, msg+raw+string(c), 404)
	}
}

func helper(x int) int { return x }

func Routes(s *Server) {
	http.HandleFunc("GET /users/{id}", s.GetUser)
}
'''

VUE = '''<!-- A card for one user. -->
<template>
  <div><template v-if="user">{{ user.name }}</template></div>
</template>

<script>
export default {
  name: 'UserCard',
  props: { user: Object, compact: { type: Boolean, default: false } },
  emits: ['select'],
}
</script>
'''

SWIFT = '''/// Doubles x.
func double(_ x: Int) -> Int {
    let s = "}"
    return x * 2
}
'''

PY = '''def add(a, b):
    """Add two numbers."""
    return a + b
'''


def make_tree(root):
    (root / "api").mkdir(parents=True)
    (root / "api" / "handlers.go").write_text(GO)
    (root / "web").mkdir()
    (root / "web" / "UserCard.vue").write_text(VUE)
    (root / "web" / "copy.vue").write_text(VUE)  # a duplicate
    for k in range(6):
        (root / "lib").mkdir(exist_ok=True)
        (root / "lib" / f"m{k}.py").write_text(PY.replace("add", f"add{k}"))
    (root / "lib" / "double.swift").write_text(SWIFT)
    (root / "lib" / "bin.py").write_bytes(b"def f():\n    '''x'''\n\x00")
    for skip in ["vendor", "node_modules", ".git"]:
        (root / skip).mkdir()
        (root / skip / "h.go").write_text(GO.replace("GetUser", "Other"))


def test_tree(tmp_path):
    make_tree(tmp_path / "proj")
    p = llmkit("dataset", "extract", tmp_path / "proj", "-o", tmp_path / "d.jsonl", "--val", "0.3", "--seed", "1")
    assert "files: 10 (go 1, python 6, swift 1, vue 2)" in p.stdout
    assert "kept: 9 (go 1, python 6, swift 1, vue 1), duplicates: 1, too long: 0" in p.stdout
    assert "binary 1" in p.stdout and "ignored folder 3" in p.stdout
    train, val = read_jsonl(tmp_path / "d.jsonl"), read_jsonl(tmp_path / "d.val.jsonl")
    assert len(train) + len(val) == 9 and val
    assert not {e["source"].rsplit(":", 1)[0] for e in train} & {e["source"].rsplit(":", 1)[0] for e in val}
    assert all(list(e) == ["instruction", "input", "output", "source", "lang"] for e in train + val)
    go = next(e for e in train + val if e["lang"] == "go")
    assert go["source"] == "proj/api/handlers.go:6"
    assert go["instruction"] == ("Write the Go HTTP handler GetUser (a method on *Server) for GET /users/{id}.\n\n"
                                 "GetUser returns the user named in the path.")
    assert go["output"] == GO[GO.index("func (s"):GO.index("func helper")].rstrip()
    vue = next(e for e in train + val if e["lang"] == "vue")
    assert vue["instruction"] == ("Write the Vue single-file component UserCard. Props: user, compact. Emits: select.\n\n"
                                  "A card for one user.")
    assert vue["output"] == VUE[VUE.index("<template>"):].rstrip() and vue["source"] == "proj/web/UserCard.vue:2"
    sw = next(e for e in train + val if e["lang"] == "swift")
    assert sw["output"] == SWIFT[SWIFT.index("func"):].rstrip() and sw["instruction"] == "Write the Swift function double.\n\nDoubles x."
    # Deterministic; another seed gives another split of the same examples.
    llmkit("dataset", "extract", tmp_path / "proj", "-o", tmp_path / "e.jsonl", "--val", "0.3", "--seed", "1")
    assert (tmp_path / "e.jsonl").read_bytes() == (tmp_path / "d.jsonl").read_bytes()
    splits = set()
    for seed in range(6):
        llmkit("dataset", "extract", tmp_path / "proj", "-o", tmp_path / "f.jsonl", "--val", "0.3", "--seed", seed)
        splits.add(tuple(sorted(e["source"] for e in read_jsonl(tmp_path / "f.val.jsonl"))))
    assert len(splits) > 1
    # Filters.
    size = {e["lang"]: len(e["instruction"]) + len(e["input"]) + len(e["output"]) for e in train + val}
    assert size["vue"] < size["go"]
    p = llmkit("dataset", "extract", tmp_path / "proj", "-o", tmp_path / "g.jsonl", "--lang", "go,vue", "--max-chars", size["vue"])
    assert "kept: 1 (vue 1), duplicates: 1, too long: 1" in p.stdout and "language not selected 8" in p.stdout


def test_errors(tmp_path):
    for args, msg in [(["nope"], "no such file or folder"), ([tmp_path, "--lang", "cobol"], "unknown language 'cobol'"),
                      ([tmp_path, "--val", "1.5"], "--val must be in [0, 1)"), ([tmp_path], "no examples found")]:
        p = llmkit("dataset", "extract", *args, "-o", tmp_path / "x.jsonl", check=False)
        assert p.returncode == 1 and msg in p.stderr and p.stderr.count("\n") == 1, p.stderr
        assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.skipif(shutil.which("gofmt") is None, reason="gofmt not installed")
def test_go_handlers_parse_with_gofmt(tmp_path):
    make_tree(tmp_path / "proj")
    (tmp_path / "proj" / "api" / "gin.go").write_text(
        'package api\n\n// Ping answers.\nfunc Ping(c *gin.Context) {\n\tc.String(200, "}")\n}\n\n'
        'func (s *S) Echo(c echo.Context) error {\n\tr := `{`\n\treturn c.String(200, r)\n}\n')
    llmkit("dataset", "extract", tmp_path / "proj", "--lang", "go", "-o", tmp_path / "g.jsonl")
    got = read_jsonl(tmp_path / "g.jsonl")
    assert len(got) == 3
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"target": "", "prediction": e["output"], "lang": "go"}) + "\n" for e in got))
    res = [json.loads(l) for l in llmkit("dev", "metrics", "--pairs", pairs).stdout.splitlines()]
    assert [r["parse"] for r in res] == ["parsed"] * 3
