"""One training step of llmkit's models against an independent float64 numpy implementation (train_numpy.py,
itself checked against PyTorch autograd and finite differences by benchmarks/check-numpy-oracle.py).

For small configs of both architectures (GQA and MQA, tied and untied output, ignored targets including a whole
ignored row, batch > 1, lengths that are not powers of two, a length equal to the context) it writes seeded random
weights and a random batch, runs

    llmkit dev train-step --config C.json --weights W.safetensors --tokens B.json --out G.safetensors

and compares the loss (G's `__metadata__` "loss") and the gradient of every parameter with the oracle's, computed
on the same float32 weights. It also checks `--init-out W.safetensors --seed S` (the initialization the training
contract fixes) and that bad inputs end in a one-line error.

Tolerances (named below): the loss to LOSS_RTOL relative; each gradient tensor to GRAD_TOL relative to the tensor's
largest magnitude, max|g − g_ref| ≤ GRAD_TOL · max|g_ref|. Why not an element-wise rtol: llmkit computes in float32
(unit roundoff 6e-8), so the error of an element is set by the size of the terms summed into it (which scale with
the tensor), not by the element itself — an element that is small because of cancellation has an unbounded
relative error under correct float32 arithmetic. Scaling by the tensor's max keeps the check as strict as float32
allows everywhere (a wrong term anywhere — a missing bias, a wrong head, an off-by-one mask — shows up at 1e-2…1).
"""
import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from conftest import llmkit
import train_numpy

LOSS_RTOL = 1e-5
GRAD_TOL = 1e-4


def config(architecture, vocab, context, layers, dim, heads, ffn, kv=None, tied=True, theta=10000.0):
    return {"architecture": architecture, "vocabularySize": vocab, "contextLength": context, "layers": layers,
            "dim": dim, "heads": heads, "kvHeads": kv or heads, "ffnDim": ffn, "dropout": 0.0, "normEps": 1e-5,
            "ropeTheta": theta, "tiedOutput": tied}


# name: (config, batch, length)
CASES = {
    "gpt2-tied": (config("gpt2", 37, 16, 2, 32, 4, 64), 2, 13),
    "gpt2-untied-full-context": (config("gpt2", 23, 12, 1, 24, 2, 40, tied=False), 3, 12),
    "gpt2-one-head-3-layers": (config("gpt2", 50, 9, 3, 16, 1, 16), 4, 7),
    "llama-gqa-untied": (config("llama", 41, 16, 2, 32, 4, 48, kv=2, tied=False), 2, 11),
    "llama-mqa-tied": (config("llama", 29, 20, 2, 24, 3, 36, kv=1, theta=500.0), 3, 19),
    "llama-mha-3-layers": (config("llama", 31, 8, 3, 16, 2, 20, tied=False), 1, 5),
}


def write_step(tmp_path, cfg, B, T, seed):
    """Writes C.json, W.safetensors (float32) and B.json; returns (float32 params, inputs, targets, paths)."""
    rng = np.random.default_rng(seed)
    params = {k: v.astype(np.float32) for k, v in train_numpy.random_parameters(cfg, rng).items()}
    inputs = rng.integers(0, cfg["vocabularySize"], size=(B, T))
    targets = rng.integers(0, cfg["vocabularySize"], size=(B, T))
    targets[rng.random((B, T)) < 0.2] = -1  # some positions not scored (prompt masking)
    if B > 2:
        targets[1] = -1  # and a whole row not scored
    targets[0, -1] = rng.integers(0, cfg["vocabularySize"])  # at least one scored position
    paths = {n: tmp_path / n for n in ("C.json", "W.safetensors", "B.json", "G.safetensors")}
    paths["C.json"].write_text(json.dumps(cfg))
    save_file(params, str(paths["W.safetensors"]))
    paths["B.json"].write_text(json.dumps({"batch": B, "length": T, "inputs": inputs.reshape(-1).tolist(),
                                           "targets": targets.reshape(-1).tolist()}))
    return params, inputs, targets, paths


