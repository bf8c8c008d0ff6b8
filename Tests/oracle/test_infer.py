"""Inference against llama.cpp's own outputs (../shared/reference/greedy-*.json, perplexity.json) and against an
independent numpy implementation of the GPT architecture.

Greedy decoding must reproduce llama.cpp's token ids up to the first step whose reference top-1/top-2 logit margin
is below 0.02 (below that, two correct implementations may pick differently). Quantized models are chaotic under
any change of float arithmetic (one ulp flips an 8-bit activation rounding; the flips compound), so this checks that
llmkit computes exactly what llama.cpp computes, not just the same math."""
import json
import math
import os

import numpy as np
import pytest

from conftest import REFERENCE, llmkit

MARGIN = 0.02


def reference(variant):
    return json.loads((REFERENCE / f"greedy-{variant}.json").read_text())


@pytest.mark.parametrize("variant", ["Q4_1", "F16", "Q8_0", "Q4_0", "Q4_K_M"])
def test_greedy_ids_match_llamacpp(smollm2_variant, variant):
    model = smollm2_variant(variant)
    failures = []
    for r in reference(variant)["results"]:
        ids = ",".join(map(str, r["prompt_ids"]))
        got = json.loads(llmkit("dev", "generate", model, "--ids", ids, "-n", "64", "--ctx", "1024").stdout)
        want = r["generated_ids_64_ignore_eog"]
        margins = r["top1_minus_top2_logit"]
        limit = next((i for i, m in enumerate(margins) if m < MARGIN), len(want))
        first = next((i for i, (a, b) in enumerate(zip(got["ids"], want)) if a != b), None)
        if first is not None and first < limit:
            failures.append(f"{r['id']}: step {first} got {got['ids'][first]} want {want[first]} "
                            f"(reference margin {margins[first]:.4f})")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("variant", ["Q4_1", "Q4_0", "Q8_0"])
def test_batched_decode_gives_each_prompt_its_own_tokens(smollm2_variant, variant):
    """All reference prompts decoded together (one forward pass per step over every sequence, as the server's
    continuous batching does): each prompt's ids equal llama.cpp's single-sequence reference, as alone."""
    model = smollm2_variant(variant)
    results = reference(variant)["results"]
    args = [a for r in results for a in ("--ids", ",".join(map(str, r["prompt_ids"])))]
    rows = [json.loads(line) for line in llmkit("dev", "generate", model, *args, "-n", "64", "--ctx", "1024").stdout.splitlines()]
    assert len(rows) == len(results)
    failures = []
    for r, got in zip(results, rows):
        want, margins = r["generated_ids_64_ignore_eog"], r["top1_minus_top2_logit"]
        limit = next((i for i, m in enumerate(margins) if m < MARGIN), len(want))
        first = next((i for i, (a, b) in enumerate(zip(got["ids"], want)) if a != b), None)
        if first is not None and first < limit:
            failures.append(f"{r['id']}: step {first} got {got['ids'][first]} want {want[first]}")
    assert not failures, "\n".join(failures)


def test_first_step_logits_match_llamacpp(smollm2_variant):
    """The five largest logits of the first step, to llama.cpp's printed precision."""
    for r in reference("Q8_0")["results"][:3]:
        got = json.loads(llmkit("dev", "generate", smollm2_variant("Q8_0"), "--ids", ",".join(map(str, r["prompt_ids"])),
                                "-n", "1").stdout)
        for g, w in zip(got["first_step_top5"], r["first_step_top5"]):
            assert g["id"] == w["id"]
            assert abs(g["logit"] - w["logit"]) < 1e-4, (r["id"], g, w)


def test_run_raw_and_chat_text_match_llamacpp(smollm2):
    ref = {r["id"]: r for r in reference("Q4_1")["results"]}
    greedy = ["--temperature", "0", "--repeat-penalty", "1"]
    raw = ref["raw-capital"]
    p = llmkit("run", "--raw", smollm2, raw["prompt"], *greedy, "-n", "64", "--ignore-eos", "--ctx", "1024")
    assert p.stdout == raw["generated_text_64_ignore_eog"]
    # A one-shot chat turn: SmolLM2's template with its default system message, stopping at <|im_end|>.
    chat = ref["chat-capital"]
    question = chat["prompt"].split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
    p = llmkit("run", smollm2, question, *greedy, "-n", "64", "--ctx", "1024")
    assert p.stdout.rstrip("\n") == chat["generated_text"]


