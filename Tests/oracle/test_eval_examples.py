"""`llmkit eval --data x.jsonl` (held-out examples) and `llmkit compare` against numpy and rouge-score, on a tiny random
gpt2-architecture character model written with gguf-py (test_eval's builder; no chat template, so completion records
are prompt text as is and the response ends with EOS):
(a) per example, the response loss equals numpy's log-softmax over test_eval's independent forward pass; the greedy
    prediction equals numpy's argmax loop (stopping at EOS or the token budget); ROUGE-L equals rouge-score, exact
    match and the Python parse outcome equal Python's own (compile(); a blank answer is not code);
(b) a prompt longer than the context keeps its last tokens (counted as cut);
(c) compare: two models on the same set → a Markdown table with their rows, an SVG that parses as XML with one
    bar group per metric, samples side by side, and figures equal to eval's; bad --model specs fail on one line;
(d) adapters: scale 0 is the base exactly, compare's NAME=PATH+ADAPTER equals eval --adapter (SmolLM2).
"""
import json
import math
import xml.etree.ElementTree as ET

import numpy as np
from rouge_score import rouge_scorer

from conftest import llmkit
from gguf import GGUFReader
from test_adapter import make_peft
from test_eval import gpt2_logits, write_tiny_gpt2

CHARS = sorted(set("abcdefghijklmnopqrstuvwxyz .,:()=+\n_0123456789"))
RECORDS = [
    ("def f(x):\n    return ", "x + 1\n"),
    ("the cat sat on the ", "mat."),
    ("a = 1\nb = ", "2\n"),
    ("print(", "1)"),
    ("x" * 50 + " then ", "done"),  # longer than the room left for the answer: cut to its last tokens
]