def train_step(paths):
    return llmkit("dev", "train-step", "--config", paths["C.json"], "--weights", paths["W.safetensors"],
                  "--tokens", paths["B.json"], "--out", paths["G.safetensors"])


@pytest.mark.parametrize("name", list(CASES))
def test_one_step_matches_numpy(tmp_path, name):
    cfg, B, T = CASES[name]
    params, inputs, targets, paths = write_step(tmp_path, cfg, B, T, seed=sorted(CASES).index(name))
    train_step(paths)
    want_loss, want = train_numpy.forward_backward(cfg, params, inputs, targets)

    with safe_open(str(paths["G.safetensors"]), framework="np") as f:
        loss = float(f.metadata()["loss"])
    got = load_file(str(paths["G.safetensors"]))
    assert set(got) == set(params), f"gradient names differ: {sorted(set(got) ^ set(params))}"
    assert abs(loss - want_loss) <= LOSS_RTOL * abs(want_loss), f"loss {loss!r} vs numpy {want_loss!r}"
    failures = []
    for k in params:
        assert got[k].dtype == np.float32 and got[k].shape == params[k].shape, f"{k}: {got[k].dtype} {got[k].shape}"
        scale = np.abs(want[k]).max()
        err = np.abs(got[k].astype(np.float64) - want[k]).max()
        if not err <= GRAD_TOL * scale:
            worst = np.unravel_index(np.argmax(np.abs(got[k] - want[k])), want[k].shape)
            failures.append(f"{k}: max err {err:.3e} (max |grad| {scale:.3e}), at {worst}: {got[k][worst]:.6g} vs "
                            f"{want[k][worst]:.6g}")
    assert not failures, "gradients differ from numpy:\n" + "\n".join(failures)