def test_stop_strings_end_the_text_before_them(smollm2):
    raw = reference("Q4_1")["results"][0]
    full = raw["generated_text_64_ignore_eog"]
    stop = full[full.index("United") + 3: full.index("United") + 9]  # spans token boundaries
    p = llmkit("run", "--raw", smollm2, raw["prompt"], "--temperature", "0", "--repeat-penalty", "1", "-n", "64",
               "--ignore-eos", "--stop", stop)
    assert p.stdout == full[: full.index(stop)]


def test_same_seed_same_text(smollm2):
    args = ["run", "--raw", smollm2, "Once upon a time", "--temperature", "0.9", "-n", "24"]
    a = llmkit(*args, "--seed", "7").stdout
    b = llmkit(*args, "--seed", "7").stdout
    c = llmkit(*args, "--seed", "8").stdout
    assert a == b
    assert a != c


PPL_VARIANTS = ["Q4_1", "F16", "Q8_0", "Q4_0", "Q4_K_M"]


@pytest.mark.parametrize("variant", PPL_VARIANTS)
def test_perplexity_matches_llamacpp(smollm2_variant, variant):
    text = "/usr/share/common-licenses/GPL-3"
    if not os.path.exists(text):
        pytest.skip("GPL-3 text (Debian base-files) missing")
    want, want_err = json.loads((REFERENCE / "perplexity.json").read_text())["ppl"][variant]
    out = llmkit("perplexity", smollm2_variant(variant), text, "-c", "512").stdout
    line = [l for l in out.splitlines() if l.startswith("Final estimate: PPL = ")][0]
    ppl, err = float(line.split()[4]), float(line.split()[6])
    assert abs(ppl - want) / want < 0.005, (ppl, want)
    assert abs(err - want_err) / want_err < 0.05, (err, want_err)


def test_bench_json_has_llama_bench_fields(smollm2):
    rows = json.loads(llmkit("bench", smollm2, "-p", "16", "-n", "4", "-r", "2", "-t", "1", "-o", "json").stdout)
    assert [(r["n_prompt"], r["n_gen"]) for r in rows] == [(16, 0), (0, 4)]
    for r in rows:
        assert r["n_threads"] == 1 and r["avg_ts"] > 0 and r["stddev_ts"] >= 0 and len(r["samples_ts"]) == 2
    table = llmkit("bench", smollm2, "-p", "8", "-n", "2", "-r", "1").stdout.splitlines()
    assert [c.strip() for c in table[0].split("|")[1:-1]] == ["model", "size", "params", "backend", "threads", "test", "t/s"]
    assert "pp8" in table[2] and "tg2" in table[3]


# ---------------------------------------------------------------------------------------------- tiny GPT


def gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def layernorm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def gpt_numpy(W, ids, n_head, eps):
    """GPT-2 forward pass in float64 (causal self-attention, learned positions, pre-LayerNorm, tanh GELU)."""
    T = len(ids)
    x = W["token_embd.weight"][ids] + W["position_embd.weight"][:T]
    D = x.shape[1]
    hd = D // n_head
    mask = np.triu(np.full((T, T), -np.inf), 1)
    layer = 0
    while f"blk.{layer}.attn_norm.weight" in W:
        p = f"blk.{layer}."
        h = layernorm(x, W[p + "attn_norm.weight"], W[p + "attn_norm.bias"], eps)
        qkv = h @ W[p + "attn_qkv.weight"].T + W[p + "attn_qkv.bias"]
        q, k, v = qkv[:, :D], qkv[:, D:2 * D], qkv[:, 2 * D:]
        out = np.zeros_like(q)
        for hh in range(n_head):
            s = slice(hh * hd, (hh + 1) * hd)
            a = q[:, s] @ k[:, s].T / math.sqrt(hd) + mask
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            out[:, s] = a @ v[:, s]
        x = x + out @ W[p + "attn_output.weight"].T + W[p + "attn_output.bias"]
        h = layernorm(x, W[p + "ffn_norm.weight"], W[p + "ffn_norm.bias"], eps)
        x = x + gelu(h @ W[p + "ffn_up.weight"].T + W[p + "ffn_up.bias"]) @ W[p + "ffn_down.weight"].T + W[p + "ffn_down.bias"]
        layer += 1
    h = layernorm(x, W["output_norm.weight"], W["output_norm.bias"], eps)
    return h @ W["output.weight"].T