def numpy_eval(P, cfg, prompt, response, max_new, ctx=64):
    eos = len(CHARS)
    p = [CHARS.index(c) for c in prompt]
    room = ctx - min(max_new, ctx // 2)
    cut = len(p) > room
    p = p[-room:]
    r = ([CHARS.index(c) for c in response] + [eos])[: ctx - len(p)]
    lg = gpt2_logits(P, cfg, p + r[:-1])
    nats = 0.0
    for j, t in enumerate(r):
        row = lg[len(p) - 1 + j]
        m = row.max()
        nats -= row[t] - m - math.log(np.exp(row - m).sum())
    ids, out = list(p), []
    limit = min(max_new, ctx - len(p) + 1)
    while len(out) < limit:
        t = int(np.argmax(gpt2_logits(P, cfg, ids)[-1]))
        out.append(t)
        if t == eos or len(ids) >= ctx:
            break
        ids.append(t)
    text = "".join(CHARS[t] for t in out if t != eos)
    return nats, len(r), text, cut, len([t for t in out])


def write_data(path, records):
    path.write_text("".join(json.dumps({"prompt": a, "completion": b, "lang": "python"}) + "\n" for a, b in records))


def test_examples_match_numpy(tmp_path):
    model = tmp_path / "tiny.gguf"
    P, cfg = write_tiny_gpt2(model, CHARS)
    data = tmp_path / "val.jsonl"
    write_data(data, RECORDS)
    max_new = 12
    got = json.loads(llmkit("eval", model, "--data", data, "--max-new-tokens", max_new, "--json").stdout)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    assert got["examples"] == len(RECORDS)
    total_nats, total_tokens, total_bytes, rouges, exact, cut = 0.0, 0, 0, [], 0, 0
    for (prompt, response), s in zip(RECORDS, got["samples"]):
        nats, n, text, was_cut, generated = numpy_eval(P, cfg, prompt, response, max_new)
        assert s["response_tokens"] == n
        assert abs(s["loss"] * n - nats) < 1e-4 * max(1, nats), (prompt, s["loss"] * n, nats)
        nbytes = min(n, len(response))  # one byte per ASCII character; EOS is a control token (no text)
        assert s["response_bytes"] == nbytes
        assert abs(s["bits_per_byte"] - nats / math.log(2) / nbytes) < 1e-4 * s["bits_per_byte"]
        total_bytes += nbytes
        assert s["prediction"] == text, (prompt, s["prediction"], text)
        assert s["generated_tokens"] == generated
        want_rouge = scorer.score(response, text)["rougeL"].fmeasure
        assert s["rouge_l"] == want_rouge
        assert s["exact"] == (response.strip() == text.strip())
        try:
            compile(text, "x.py", "exec")
            parses = bool(text.strip())
        except SyntaxError:
            parses = False
        assert s["parse"] == ("parsed" if parses else "failed"), (text, s["parse"])
        total_nats += nats
        total_tokens += n
        rouges.append(want_rouge)
        exact += s["exact"]
        cut += was_cut
    assert got["cut_prompts"] == cut == 1
    assert got["response_tokens"] == total_tokens
    assert abs(got["loss"] - total_nats / total_tokens) < 1e-5 * got["loss"]
    assert abs(got["perplexity"] - math.exp(got["loss"])) < 1e-9 * got["perplexity"]
    assert got["response_bytes"] == total_bytes
    assert abs(got["bits_per_byte"] - total_nats / math.log(2) / total_bytes) < 1e-5 * got["bits_per_byte"]
    assert abs(got["rouge_l"] - sum(rouges) / len(rouges)) < 1e-12
    assert got["exact_match"] == exact / len(RECORDS)
    # --limit and the result file.
    out = tmp_path / "r.json"
    p = llmkit("eval", model, "--data", data, "--max-new-tokens", max_new, "--limit", 2, "--json-out", out)
    assert "2 examples" in p.stdout and "ROUGE-L F1:" in p.stdout
    assert [s["prediction"] for s in json.loads(out.read_text())["samples"]] == [s["prediction"] for s in got["samples"][:2]]


def test_compare(tmp_path):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    write_tiny_gpt2(a, CHARS, seed=0)
    write_tiny_gpt2(b, CHARS, seed=1)
    data = tmp_path / "val.jsonl"
    write_data(data, RECORDS[:4])
    report = tmp_path / "report.md"
    llmkit("compare", "--data", data, "--model", f"one={a}", "--model", f"two={b}", "--max-new-tokens", 8, "-o", report,
           "--json-out", tmp_path / "all.json", "--samples", 2)
    md = report.read_text()
    rows = [l for l in md.splitlines() if l.startswith("| one ") or l.startswith("| two ")]
    assert len(rows) == 2
    assert md.count("<table>") == 2 and "![scores and held-out loss](report.svg)" in md
    svg = ET.parse(tmp_path / "report.svg").getroot()
    rects = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.find("{http://www.w3.org/2000/svg}title") is not None]
    assert {r.find("{http://www.w3.org/2000/svg}title").text.split(":")[0] for r in rects} == {"one", "two"}
    results = json.loads((tmp_path / "all.json").read_text())
    for name, path, r in zip(["one", "two"], [a, b], results):
        alone = json.loads(llmkit("eval", path, "--data", data, "--max-new-tokens", 8, "--json").stdout)
        assert r["model"] == name
        for k in ("loss", "rouge_l", "exact_match", "response_tokens"):
            assert r[k] == alone[k]
        assert [s["prediction"] for s in r["samples"]] == [s["prediction"] for s in alone["samples"]]
        assert f"{r['loss']:.4f}" in next(l for l in rows if l.startswith(f"| {name} "))
    for spec, msg in [("nameonly", "expected NAME=PATH"), (f"=x", "expected NAME=PATH"), (f"one={tmp_path}/missing.gguf", "missing.gguf")]:
        p = llmkit("compare", "--data", data, "--model", spec, "-o", tmp_path / "x.md", check=False)
        assert p.returncode == 1 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_adapters(smollm2, tmp_path):
    """eval/compare with a LoRA adapter (a random PEFT adapter on SmolLM2's q/v, test_adapter's writer): scale 0 is
    the base exactly, scale 1 changes the loss, and compare's NAME=PATH+ADAPTER is the same run as eval --adapter."""
    r = GGUFReader(smollm2)
    make_peft(tmp_path / "peft", {"reader": r, "layers": 30}, targets=("attn_q", "attn_v"))
    data = tmp_path / "val.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "completion": c}) + "\n"
                            for p, c in [("Name a colour.", "Blue."), ("What is 2 + 2?", "4")]))

    def ev(model, *extra):
        return json.loads(llmkit("eval", model, "--data", data, "--max-new-tokens", 4, "--json", *extra).stdout)

    plain = ev(smollm2)
    zero = ev(smollm2, "--adapter", tmp_path / "peft", "--adapter-scale", 0)
    assert zero["loss"] == plain["loss"] and [s["prediction"] for s in zero["samples"]] == [s["prediction"] for s in plain["samples"]]
    adapted = ev(smollm2, "--adapter", tmp_path / "peft")
    assert abs(adapted["loss"] - plain["loss"]) > 1e-3
    assert adapted["model"].endswith(" + peft")
    llmkit("compare", "--data", data, "--model", f"ft={smollm2}+{tmp_path / 'peft'}", "--max-new-tokens", 4,
           "-o", tmp_path / "r.md", "--json-out", tmp_path / "all.json")
    got = json.loads((tmp_path / "all.json").read_text())[0]
    assert got["loss"] == adapted["loss"] and [s["prediction"] for s in got["samples"]] == [s["prediction"] for s in adapted["samples"]]
