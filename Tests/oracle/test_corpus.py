"""`llmkit corpus collect` against Python's own parser, and end to end on a tree of every supported language.
(a) Python: on stdlib modules, every docstring `ast` finds (module, class, def — cleaned as inspect.cleandoc does,
    tabs expanded) is in our document, every comment `tokenize` finds is in it too (bar tool directives and
    rulers), and every line of our document is a line of such a comment or docstring — no string literal leaks in.
(b) A tree with Go, Swift, JS/TS, Vue, C/C++, Python, Markdown, text and rst files plus everything that must be
    skipped (vendored/build/hidden folders, binary, invalid UTF-8, duplicates, a symlink loop): the exact output,
    the printed counts, --include/--exclude/--min-chars, determinism, and errors.
"""
import ast
import glob
import inspect
import io
import os
import re
import sysconfig
import tokenize

import pytest

from conftest import llmkit

DIRECTIVE = re.compile(r"^(-\*-|noqa|type: ignore|pylint:|fmt: (on|off)|isort:|pragma)")


def stdlib_files(n):
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))
    step = max(1, len(files) // n)
    return files[::step][:n]


def python_expectations(src):
    """(docstrings as cleaned by inspect.cleandoc, comment texts, allowed stripped lines)."""
    tree = ast.parse(src)
    docs, allowed = [], set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            d = ast.get_docstring(node, clean=False)
            if d is None:
                continue
            raw = ast.get_source_segment(src, node.body[0]) or ""
            for line in raw.splitlines() + d.splitlines():
                allowed.add(line.strip().expandtabs())
                allowed.add(line.strip().strip("\"'").strip().expandtabs())
            if "\\" not in raw:  # escapes make the value differ from the source text we keep
                docs.append(inspect.cleandoc(d))
    comments = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            allowed.add(text.expandtabs())
            allowed.add(tok.string[1:].strip().expandtabs())
            if tok.start[0] == 1 and tok.string.startswith("#!"):
                continue
            if DIRECTIVE.match(text) or not any(c.isalnum() for c in text):
                continue
            comments.append(text)
    return docs, comments, allowed


@pytest.mark.parametrize("path", stdlib_files(int(os.environ.get("LLMKIT_CORPUS_FILES", 60))), ids=os.path.basename)
def test_python_against_ast_and_tokenize(path, tmp_path):
    src = open(path, encoding="utf-8").read()
    docs, comments, allowed = python_expectations(src)
    if not docs and not comments:
        pytest.skip("no docstrings or comments")
    out = tmp_path / "c.txt"
    llmkit("corpus", "collect", path, "-o", out)
    ours = out.read_text(encoding="utf-8")
    norm = "\n".join(l.rstrip() for l in ours.expandtabs().splitlines())
    for d in docs:
        d = "\n".join(l.rstrip() for l in d.expandtabs().splitlines()).strip("\n")  # cleandoc may keep a " " line
        assert d in norm, f"docstring missing: {d[:200]!r}"
    for c in comments:
        assert c.expandtabs() in norm, f"comment missing: {c!r}"
    for line in ours.expandtabs().splitlines():
        s = line.strip()
        assert not s or s in allowed or any(s in a for a in allowed), f"line from neither a comment nor a docstring: {line!r}"


FILES = {
    "README.md": "# Title\n\nSome text.  \n",
    "guide.rst": "Guide\n=====\n\nReStructuredText body.\n",
    "go/main.go": 'package main\n\n// Main says hi.\nfunc main() {\n\ts := "// no"\n\tr := `/* no */`\n\t_ = \'"\' // rune\n}\n',
    "ios/App.swift": '/// App doc.\nlet s = "\\("// no")" /* one /* two */ three */\nlet r = #"// no "# // yes\n',
    "web/app.ts": "/** TS doc. */\nconst t = `// no ${x /* inside */} //no`; // after\nconst r = /\\/\\*no/; // re\n",
    "web/mod.mjs": "// ES module comment\nexport const a = '/* no */';\n",
    "web/View.vue": "<template>\n  <!-- In the template -->\n</template>\n<script>\n// In the script\nconst s = '<!-- no -->'\n</script>\n",
    "native/x.h": "/*\n * Header comment.\n * Second line.\n */\n#define X \"// no\"\n",
    "native/x.cpp": "auto r = R\"d(// no */ )d\"; // C++ comment\nint n = 1'0; // sep\n",
    "py/m.py": "\"\"\"Module doc.\"\"\"\nx = '# no'  # yes\n\n\ndef f():\n    '''Function doc.'''\n    return \"\"\"not a doc\"\"\"\n",
    "notes.txt": "Plain notes.\n",
    "dup/README.md": "# Title\n\nSome text.  \n",
    "node_modules/pkg/index.js": "// vendored\n",
    ".git/HEAD.txt": "hidden\n",
    "build/out.md": "built\n",
    "target/t.md": "built\n",
    ".venv-x/lib.py": "# venv\n",
    "__pycache__/c.txt": "cache\n",
    "img.bin.txt": b"\x00\x01binary",
    "latin1.md": b"caf\xe9\n",
    "empty.go": "package empty\n",
    "logo.png": b"\x89PNG",
}

EXPECTED = "\n\n".join([  # depth-first, names in byte order
    "# Title\n\nSome text.",
    "Main says hi.\nrune",
    "Guide\n=====\n\nReStructuredText body.",
    "App doc.\none /* two */ three\nyes",
    "C++ comment\nsep",
    "Header comment.\nSecond line.",
    "Plain notes.",
    "Module doc.\nyes\nFunction doc.",
    "In the template\nIn the script",
    "TS doc.\ninside\nafter\nre",
    "ES module comment",
]) + "\n"


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "tree"
    for rel, content in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    os.symlink("..", root / "web" / "loop")
    return root


def test_tree_every_language(tree, tmp_path):
    out = tmp_path / "corpus.txt"
    p = llmkit("corpus", "collect", tree, "-o", out)
    assert out.read_text(encoding="utf-8") == EXPECTED
    assert "documents: 11 (c 2, go 1, javascript 2, markdown 1, python 1, rst 1, swift 1, text 1, vue 1)" in p.stdout
    assert f"characters: {len(EXPECTED)} ({len(EXPECTED.encode())} bytes), distinct characters: {len(set(EXPECTED))}" in p.stdout
    assert ("skipped: binary 1, duplicate 1, ignored folder 6, invalid UTF-8 1, symlink loop 1, too short 1, "
            "unsupported extension 1") in p.stdout, p.stdout
    out2 = tmp_path / "again.txt"
    llmkit("corpus", "collect", tree, "-o", out2)
    assert out2.read_bytes() == out.read_bytes()


def test_globs_and_min_chars(tree, tmp_path):
    out = tmp_path / "c.txt"
    llmkit("corpus", "collect", tree, "-o", out, "--include", "*.md", "--include", "web/**")
    assert out.read_text() == "# Title\n\nSome text.\n\nIn the template\nIn the script\n\nTS doc.\ninside\nafter\nre\n\nES module comment\n"
    llmkit("corpus", "collect", tree, "-o", out, "--exclude", "web", "--exclude", "*.h", "--exclude", "native/*.cpp",
           "--min-chars", 14)
    assert out.read_text() == ("# Title\n\nSome text.\n\nMain says hi.\nrune\n\nGuide\n=====\n\nReStructuredText body.\n\n"
                               "App doc.\none /* two */ three\nyes\n\nModule doc.\nyes\nFunction doc.\n")
    llmkit("corpus", "collect", tree / "py", tree / "notes.txt", "-o", out, "--separator", "\\n---\\n")
    assert out.read_text() == "Module doc.\nyes\nFunction doc.\n---\nPlain notes.\n"


def test_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    for args, msg in [([tmp_path / "missing"], "no such file or folder"), ([tmp_path / "empty"], "no documents found")]:
        p = llmkit("corpus", "collect", *args, "-o", tmp_path / "out.txt", check=False)
        assert p.returncode == 1
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0], p.stderr
        assert not (tmp_path / "out.txt").exists()
