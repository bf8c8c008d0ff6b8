"""A fixed set of real fine-tuning records for the finetune benchmarks, made offline from code every machine has:
the functions with docstrings in a few modules of the running Python's standard library, as alpaca records
(instruction from the docstring's first paragraph and the function's name and signature, output = the function's
source). Deterministic for a given Python version (modules in the listed order, functions in source order); the
file's sha256 and the Python version are returned so results can say what they trained on. Licence of the source
text: the Python Software Foundation License (read here, not redistributed).

    records(n, min_chars, max_chars) -> [{"instruction", "input", "output"}]
    write_records(path, n, ...) -> {"path", "records", "sha256", "python", "modules"}
"""
import ast
import hashlib
import json
import os
import platform
import sysconfig
import textwrap

MODULES = ["textwrap.py", "shlex.py", "difflib.py", "fractions.py", "statistics.py", "calendar.py", "heapq.py",
           "bisect.py", "base64.py", "quopri.py", "colorsys.py", "ipaddress.py", "string.py", "glob.py",
           "fnmatch.py", "posixpath.py", "csv.py", "json/decoder.py", "json/encoder.py", "email/utils.py",
           "urllib/parse.py", "http/cookies.py", "configparser.py", "argparse.py", "pprint.py", "inspect.py"]


def functions(path):
    """(name, signature line, docstring, source) of every function with a docstring, in source order."""
    text = open(path, encoding="utf-8").read()
    tree = ast.parse(text)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            src = ast.get_source_segment(text, node)
            if doc and src:
                out.append((node.lineno, node.name, doc, textwrap.dedent(" " * node.col_offset + src)))
    out.sort()
    return [(name, doc, src) for _, name, doc, src in out]


def records(n=64, min_chars=500, max_chars=1600):
    stdlib = sysconfig.get_paths()["stdlib"]
    out, used = [], []
    for module in MODULES:
        path = os.path.join(stdlib, module)
        if not os.path.exists(path):
            continue
        used.append(module)
        for name, doc, src in functions(path):
            if not (min_chars <= len(src) <= max_chars) or name.startswith("__"):
                continue
            first = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
            signature = src.split("\n", 1)[0].rstrip(":").strip()
            out.append({"instruction": f"Write the Python function `{name}` ({signature}). {first}", "input": "",
                        "output": src})
            if len(out) == n:
                return out, used
    if len(out) < n:
        raise SystemExit(f"sft_records: only {len(out)} functions found in {stdlib} (wanted {n})")
    return out, used


def write_records(path, n=64, min_chars=500, max_chars=1600):
    rows, used = records(n, min_chars, max_chars)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return {"path": str(path), "records": len(rows), "sha256": hashlib.sha256(data).hexdigest(),
            "python": platform.python_version(), "modules": used,
            "licence": "Python Software Foundation License (standard library source)"}


if __name__ == "__main__":
    import sys
    print(json.dumps(write_records(sys.argv[1] if len(sys.argv) > 1 else "records.jsonl"), indent=2))
