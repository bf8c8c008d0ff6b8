"""Checks the numpy training oracle (Tests/oracle/train_numpy.py) against PyTorch autograd, so the oracle the CI
test trusts is itself trusted.

Three checks, all in float64:
  1. For random configs of both architectures (GQA and MQA, tied and untied output, odd lengths, batch > 1, some
     ignored targets), the numpy loss and every numpy gradient against a PyTorch functional forward written here
     from torch's own ops (F.layer_norm, F.rms_norm-by-hand, F.scaled_dot_product_attention, F.gelu tanh, F.silu,
     F.cross_entropy with ignore_index) and differentiated by autograd.
  2. The benchmark's nn.Module (benchmarks/train_reference.py, GPT) loaded with the same gpt2 weights through its
     GGUF names: same loss and gradients — the benchmarked PyTorch model is the architecture llmkit trains.
  3. Central finite differences of the numpy loss on a few coordinates of every parameter (no torch at all).
Prints the max errors; exits 1 if any exceeds its tolerance.

    usage: .venv-torch/bin/python benchmarks/check-numpy-oracle.py [--configs 12] [--seed 0]
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "oracle"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import train_numpy  # noqa: E402
import train_reference  # noqa: E402


def torch_loss(cfg, P, inputs, targets):
    """The same model in torch ops; P are float64 leaf tensors by GGUF name."""
    B, T = inputs.shape
    D, H = cfg["dim"], cfg["heads"]
    KV, eps, hd, L = cfg["kvHeads"], cfg["normEps"], D // H, cfg["layers"]
    gpt2 = cfg["architecture"] == "gpt2"
    idx = torch.from_numpy(inputs)
    x = P["token_embd.weight"][idx]
    if gpt2:
        x = x + P["position_embd.weight"][:T]

    def rms(a, w):
        return a * torch.rsqrt(a.pow(2).mean(-1, keepdim=True) + eps) * w

    def rope(a):  # (B, h, T, hd), adjacent pairs
        inv = cfg["ropeTheta"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
        c = torch.polar(torch.ones_like(ang), ang).to(torch.complex128 if a.dtype == torch.float64 else torch.complex64)
        z = torch.view_as_complex(a.reshape(*a.shape[:-1], hd // 2, 2).contiguous())
        return torch.view_as_real(z * c).reshape(a.shape)

    for i in range(L):
        b = f"blk.{i}."
        if gpt2:
            h = F.layer_norm(x, (D,), P[b + "attn_norm.weight"], P[b + "attn_norm.bias"], eps)
            q, k, v = F.linear(h, P[b + "attn_qkv.weight"], P[b + "attn_qkv.bias"]).split(D, -1)
        else:
            h = rms(x, P[b + "attn_norm.weight"])
            q, k, v = (F.linear(h, P[b + n + ".weight"]) for n in ("attn_q", "attn_k", "attn_v"))
        q = q.view(B, T, H, hd).transpose(1, 2)
        k = k.view(B, T, KV, hd).transpose(1, 2)
        v = v.view(B, T, KV, hd).transpose(1, 2)
        if not gpt2:
            q, k = rope(q), rope(k)
        k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
        x = x + F.linear(y, P[b + "attn_output.weight"], P.get(b + "attn_output.bias"))
        if gpt2:
            h = F.layer_norm(x, (D,), P[b + "ffn_norm.weight"], P[b + "ffn_norm.bias"], eps)
            a = F.gelu(F.linear(h, P[b + "ffn_up.weight"], P[b + "ffn_up.bias"]), approximate="tanh")
        else:
            h = rms(x, P[b + "ffn_norm.weight"])
            a = F.silu(F.linear(h, P[b + "ffn_gate.weight"])) * F.linear(h, P[b + "ffn_up.weight"])
        x = x + F.linear(a, P[b + "ffn_down.weight"], P.get(b + "ffn_down.bias"))
    if gpt2:
        x = F.layer_norm(x, (D,), P["output_norm.weight"], P["output_norm.bias"], eps)
    else:
        x = rms(x, P["output_norm.weight"])
    w = P["token_embd.weight"] if cfg["tiedOutput"] else P["output.weight"]
    logits = x @ w.T
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(targets).reshape(-1), ignore_index=-1)


def random_case(rng):
    arch = ["gpt2", "llama"][rng.integers(2)]
    heads = int(rng.choice([1, 2, 3, 4]))
    hd = int(rng.choice([2, 4, 6, 8]))
    kv = heads if arch == "gpt2" else int(rng.choice([d for d in range(1, heads + 1) if heads % d == 0]))
    ctx = int(rng.integers(4, 20))
    cfg = {"architecture": arch, "vocabularySize": int(rng.integers(5, 50)), "contextLength": ctx,
           "layers": int(rng.integers(1, 4)), "dim": heads * hd, "heads": heads, "kvHeads": kv,
           "ffnDim": int(rng.integers(3, 40)), "dropout": 0.0, "normEps": 1e-5,
           "ropeTheta": float(rng.choice([10000.0, 500.0])), "tiedOutput": bool(rng.integers(2))}
    B, T = int(rng.integers(1, 4)), int(rng.integers(1, ctx + 1))
    inputs = rng.integers(0, cfg["vocabularySize"], size=(B, T))
    targets = rng.integers(0, cfg["vocabularySize"], size=(B, T))
    targets[rng.random((B, T)) < 0.25] = -1
    targets[0, 0] = max(targets[0, 0], 0)  # at least one scored position
    return cfg, inputs, targets


def rel_err(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-300))


def check_against_torch(cfg, params, inputs, targets):
    loss, grads = train_numpy.forward_backward(cfg, params, inputs, targets)
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    tl = torch_loss(cfg, P, inputs, targets)
    tl.backward()
    lerr = abs(loss - tl.item()) / abs(tl.item())
    gerr = max(rel_err(grads[k], P[k].grad.numpy()) for k in params)
    return lerr, gerr


def check_reference_module(rng):
    """train_reference.GPT (dropout 0) against numpy on random gpt2 weights."""
    cfg = {"architecture": "gpt2", "vocabularySize": 29, "contextLength": 12, "layers": 2, "dim": 16, "heads": 4,
           "kvHeads": 4, "ffnDim": 24, "dropout": 0.0, "normEps": 1e-5, "ropeTheta": 10000.0, "tiedOutput": True}
    params = train_numpy.random_parameters(cfg, rng)
    model = train_reference.GPT(29, 12, 2, 16, 4, 24, dropout=0.0).double()
    named = model.gguf_parameters()
    assert set(named) == set(params), sorted(set(named) ^ set(params))
    with torch.no_grad():
        for k, p in named.items():
            p.copy_(torch.from_numpy(params[k]))
    inputs, targets = rng.integers(0, 29, size=(3, 11)), rng.integers(0, 29, size=(3, 11))
    targets[1, 2:5] = -1
    loss, grads = train_numpy.forward_backward(cfg, params, inputs, targets)
    tl = model(torch.from_numpy(inputs), torch.from_numpy(targets))
    tl.backward()
    return abs(loss - tl.item()) / abs(tl.item()), max(rel_err(grads[k], named[k].grad.numpy()) for k in params)


def check_finite_differences(cfg, params, inputs, targets, rng, per_tensor=3, h=1e-6):
    _, grads = train_numpy.forward_backward(cfg, params, inputs, targets)
    worst = 0.0
    for name, p in params.items():
        scale = max(np.abs(grads[name]).max(), 1e-12)
        flat_idx = rng.choice(p.size, size=min(per_tensor, p.size), replace=False)
        for j in flat_idx:
            i = np.unravel_index(j, p.shape)
            old = p[i]
            p[i] = old + h
            up = train_numpy.loss(cfg, params, inputs, targets)
            p[i] = old - h
            down = train_numpy.loss(cfg, params, inputs, targets)
            p[i] = old
            worst = max(worst, abs((up - down) / (2 * h) - grads[name][i]) / scale)
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    ok = True
    worst_loss = worst_grad = worst_fd = 0.0
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    print("| arch | layers | dim | heads/kv | ffn | vocab | tied | B×T | loss rel err | max grad err (rel. to max abs) | finite diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in range(args.configs):
        cfg, inputs, targets = random_case(rng)
        params = train_numpy.random_parameters(cfg, rng)
        lerr, gerr = check_against_torch(cfg, params, inputs, targets)
        fd = check_finite_differences(cfg, params, inputs, targets, rng)
        worst_loss, worst_grad, worst_fd = max(worst_loss, lerr), max(worst_grad, gerr), max(worst_fd, fd)
        print(f"| {cfg['architecture']} | {cfg['layers']} | {cfg['dim']} | {cfg['heads']}/{cfg['kvHeads']} | "
              f"{cfg['ffnDim']} | {cfg['vocabularySize']} | {cfg['tiedOutput']} | {inputs.shape[0]}×{inputs.shape[1]} | "
              f"{lerr:.1e} | {gerr:.1e} | {fd:.1e} |")
    lerr, gerr = check_reference_module(rng)
    print(f"\ntrain_reference.GPT vs numpy (gpt2, tied): loss rel err {lerr:.1e}, max grad err {gerr:.1e}")
    worst_loss, worst_grad = max(worst_loss, lerr), max(worst_grad, gerr)
    print(f"worst: loss {worst_loss:.1e}, gradient {worst_grad:.1e} (torch autograd), finite differences {worst_fd:.1e}")
    if worst_loss > 1e-12 or worst_grad > 1e-10 or worst_fd > 1e-6:
        print("FAIL: the numpy oracle disagrees (tolerances: loss 1e-12, gradients 1e-10, finite differences 1e-6)")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