def write_tiny_gpt(path, rng, vocab=61, ctx=48, dim=32, n_head=4, ffn=64, layers=2, eps=1e-5):
    import gguf
    W = {"token_embd.weight": rng.normal(0, 0.5, (vocab, dim)), "position_embd.weight": rng.normal(0, 0.2, (ctx, dim))}
    for l in range(layers):
        p = f"blk.{l}."
        W[p + "attn_norm.weight"] = 1 + rng.normal(0, 0.1, dim)
        W[p + "attn_norm.bias"] = rng.normal(0, 0.1, dim)
        W[p + "attn_qkv.weight"] = rng.normal(0, 0.3, (3 * dim, dim))
        W[p + "attn_qkv.bias"] = rng.normal(0, 0.1, 3 * dim)
        W[p + "attn_output.weight"] = rng.normal(0, 0.3, (dim, dim))
        W[p + "attn_output.bias"] = rng.normal(0, 0.1, dim)
        W[p + "ffn_norm.weight"] = 1 + rng.normal(0, 0.1, dim)
        W[p + "ffn_norm.bias"] = rng.normal(0, 0.1, dim)
        W[p + "ffn_up.weight"] = rng.normal(0, 0.3, (ffn, dim))
        W[p + "ffn_up.bias"] = rng.normal(0, 0.1, ffn)
        W[p + "ffn_down.weight"] = rng.normal(0, 0.3, (dim, ffn))
        W[p + "ffn_down.bias"] = rng.normal(0, 0.1, dim)
    W["output_norm.weight"] = 1 + rng.normal(0, 0.1, dim)
    W["output_norm.bias"] = rng.normal(0, 0.1, dim)
    W["output.weight"] = rng.normal(0, 0.3, (vocab, dim))
    W = {k: v.astype(np.float32) for k, v in W.items()}
    w = gguf.GGUFWriter(str(path), "gpt2")
    w.add_context_length(ctx)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ffn)
    w.add_block_count(layers)
    w.add_head_count(n_head)
    w.add_layer_norm_eps(eps)
    for k, v in W.items():
        w.add_tensor(k, v)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {k: v.astype(np.float64) for k, v in W.items()}, n_head, eps


@pytest.mark.parametrize("cache", ["f32", "f16"])
def test_tiny_gpt_logits_equal_numpy(tmp_path, cache):
    rng = np.random.default_rng(3)
    W, n_head, eps = write_tiny_gpt(tmp_path / "tiny.gguf", rng)
    ids = [int(i) for i in rng.integers(0, 61, 40)]
    llmkit("dev", "generate", tmp_path / "tiny.gguf", "--ids", ",".join(map(str, ids)), "-n", "1", "--ctx", "48",
           "--cache-type", cache, "--logits-out", tmp_path / "logits.bin")
    got = np.fromfile(tmp_path / "logits.bin", dtype=np.float32).reshape(len(ids), 61)
    want = gpt_numpy(W, ids, n_head, eps)
    tol = 2e-4 if cache == "f32" else 2e-2  # F16 keys/values and queries round at 2^-11
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < tol, err


def test_bad_model_files_are_clear_errors(tmp_path, smollm2):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\x00" * 20)
    for args in (["run", junk, "hi"], ["run", tmp_path / "missing.gguf", "hi"], ["bench", junk],
                 ["perplexity", junk, "/etc/hostname"]):
        p = llmkit(*args, check=False)
        assert p.returncode != 0
        assert p.stderr.startswith("llmkit: error:") or "Error:" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) <= 3
    p = llmkit("dev", "generate", smollm2, "--ids", "1,2,99999999", "-n", "1", check=False)
    assert p.returncode != 0 and "outside the vocabulary" in p.stderr
