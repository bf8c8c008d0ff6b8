"""`llmkit train` as a program: resume equals an uninterrupted run, a SIGKILL in the middle of writing a checkpoint
loses nothing, the exported GGUF is what gguf-py reads and what `llmkit run` continues exactly as the training code
did, and bad input is a one-line error. A small config on a small corpus, so each run takes seconds."""
import json
import os
import random
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader
from safetensors.numpy import load_file

from conftest import BIN, llmkit

SMALL = ["--layers", "1", "--dim", "32", "--heads", "4", "--ffn", "64", "--context", "32", "--batch", "4",
         "--eval-every", "10", "--eval-windows", "8", "--log-every", "5", "--threads", "1"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """About 50 KB of seeded word salad: structure a tiny model learns in a hundred steps, so its greedy samples
    are real text (not one repeated character) that the export must reproduce."""
    rng = random.Random(5)
    words = "the model learns to write words and tokens from its own docs".split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 9))) + "." for _ in range(1500)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train(corpus, out, *extra, check=True, env=None):
    return llmkit("train", "--data", corpus, "--out", out, *SMALL, *extra, check=check) if env is None else \
        subprocess.run([str(BIN), "train", "--data", str(corpus), "--out", str(out), *SMALL, *map(str, extra)],
                       capture_output=True, text=True, timeout=600, env=env)


def curve(run):
    """(step, loss, val_loss, lr, grad_norm, tokens) of every metrics line — everything but the timings."""
    rows = []
    for line in (Path(run) / "metrics.jsonl").read_text().splitlines():
        o = json.loads(line)
        rows.append(tuple(o.get(k) for k in ("step", "loss", "val_loss", "lr", "grad_norm", "tokens")))
    return rows


