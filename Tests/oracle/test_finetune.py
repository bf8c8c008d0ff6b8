"""`llmkit finetune` as a program, and the tokens it trains on.

- Prompt tokens: SmolLM2's own chat template (read from the GGUF with gguf-py) rendered by jinja2 as Hugging Face's
  apply_chat_template renders it, tokenized by the GGUF's vocabulary through `llmkit tokenize` (checked against
  llama.cpp elsewhere), equal the prompt `llmkit dev sft-render` reports; the response is the output's tokens plus
  <|im_end|>; `llmkit run`'s chat path feeds a prompt of the same length.
- The run: on a tiny llama made here with `llmkit train` (char vocabulary, no chat template: the Alpaca prompt),
  then quantized to Q8_0, finetune trains LoRA adapters; resume after --stop-at equals an uninterrupted run bit for
  bit (metrics and adapters); a SIGKILL in the middle of a checkpoint write loses nothing; bad input is one line."""
import json
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest
from gguf import GGUFReader
from jinja2.sandbox import ImmutableSandboxedEnvironment
import jinja2.ext

from conftest import BIN, llmkit


# ---------------------------------------------------------------------------------------------------------------
# Prompt rendering against jinja2 + the GGUF's vocabulary

def gguf_string(reader, key):
    f = reader.fields[key]
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def ids(model, text, *flags):
    out = llmkit("tokenize", model, text, "--ids", *flags).stdout
    return json.loads(out)


