"""Generation metrics (`llmkit dev metrics`) against the reference implementations:
(a) ROUGE-L precision/recall/F1 equal Google's rouge-score (RougeScorer(['rougeL']), default tokenizer, no stemmer)
    exactly, on many pairs: random mixes of words, case, digits, punctuation, Unicode (incl. characters whose
    lowercase is ASCII), empty and blank texts, and real code (stdlib Python functions against each other).
(b) exact match after trimming, and code parsing with each language's own tool (py_compile, swiftc -parse,
    gofmt -e when installed), skipped languages reported as such.
"""
import ast
import glob
import json
import os
import random
import shutil
import sysconfig

import pytest

from conftest import llmkit



from rouge_score import rouge_scorer  # scripts/requirements-oracles.txt

WORDS = ["the", "The", "THE", "a", "handler", "Handler", "user", "users", "id", "ID", "42", "x1", "3.14", "foo_bar",
         "fooBar", "don't", "e-mail", "café", "naïve", "Straße", "İstanbul", "\u212a" + "elvin", "σίσυφος", "日本語",
         "код", "🙂", "a🙂b", "", " ", "\t", "\n", "--", "//", "{", "}", "(x)", "r.URL.Path", "http.Error(w,", "ÀÉÎ", "ǅ",
         "ﬁle", "Ⅻ", "١٢٣", "٣x"]


def random_text(rng):
    n = rng.choice([0, 1, 2, 3, 5, 8, 13, 30, 60])
    return rng.choice([" ", "", "\n", "  "]).join(rng.choice(WORDS) for _ in range(n))


def stdlib_functions(limit):
    out = []
    for path in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))[::7]:
        src = open(path, encoding="utf-8", errors="replace").read()
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                seg = ast.get_source_segment(src, node)
                if seg and len(seg) < 3000:
                    out.append(seg)
        if len(out) >= limit:
            break
    return out[:limit]


def run_metrics(tmp_path, pairs):
    f = tmp_path / "pairs.jsonl"
    f.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    lines = llmkit("dev", "metrics", "--pairs", f).stdout.splitlines()
    assert len(lines) == len(pairs)
    return [json.loads(l) for l in lines]


def test_rouge_l_equals_rouge_score(tmp_path):
    rng = random.Random(7)
    pairs = [{"target": random_text(rng), "prediction": random_text(rng)} for _ in range(1500)]
    # Near misses: a target and an edited copy of it.
    for _ in range(300):
        t = random_text(rng)
        words = t.split(" ")
        rng.shuffle(words[: len(words) // 2])
        pairs.append({"target": t, "prediction": " ".join(words[: rng.randint(0, len(words))])})
    code = stdlib_functions(160)
    for k in range(0, len(code) - 1, 2):
        pairs.append({"target": code[k], "prediction": code[k + 1]})
        pairs.append({"target": code[k], "prediction": code[k][: len(code[k]) // 2]})
    pairs += [{"target": "", "prediction": ""}, {"target": "", "prediction": "a"}, {"target": "a", "prediction": ""},
              {"target": "日本語", "prediction": "日本語"}, {"target": "İ", "prediction": "i"},
              {"target": "\u212a", "prediction": "k"}, {"target": "A b A b", "prediction": "b a b a"}]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    got = run_metrics(tmp_path, pairs)
    mismatches = []
    for p, g in zip(pairs, got):
        want = scorer.score(p["target"], p["prediction"])["rougeL"]
        if (g["precision"], g["recall"], g["fmeasure"]) != (want.precision, want.recall, want.fmeasure):
            mismatches.append((p, g, want))
    assert not mismatches, f"{len(mismatches)} of {len(pairs)} differ, first: {mismatches[:3]}"
    # The set is not degenerate: many distinct non-trivial scores.
    assert len({g["fmeasure"] for g in got}) > 200
    assert sum(0 < g["fmeasure"] < 1 for g in got) > 500


def test_exact_match_and_parsing(tmp_path):
    pairs = [
        {"target": "  x = 1\n", "prediction": "x = 1", "lang": "python"},
        {"target": "x = 1", "prediction": "x = 2", "lang": "python"},
        {"target": "", "prediction": "def f(:\n    pass", "lang": "python"},
        {"target": "", "prediction": "func f() -> Int { return 1 }", "lang": "swift"},
        {"target": "", "prediction": "func f( -> Int { return 1 }", "lang": "swift"},
        {"target": "", "prediction": "func H(w http.ResponseWriter, r *http.Request) { w.Write(nil) }", "lang": "go"},
        {"target": "", "prediction": "func H(w http.ResponseWriter { ", "lang": "go"},
        {"target": "", "prediction": "<template><div/></template>", "lang": "vue"},
    ]
    got = run_metrics(tmp_path, pairs)
    assert [g["exact"] for g in got] == [True, False, False, False, False, False, False, False]
    assert got[0]["parse"] == "parsed" and got[1]["parse"] == "parsed" and got[2]["parse"] == "failed"
    if shutil.which("swiftc"):
        assert (got[3]["parse"], got[4]["parse"]) == ("parsed", "failed")
    else:
        assert got[3]["parse"] == got[4]["parse"] == "skipped: swiftc not installed"
    if shutil.which("gofmt"):
        assert (got[5]["parse"], got[6]["parse"]) == ("parsed", "failed")
    else:
        assert got[5]["parse"] == got[6]["parse"] == "skipped: gofmt not installed"
    assert got[7]["parse"] == "skipped: no parser for vue"