def final_weights(run, step):
    return (Path(run) / "checkpoints" / f"step-{step:06d}" / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "whole"
    train(corpus, run, "--steps", "40", "--checkpoint-every", "10", "--no-export")
    return run


def test_resume_equals_an_uninterrupted_run(corpus, uninterrupted, tmp_path):
    run = tmp_path / "halves"
    train(corpus, run, "--steps", "40", "--checkpoint-every", "10", "--no-export", "--stop-at", "20")
    assert not (run / "summary.json").exists()
    assert curve(run) == [r for r in curve(uninterrupted) if r[0] <= 20]
    train(corpus, run, "--steps", "40", "--checkpoint-every", "10", "--no-export", "--resume")
    whole = curve(uninterrupted)
    assert len(whole) == 8 + 4 and curve(run) == whole  # 8 training lines, 4 validations
    assert final_weights(run, 40) == final_weights(uninterrupted, 40)
    a = json.loads((uninterrupted / "summary.json").read_text())
    b = json.loads((run / "summary.json").read_text())
    for k in ("steps", "final_val_loss", "best_val_loss", "best_step", "parameters"):
        assert a[k] == b[k], k


def test_kill_while_writing_a_checkpoint(corpus, uninterrupted, tmp_path):
    run = tmp_path / "killed"
    env = dict(os.environ, LLMKIT_CHECKPOINT_PAUSE="60", LLMKIT_CHECKPOINT_PAUSE_STEP="20")
    p = subprocess.Popen([str(BIN), "train", "--data", str(corpus), "--out", str(run), *SMALL, "--steps", "40",
                          "--checkpoint-every", "10", "--no-export"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in p.stderr:
            if line.startswith("checkpoint: paused writing"):
                break
        else:
            pytest.fail("the writer never paused")
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    ckpts = run / "checkpoints"
    names = sorted(x.name for x in ckpts.iterdir())
    assert "step-000010" in names and "step-000020" not in names
    assert any(n.startswith(".tmp-step-000020") for n in names), names
    # The previous checkpoint is whole: its files parse and its state names its step.
    prev = ckpts / "step-000010"
    assert json.loads((prev / "state.json").read_text())["step"] == 10
    assert len(load_file(prev / "model.safetensors")) == len(load_file(prev / "optimizer.safetensors")) // 2
    r = train(corpus, run, "--steps", "40", "--checkpoint-every", "10", "--no-export", "--resume")
    assert "removed half-written" in r.stderr and "from step 10" in r.stderr
    assert not any(x.name.startswith(".tmp") for x in ckpts.iterdir())
    assert curve(run) == curve(uninterrupted)
    assert final_weights(run, 40) == final_weights(uninterrupted, 40)


@pytest.fixture(scope="module")
def exported(corpus, tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    run, store = base / "tiny-test", base / "models"
    # Context 64 holds a prompt and its 40 generated tokens (generation stops when the context is full).
    train(corpus, run, "--steps", "150", "--lr", "1e-2", "--checkpoint-every", "30", "--models", store, "--context", "64",
          "--samples", "The model", "--samples", "tokens ")
    return run, store


def test_run_reproduces_the_training_codes_greedy_samples(exported):
    run, store = exported
    samples = json.loads((run / "samples.json").read_text())["samples"]
    assert [s["prompt"] for s in samples] == ["The model", "tokens "]
    for s in samples:
        out = llmkit("run", run / "model.gguf", s["prompt"], "--raw", "--temperature", "0", "--repeat-penalty", "1",
                     "--cache-type", "f32", "-n", "40").stdout
        assert out == s["greedy"], (out, s["greedy"])
        assert 0 < s["greedy_tokens"] <= 40 and len(set(s["greedy"])) >= 4, s  # text, not one repeated character
    # Registered in the store under the run's name.
    manifest = json.loads((store / "manifests" / "library" / "tiny-test" / "latest.json").read_text())
    assert manifest["name"] == "tiny-test:latest"
    assert (store / manifest["file"]).read_bytes() == (run / "model.gguf").read_bytes()


def test_gguf_py_reads_the_export(exported):
    run, _ = exported
    r = GGUFReader(run / "model.gguf")
    kv = {f.name: f for f in r.fields.values()}

    def val(k):
        f = kv[k]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]].tolist()[0]
    assert val("general.architecture") == "gpt2"
    assert val("general.file_type") == 0
    for k, want in [("gpt2.block_count", 1), ("gpt2.embedding_length", 32), ("gpt2.feed_forward_length", 64),
                    ("gpt2.attention.head_count", 4), ("gpt2.context_length", 64)]:
        assert val(k) == want, k
    assert abs(val("gpt2.attention.layer_norm_epsilon") - 1e-5) < 1e-12
    assert val("tokenizer.ggml.model") == "char"
    summary = json.loads((run / "summary.json").read_text())
    step = json.loads((run / "samples.json").read_text())["step"]
    assert step == summary["best_step"]
    ckpt = load_file(run / "checkpoints" / f"step-{step:06d}" / "model.safetensors")
    names = [t.name for t in r.tensors]
    assert sorted(names) == sorted(ckpt) and "output.weight" not in names  # tied output
    for t in r.tensors:
        want = ckpt[t.name]
        assert t.tensor_type == 0  # F32
        assert list(t.shape) == list(reversed(want.shape)), t.name  # ggml order
        np.testing.assert_array_equal(np.asarray(t.data).reshape(want.shape), want, err_msg=t.name)
    assert summary["parameters"] == sum(v.size for v in ckpt.values())


def test_run_folder(exported):
    run, _ = exported
    assert (run / "loss.svg").read_text().startswith("<svg")
    report = (run / "report.md").read_text()
    for s in ("## Setup", "## Results", "## Samples", "perplexity", "bits per character", "The model"):
        assert s in report, s
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    train_lines = [l for l in lines if "loss" in l]
    assert [l["step"] for l in train_lines] == list(range(5, 151, 5))
    assert set(train_lines[0]) == {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"}
    val = [l for l in lines if "val_loss" in l]
    assert [l["step"] for l in val] == list(range(10, 151, 10))
    assert all(abs(l["val_ppl"] - np.exp(l["val_loss"])) < 1e-3 * l["val_ppl"] for l in val)
    s = json.loads((run / "summary.json").read_text())
    assert s["final_val_loss"] == val[-1]["val_loss"] and s["best_val_loss"] == min(l["val_loss"] for l in val)
    assert s["tokens_per_s"] > 0 and s["peak_rss_bytes"] > 0 and s["config"]["model"]["dim"] == 32


def run_bad(*args):
    p = llmkit(*args, check=False)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stderr.startswith("llmkit: error:") and p.stderr.count("\n") == 1, p.stderr
    return p.stderr


def test_bad_input(corpus, uninterrupted, tmp_path):
    out = tmp_path / "bad"
    assert "nope.txt" in run_bad("train", "--data", tmp_path / "nope.txt", "--out", out, *SMALL, "--steps", "2")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in run_bad("train", "--data", empty, "--out", out, *SMALL, "--steps", "2")
    short = tmp_path / "short.txt"
    short.write_text("a few words, far shorter than one window of 32 characters per side")
    assert "shorter than one window" in run_bad("train", "--data", short, "--out", out, *SMALL, "--steps", "2")
    assert "multiple of heads" in run_bad("train", "--data", corpus, "--out", out, *SMALL, "--dim", "30", "--steps", "2")
    assert "no complete checkpoint" in run_bad("train", "--data", corpus, "--out", out, *SMALL, "--steps", "2", "--resume")
    # Resuming the finished 40-step run with other data or another model is refused.
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text() + "x")
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(uninterrupted), str(copy)], check=True)
    assert "other data" in run_bad("train", "--data", other, "--out", copy, *SMALL, "--steps", "40", "--resume")
    assert "--dim" in run_bad("train", "--data", corpus, "--out", copy, *SMALL, "--dim", "64", "--steps", "40", "--resume")
    assert "--lr" in run_bad("train", "--data", corpus, "--out", copy, *SMALL, "--lr", "1e-3", "--steps", "40", "--resume")
    assert "already holds" in run_bad("train", "--data", corpus, "--out", copy, *SMALL, "--steps", "40")


