"""An independent float64 numpy implementation of one QLoRA step on a llama GGUF base — the oracle
`test_lora_step.py` compares `llmkit dev lora-step` with. It reuses only the generic ops of train_numpy.py
(rmsnorm, swiglu, attention, cross-entropy: themselves checked against PyTorch) and writes the rest here:

  - Base weights: a dict {GGUF name: float64 ndarray}, matrices [out, in] (gguf-py's dequantization of the file).
  - Llama as llama.cpp computes it (q/k rows already permuted by the converter, so RoPE in ggml's NORM mode on
    adjacent pairs): the first `rope_dims` of each head rotate by θ_i = freq_scale·pos·base^(−2i/rope_dims)/ff_i,
    ff the optional rope_freqs.weight factors; output = token_embd when output.weight is absent.
  - LoRA (PEFT): on a target matrix W, y = x·Wᵀ + s·(drop(x)·Aᵀ)·Bᵀ, s = alpha/rank; A [r, in], B [out, r].
  - Dropout masks (optional): the contract's stream — TrainRNG (xoshiro256** seeded through splitmix64), after the
    init's draws (one uniform per element of every A, layer order then target order), one mask per target per
    layer in target order, N·in uniforms u = (next() >> 40)·2⁻²⁴ in memory order, u < p → 0 else 1/(1 − p).
  - Loss: mean cross-entropy over targets ≥ 0. Returns the loss and {param name: gradient} for every lora_a/lora_b.
"""
import numpy as np

import train_numpy as tn

TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
M64 = (1 << 64) - 1


class TrainRNG:
    """xoshiro256** seeded through splitmix64, as the training contract fixes it (written independently here)."""

    def __init__(self, seed):
        z = seed & M64
        s = []
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & M64
            x = z
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
            s.append(x ^ (x >> 31))
        self.s = s

    def next(self):
        s0, s1, s2, s3 = self.s
        r5 = (s1 * 5) & M64
        result = ((((r5 << 7) | (r5 >> 57)) & M64) * 9) & M64
        t = (s1 << 17) & M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & M64
        self.s = [s0, s1, s2, s3]
        return result

    def uniforms(self, n):
        return np.array([(self.next() >> 40) * 2.0 ** -24 for _ in range(n)], dtype=np.float32)