RECORDS = [
    {"instruction": "Write a Go handler that returns 404.", "input": "", "output": "func h(w http.ResponseWriter, r *http.Request) {\n\thttp.NotFound(w, r)\n}"},
    {"instruction": "Explain.", "input": "x := 1 // ünïcode", "output": "It sets x to 1."},
]
CHAT = [
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Swift func?"},
                  {"role": "assistant", "content": "func f() -> Int { 1 }"}]},
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_prompt_tokens_equal_jinja2_and_the_gguf_vocabulary(smollm2, tmp_path):
    reader = GGUFReader(str(smollm2))
    template = gguf_string(reader, "tokenizer.chat_template")
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    compiled = env.from_string(template)
    im_end = ids(smollm2, "<|im_end|>", "--no-bos")
    assert len(im_end) == 1

    for records in (RECORDS, CHAT):
        got = [json.loads(l) for l in llmkit("dev", "sft-render", smollm2, "--data", write_jsonl(tmp_path / "d.jsonl", records)).stdout.splitlines()]
        assert len(got) == len(records)
        for rec, g in zip(records, got):
            if "messages" in rec:
                messages, output = rec["messages"][:-1], rec["messages"][-1]["content"]
            else:
                user = rec["instruction"] + ("\n\n" + rec["input"] if rec["input"] else "")
                messages, output = [{"role": "user", "content": user}], rec["output"]
            text = compiled.render(messages=messages, add_generation_prompt=True, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>", tools=None, documents=None)
            assert g["prompt_text"] == text
            assert g["prompt"] == ids(smollm2, text)
            assert g["response"] == ids(smollm2, output, "--no-bos", "--no-special") + im_end


def test_run_feeds_the_same_prompt(smollm2, tmp_path):
    rec = RECORDS[1]
    got = json.loads(llmkit("dev", "sft-render", smollm2, "--data", write_jsonl(tmp_path / "d.jsonl", [rec])).stdout)
    r = llmkit("run", smollm2, rec["instruction"] + "\n\n" + rec["input"], "-n", "1", "--temperature", "0", "--verbose",
               "--threads", "1")
    assert f"prompt: {len(got['prompt'])} tokens" in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------------------------
# Runs on a tiny llama

ALPACA_PREAMBLE = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                   "Write a response that appropriately completes the request.\n\n### Instruction:\n\n### Input:\n\n### Response:\n")
WORDS = "the model learns to write words and tokens from its own docs".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny llama GGUF (char vocabulary holding the Alpaca prompt's characters), quantized to Q8_0, and alpaca data:
    the response repeats the instruction's words reversed."""
    d = tmp_path_factory.mktemp("tiny")
    rng = random.Random(3)
    corpus = ALPACA_PREAMBLE + "\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(400)) + "\n"
    (d / "corpus.txt").write_text(corpus, encoding="utf-8")
    llmkit("train", "--data", d / "corpus.txt", "--out", d / "run", "--arch", "llama", "--layers", "2", "--dim", "64",
           "--heads", "4", "--kv-heads", "2", "--ffn", "128", "--context", "256", "--steps", "4", "--batch", "2",
           "--untied", "--threads", "1", "--name", "tiny-base", "--models", d / "models")
    llmkit("quantize", "--quiet", d / "run" / "model.gguf", d / "base-q8_0.gguf", "q8_0")

    def records(n, seed):
        r = random.Random(seed)
        out = []
        for _ in range(n):
            words = [r.choice(WORDS) for _ in range(r.randint(2, 5))]
            out.append({"instruction": "reverse " + " ".join(words), "input": r.choice(["", "docs"]),
                        "output": " ".join(reversed(words)) + "."})
        return out
    write_jsonl(d / "train.jsonl", records(24, 1))
    write_jsonl(d / "val.jsonl", records(6, 2))
    return d


SMALL = ["--rank", "4", "--alpha", "8", "--targets", "all-linear", "--epochs", "2", "--batch-size", "2", "--grad-accum", "2",
         "--lr", "3e-3", "--max-seq", "256", "--logging-steps", "1", "--eval-steps", "4", "--save-steps", "4",
         "--threads", "1", "--seed", "7"]


def finetune(tiny, out, *extra, check=True, env=None):
    args = [str(BIN), "finetune", str(tiny / "base-q8_0.gguf"), "--data", str(tiny / "train.jsonl"), "--val",
            str(tiny / "val.jsonl"), "--out", str(out), *SMALL, *map(str, extra)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"finetune failed ({p.returncode}):\n{p.stderr}")
    return p


def curve(run):
    """Every metrics line without its timings."""
    rows = []
    for line in (Path(run) / "metrics.jsonl").read_text().splitlines():
        o = json.loads(line)
        rows.append(tuple(o.get(k) for k in ("step", "loss", "val_loss", "lr", "grad_norm", "tokens")))
    return rows


def checkpoint_bytes(run, step):
    c = Path(run) / "checkpoints" / f"step-{step:06d}"
    return (c / "model.safetensors").read_bytes(), (c / "optimizer.safetensors").read_bytes()


@pytest.fixture(scope="module")
def whole(tiny):
    run = tiny / "whole"
    finetune(tiny, run)
    return run


def test_run_folder_and_learning(tiny, whole):
    # 24 examples, batch 2, accumulation 2: 6 steps per epoch, 2 epochs.
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["epochs"] == 2.0
    assert summary["data"]["examples"] == 24 and summary["data"]["dropped"] == 0
    c = curve(whole)
    train = [r for r in c if r[1] is not None]
    val = [r for r in c if r[2] is not None]
    assert [r[0] for r in train] == list(range(1, 13)) and [r[0] for r in val] == [4, 8, 12]
    assert val[-1][2] < val[0][2], val  # the adapters learn
    # HF's linear schedule without warmup: lr · (12 − s) / 12 for step s + 1.
    assert [r[3] for r in train] == pytest.approx([3e-3 * (12 - s) / 12 for s in range(12)], rel=1e-6)
    for f in ("metrics.jsonl", "summary.json", "loss.svg", "adapter_config.json", "adapter_model.safetensors", "adapter.gguf"):
        assert (whole / f).exists(), f
    names = sorted(p.name for p in (whole / "checkpoints").iterdir())
    assert names[-2:] == ["step-000008", "step-000012"] and len(names) <= 3  # save-total-limit 2 (+ the best)
    state = json.loads((whole / "checkpoints" / "step-000012" / "state.json").read_text())
    assert state["step"] == 12 and state["epoch"] == 1 and sorted(state["order"]) == list(range(24))
    adapter = GGUFReader(str(whole / "adapter.gguf"))
    assert gguf_string(adapter, "general.type") == "adapter"


def test_resume_equals_an_uninterrupted_run(tiny, whole):
    run = tiny / "halves"
    finetune(tiny, run, "--stop-at", "6")
    assert not (run / "summary.json").exists()
    assert curve(run) == [r for r in curve(whole) if r[0] <= 6]
    r = finetune(tiny, run, "--resume")
    assert "from step 6" in r.stderr
    assert curve(run) == curve(whole)
    assert checkpoint_bytes(run, 12) == checkpoint_bytes(whole, 12)
    assert (run / "adapter_model.safetensors").read_bytes() == (whole / "adapter_model.safetensors").read_bytes()


def test_kill_while_writing_a_checkpoint(tiny, whole):
    run = tiny / "killed"
    env = dict(os.environ, LLMKIT_CHECKPOINT_PAUSE="60", LLMKIT_CHECKPOINT_PAUSE_STEP="8")
    p = subprocess.Popen([str(BIN), "finetune", str(tiny / "base-q8_0.gguf"), "--data", str(tiny / "train.jsonl"), "--val",
                          str(tiny / "val.jsonl"), "--out", str(run), *SMALL], stderr=subprocess.PIPE, text=True, env=env)
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
    names = sorted(x.name for x in (run / "checkpoints").iterdir())
    assert "step-000004" in names and "step-000008" not in names
    assert any(n.startswith(".tmp-step-000008") for n in names), names
    r = finetune(tiny, run, "--resume")
    assert "removed half-written" in r.stderr and "from step 4" in r.stderr
    assert curve(run) == curve(whole)
    assert checkpoint_bytes(run, 12) == checkpoint_bytes(whole, 12)


def test_grad_checkpoint_and_threads_change_no_bit(tiny, whole):
    """--grad-checkpoint and --threads are bookkeeping (a resume may change them): the same curve and adapters."""
    run = tiny / "gc"
    finetune(tiny, run, "--grad-checkpoint", "--threads", "2")
    assert curve(run) == curve(whole)
    assert (run / "adapter_model.safetensors").read_bytes() == (whole / "adapter_model.safetensors").read_bytes()


def test_packing_and_train_on_prompt_change_the_rows(tiny):
    run = tiny / "packed"
    finetune(tiny, run, "--packing", "--max-steps", "2", "--train-on-prompt")
    s = json.loads((run / "summary.json").read_text())
    assert s["steps"] == 2 and s["config"]["packing"] is True
    # Packed rows hold several examples: fewer rows than examples.
    assert s["data"]["rowsPerEpoch"] < s["data"]["examples"] == 24


def test_bad_input(tiny, whole, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": \n', encoding="utf-8")
    for extra, needle in [(["--data", bad], "line 2"), (["--rank", "0"], "rank"), (["--lr-scheduler", "step"], "--lr-scheduler"),
                          (["--targets", "q_proj,foo"], "foo")]:
        p = subprocess.run([str(BIN), "finetune", str(tiny / "base-q8_0.gguf"), "--data", str(tiny / "train.jsonl"),
                            "--out", str(tmp_path / "x"), *map(str, extra)], capture_output=True, text=True, timeout=120)
        assert p.returncode != 0 and needle in p.stderr and p.stderr.count("\n") == 1, (extra, p.stderr)
    # A finished run folder is not overwritten; a resume with other data is refused.
    p = finetune(tiny, whole, check=False)
    assert p.returncode != 0 and "--resume" in p.stderr
    other = write_jsonl(tmp_path / "other.jsonl", [{"instruction": "reverse the", "output": "the."}] * 4)
    p = subprocess.run([str(BIN), "finetune", str(tiny / "base-q8_0.gguf"), "--data", str(other), "--out", str(whole),
                        *SMALL, "--resume"], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "other data" in p.stderr


def test_hugging_face_base_is_quantized_once(tmp_path):
    """An HF folder (random llama3-tiny weights, Llama 3's tokenizer and chat template) is quantized to Q4_K_M into
    the run folder, reused on --resume; chat responses end with <|eot_id|> (the template's end of turn), not EOS."""
    from conftest import LLAMA3_TOKENIZER
    if not LLAMA3_TOKENIZER.exists():
        pytest.fail(f"{LLAMA3_TOKENIZER} missing: run scripts/setup.sh")
    hf = tmp_path / "hf"
    llmkit("dev", "make-checkpoint", "--shape", "llama3-tiny", "-o", hf, "--tokenizer", LLAMA3_TOKENIZER, "--quiet")
    data = write_jsonl(tmp_path / "chat.jsonl", CHAT + [{"messages": [{"role": "user", "content": "Hi"},
                                                                      {"role": "assistant", "content": "Hello!"}]}])
    run = tmp_path / "run"
    common = ["--data", data, "--out", run, "--epochs", "2", "--batch-size", "1", "--grad-accum", "1", "--max-seq", "96",
              "--threads", "1", "--logging-steps", "1"]
    r = llmkit("finetune", hf, *common, "--stop-at", "2")
    assert "quantizing" in r.stderr and (run / "base.gguf").exists()
    base = GGUFReader(str(run / "base.gguf"))
    assert int(base.fields["general.file_type"].parts[-1][0]) == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    r = llmkit("finetune", hf, *common, "--resume")
    assert "quantized earlier" in r.stderr and "from step 2" in r.stderr
    assert json.loads((run / "summary.json").read_text())["steps"] == 4
    eot = ids(run / "base.gguf", "<|eot_id|>", "--no-bos")
    for line in llmkit("dev", "sft-render", run / "base.gguf", "--data", data).stdout.splitlines():
        assert json.loads(line)["response"][-1:] == eot