def test_bpe_run_exports_its_tokenizer(corpus, tmp_path):
    """--tokenizer bpe: the trained tokenizer.json is saved in the run folder, the export carries the same
    vocabulary (byte-level BPE keys), and `llmkit run` on it continues as the training code did."""
    from tokenizers import Tokenizer
    run = tmp_path / "bpe"
    train(corpus, run, "--tokenizer", "bpe", "--vocab-size", "300", "--steps", "40", "--lr", "1e-2", "--context", "64",
          "--models", tmp_path / "models", "--samples", "the model")
    hf = Tokenizer.from_file(str(run / "tokenizer.json"))
    text = "the model learns to write words. tokens and docs."
    assert json.loads(llmkit("tokenize", run / "model.gguf", text, "--ids", "--no-bos").stdout) == hf.encode(text).ids
    r = GGUFReader(run / "model.gguf")
    kv = {f.name: f for f in r.fields.values()}
    assert kv["tokenizer.ggml.model"].contents() == "gpt2"
    assert len(kv["tokenizer.ggml.tokens"].contents()) == hf.get_vocab_size() == 300
    s = json.loads((run / "samples.json").read_text())["samples"][0]
    out = llmkit("run", run / "model.gguf", s["prompt"], "--raw", "--temperature", "0", "--repeat-penalty", "1",
                 "--cache-type", "f32", "-n", "40").stdout
    assert out == s["greedy"]


def test_epochs_set_the_step_count(corpus, tmp_path):
    """--epochs N trains N · train tokens / (batch · context) steps (char level: tokens = characters)."""
    run = tmp_path / "epochs"
    train(corpus, run, "--epochs", "0.05", "--no-export")
    n = len(corpus.read_text(encoding="utf-8")) * 9 // 10
    assert json.loads((run / "summary.json").read_text())["steps"] == round(0.05 * n / (4 * 32))