def rope_tables(T, hd, rope_dims, base, freq_scale=1.0, factors=None):
    """cos, sin (T, hd/2): pairs past rope_dims do not rotate (cos 1, sin 0)."""
    half = hd // 2
    cos, sin = np.ones((T, half)), np.zeros((T, half))
    i = np.arange(rope_dims // 2, dtype=np.float64)
    inv = base ** (-2 * i / rope_dims)
    if factors is not None:
        inv = inv / np.asarray(factors, dtype=np.float64)
    ang = freq_scale * np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    cos[:, :rope_dims // 2], sin[:, :rope_dims // 2] = np.cos(ang), np.sin(ang)
    return cos, sin


def forward_backward(hp, weights, lora, scale, inputs, targets, dropout=0.0, rng=None):
    """hp: heads, kv_heads, eps, rope_base, rope_dims, freq_scale, rope_factors, layers.
    weights: {name: array}; lora: {base name: (A, B)}; inputs/targets (B, T). Returns (loss, grads)."""
    W = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    L = {k: (np.asarray(a, np.float64), np.asarray(b, np.float64)) for k, (a, b) in lora.items()}
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    Bn, T = inputs.shape
    H, KV, eps = hp["heads"], hp["kv_heads"], hp["eps"]
    hd = W["blk.0.attn_q.weight"].shape[0] // H
    cos, sin = rope_tables(T, hd, hp["rope_dims"], hp["rope_base"], hp.get("freq_scale", 1.0), hp.get("rope_factors"))
    G = {}

    def lin(name, x, cache):
        y = x @ W[name].T
        if name in L:
            a, b = L[name]
            m = None
            if dropout > 0:
                m = np.where(rng.uniforms(x.size).reshape(x.shape) < np.float32(dropout), 0.0,
                             float(np.float32(1) / (np.float32(1) - np.float32(dropout))))
            xd = x * m if m is not None else x
            h = xd @ a.T
            y = y + scale * h @ b.T
            cache[name] = (xd, h, m)
        return y

    def lin_back(name, dy, cache):
        dx = dy @ W[name]
        if name in L:
            a, b = L[name]
            xd, h, m = cache[name]
            g = scale * dy @ b
            G[name + ".lora_b"] = G.get(name + ".lora_b", 0) + scale * dy.reshape(-1, dy.shape[-1]).T @ h.reshape(-1, h.shape[-1])
            G[name + ".lora_a"] = G.get(name + ".lora_a", 0) + g.reshape(-1, g.shape[-1]).T @ xd.reshape(-1, xd.shape[-1])
            dxl = g @ a
            dx = dx + (dxl * m if m is not None else dxl)
        return dx

    x = W["token_embd.weight"][inputs]
    caches = []
    for i in range(hp["layers"]):
        p, c = f"blk.{i}.", {}
        h, c["n1"] = tn.rmsnorm_forward(x, W[p + "attn_norm.weight"], eps)
        qh = lin(p + "attn_q.weight", h, c)
        kh = lin(p + "attn_k.weight", h, c)
        vh = lin(p + "attn_v.weight", h, c)
        q = tn.rope(tn.heads(qh, H), cos, sin)
        k = tn.rope(tn.heads(kh, KV), cos, sin)
        y, c["att"] = tn.attention_forward(q, k, tn.heads(vh, KV))
        x = x + lin(p + "attn_output.weight", tn.merge(y), c)
        h2, c["n2"] = tn.rmsnorm_forward(x, W[p + "ffn_norm.weight"], eps)
        gate, up = lin(p + "ffn_gate.weight", h2, c), lin(p + "ffn_up.weight", h2, c)
        act, c["act"] = tn.swiglu_forward(gate, up)
        x = x + lin(p + "ffn_down.weight", act, c)
        caches.append(c)
    xf, nf = tn.rmsnorm_forward(x, W["output_norm.weight"], eps)
    wout = W.get("output.weight", W["token_embd.weight"])
    loss, dlogits = tn.cross_entropy(xf @ wout.T, targets)

    dx, _ = tn.rmsnorm_backward(dlogits @ wout, nf)
    for i in reversed(range(hp["layers"])):
        p, c = f"blk.{i}.", caches[i]
        da = lin_back(p + "ffn_down.weight", dx, c)
        dgate, dup = tn.swiglu_backward(da, c["act"])
        dh2 = lin_back(p + "ffn_gate.weight", dgate, c) + lin_back(p + "ffn_up.weight", dup, c)
        dxn, _ = tn.rmsnorm_backward(dh2, c["n2"])
        dx = dx + dxn
        dy = lin_back(p + "attn_output.weight", dx, c)
        dq, dk, dv = tn.attention_backward(tn.heads(dy, H), c["att"])
        dq, dk = tn.merge(tn.rope(dq, cos, sin, inverse=True)), tn.merge(tn.rope(dk, cos, sin, inverse=True))
        dh = (lin_back(p + "attn_q.weight", dq, c) + lin_back(p + "attn_k.weight", dk, c)
              + lin_back(p + "attn_v.weight", tn.merge(dv), c))
        dxn, _ = tn.rmsnorm_backward(dh, c["n1"])
        dx = dx + dxn
    for name in L:  # a pair whose matrix got no gradient path still has (zero) gradients
        for s in (".lora_a", ".lora_b"):
            G.setdefault(name + s, np.zeros_like(L[name][0 if s == ".lora_a" else 1]))
    return loss, G


def skip_init_draws(rng, lora_shapes):
    """Consumes the init's uniforms: every A (rank × in), in parameter order."""
    for r, n_in in lora_shapes:
        for _ in range(r * n_in):
            rng.next()