def test_the_tolerances_catch_a_rope_mode_mistake():
    """The comparison above can fail: RoPE in NEOX mode (pairs (i, i + hd/2)) instead of NORM mode (adjacent pairs)
    — a classic llama mistake — moves the loss and gradients far beyond the tolerances. NEOX on W equals NORM on W
    with the rows of attn_q/attn_k permuted within each head, which is how the wrong model is computed here."""
    cfg, B, T = CASES["llama-gqa-untied"]
    rng = np.random.default_rng(7)
    params = train_numpy.random_parameters(cfg, rng)
    inputs = rng.integers(0, cfg["vocabularySize"], size=(B, T))
    targets = rng.integers(0, cfg["vocabularySize"], size=(B, T))
    loss, grads = train_numpy.forward_backward(cfg, params, inputs, targets)
    hd = cfg["dim"] // cfg["heads"]
    perm = np.stack([np.arange(hd // 2), np.arange(hd // 2) + hd // 2], 1).reshape(-1)  # 0, hd/2, 1, hd/2+1, ...
    neox = dict(params)
    for k in ("attn_q", "attn_k"):
        for i in range(cfg["layers"]):
            w = params[f"blk.{i}.{k}.weight"]
            neox[f"blk.{i}.{k}.weight"] = w.reshape(-1, hd, w.shape[1])[:, perm].reshape(w.shape)
    wrong_loss, wrong = train_numpy.forward_backward(cfg, neox, inputs, targets)
    assert abs(wrong_loss - loss) > 100 * LOSS_RTOL * abs(loss), (wrong_loss, loss)
    k = "blk.0.ffn_up.weight"  # an unpermuted tensor downstream of attention
    assert np.abs(wrong[k] - grads[k]).max() > 100 * GRAD_TOL * np.abs(grads[k]).max()


INIT_CASES = {
    "gpt2": config("gpt2", 97, 64, 4, 64, 4, 256),
    "llama-gqa-untied": config("llama", 97, 64, 4, 64, 4, 192, kv=2, tied=False),
}


def init_weights(tmp_path, cfg, seed, name="W.safetensors"):
    c = tmp_path / "C.json"
    c.write_text(json.dumps(cfg))
    w = tmp_path / name
    llmkit("dev", "train-step", "--config", c, "--init-out", w, "--seed", seed)
    return load_file(str(w))


@pytest.mark.parametrize("name", list(INIT_CASES))
def test_init(tmp_path, name):
    cfg = INIT_CASES[name]
    w = init_weights(tmp_path, cfg, 1)
    shapes = train_numpy.parameter_shapes(cfg)
    assert set(w) == set(shapes), f"names differ: {sorted(set(w) ^ set(shapes))}"
    scaled = 0.02 / np.sqrt(2 * cfg["layers"])
    for k, shape in shapes.items():
        v = w[k].astype(np.float64)
        assert w[k].dtype == np.float32 and v.shape == shape, f"{k}: {w[k].dtype} {v.shape}, want {shape}"
        if k.endswith(".bias"):
            assert np.all(v == 0), k
        elif "norm" in k:
            assert np.all(v == 1), k
        else:
            sigma = scaled if (".attn_output." in k or ".ffn_down." in k) else 0.02
            n = v.size
            # sample std and mean of n normal draws: sd of std ≈ σ/√(2n), of mean σ/√n; 5 sd margins
            assert abs(v.std() / sigma - 1) < 5 / np.sqrt(2 * n), f"{k}: std {v.std():.5f}, want {sigma:.5f}"
            assert abs(v.mean()) < 5 * sigma / np.sqrt(n), f"{k}: mean {v.mean():.2e}"
            # normal, not uniform with the same std: P(|x| < σ) = 0.6827 (uniform: 0.577)
            inside = np.mean(np.abs(v) < sigma)
            assert abs(inside - 0.6827) < 5 * np.sqrt(0.6827 * 0.3173 / n) + 1e-3, f"{k}: P(|x|<σ) = {inside:.3f}"


def test_init_is_seeded(tmp_path):
    cfg = INIT_CASES["gpt2"]
    a, b, c = (init_weights(tmp_path, cfg, s, f"W{i}.safetensors") for i, s in enumerate((5, 5, 6)))
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k}: the same seed gave different weights"
    assert not np.array_equal(a["token_embd.weight"], c["token_embd.weight"]), "seeds 5 and 6 gave the same weights"


def bad_inputs():
    cfg, B, T = CASES["llama-gqa-untied"]
    yield "wrong shape", lambda p, d: (p.__setitem__("blk.0.attn_k.weight", np.zeros((32, 32), np.float32)), d)
    yield "missing tensor", lambda p, d: (p.pop("blk.1.ffn_gate.weight"), d)
    yield "token out of vocabulary", lambda p, d: (p, d.update(inputs=[cfg["vocabularySize"]] * (B * T)))
    yield "inputs count", lambda p, d: (p, d.update(inputs=d["inputs"][:-1]))
    yield "target out of vocabulary", lambda p, d: (p, d.update(targets=[cfg["vocabularySize"] + 3] * (B * T)))
    yield "longer than the context", lambda p, d: (p, d.update(length=cfg["contextLength"] + 1, batch=1,
                                                                 inputs=[1] * (cfg["contextLength"] + 1),
                                                                 targets=[1] * (cfg["contextLength"] + 1)))


@pytest.mark.parametrize("what,mutate", list(bad_inputs()), ids=[w for w, _ in bad_inputs()])
def test_bad_input_is_a_one_line_error(tmp_path, what, mutate):
    cfg, B, T = CASES["llama-gqa-untied"]
    params, _, _, paths = write_step(tmp_path, cfg, B, T, seed=3)
    batch = json.loads(paths["B.json"].read_text())
    mutate(params, batch)
    save_file(params, str(paths["W.safetensors"]))
    paths["B.json"].write_text(json.dumps(batch))
    p = llmkit("dev", "train-step", "--config", paths["C.json"], "--weights", paths["W.safetensors"],
               "--tokens", paths["B.json"], "--out", paths["G.safetensors"], check=False)
    assert p.returncode == 1, f"{what}: exit {p.returncode}\n{p.stderr}"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmkit: error:"), f"{what}: {p.stderr!r}"
    assert not paths["G.safetensors"].exists(), f"{what}: an output was written"
