"""An independent float64 numpy implementation of one training step's forward and backward for llmkit's two
trainable architectures — the oracle `test_train_step.py` compares `llmkit dev train-step` with, itself checked
against PyTorch autograd by `benchmarks/check-numpy-oracle.py`.

What it is: the loss and the gradient of every parameter for one batch, dropout off, written op by op (llm.c
style: each op's forward returns a cache, its backward takes the cache and the output gradient). Nothing here is
shared with the Swift code; the conventions are the ones the training contract fixes:

  - Parameters are a dict {GGUF tensor name: ndarray} in row-major (PyTorch) shapes: a linear weight is
    [out, in] and computes y = x @ W.T + b; an embedding is [vocab, dim].
  - "gpt2": x = token_embd[t] + position_embd[pos]; per block pre-LayerNorm (weight + bias, eps normEps), fused
    attn_qkv [3·dim, dim] + bias split into q, k, v (in that order), causal multi-head attention (scale
    1/sqrt(headDim)), attn_output + bias, residual; LayerNorm, ffn_up + bias, tanh-GELU, ffn_down + bias,
    residual; output_norm (weight + bias); logits = x @ output.weight.T, with output.weight = token_embd.weight
    when tiedOutput.
  - "llama": x = token_embd[t]; per block RMSNorm (weight only), attn_q / attn_k / attn_v (no bias), RoPE in
    ggml's NORM mode on q and k (adjacent pairs (x[2i], x[2i+1]) of each head rotated by pos·θ_i,
    θ_i = ropeTheta^(-2i/headDim)), grouped-query attention (query head h reads kv head h // (heads/kvHeads)),
    attn_output, residual; RMSNorm, SwiGLU (silu(ffn_gate) * ffn_up), ffn_down, residual; output_norm; output.
  - Loss: mean cross-entropy over the positions whose target is >= 0 (a negative target is not scored).

Arrays are (B, T, C) activations; heads are (B, H, T, hd).
"""
import numpy as np

# ---------------------------------------------------------------------------------------------------------------
# The parameter table


def parameter_shapes(cfg):
    """{name: shape} of every parameter, in the model's order (embeddings, blocks, output norm, output)."""
    V, D, F, L = cfg["vocabularySize"], cfg["dim"], cfg["ffnDim"], cfg["layers"]
    H, KV = cfg["heads"], cfg.get("kvHeads", cfg["heads"])
    hd = D // H
    shapes = {"token_embd.weight": (V, D)}
    if cfg["architecture"] == "gpt2":
        assert KV == H, "gpt2 has a fused qkv: kvHeads must equal heads"
        shapes["position_embd.weight"] = (cfg["contextLength"], D)
        for i in range(L):
            b = f"blk.{i}."
            shapes.update({b + "attn_norm.weight": (D,), b + "attn_norm.bias": (D,),
                           b + "attn_qkv.weight": (3 * D, D), b + "attn_qkv.bias": (3 * D,),
                           b + "attn_output.weight": (D, D), b + "attn_output.bias": (D,),
                           b + "ffn_norm.weight": (D,), b + "ffn_norm.bias": (D,),
                           b + "ffn_up.weight": (F, D), b + "ffn_up.bias": (F,),
                           b + "ffn_down.weight": (D, F), b + "ffn_down.bias": (D,)})
        shapes["output_norm.weight"] = (D,)
        shapes["output_norm.bias"] = (D,)
    elif cfg["architecture"] == "llama":
        for i in range(L):
            b = f"blk.{i}."
            shapes.update({b + "attn_norm.weight": (D,), b + "attn_q.weight": (D, D),
                           b + "attn_k.weight": (KV * hd, D), b + "attn_v.weight": (KV * hd, D),
                           b + "attn_output.weight": (D, D), b + "ffn_norm.weight": (D,),
                           b + "ffn_gate.weight": (F, D), b + "ffn_up.weight": (F, D), b + "ffn_down.weight": (D, F)})
        shapes["output_norm.weight"] = (D,)
    else:
        raise ValueError(f"unknown architecture {cfg['architecture']!r}")
    if not cfg.get("tiedOutput", True):
        shapes["output.weight"] = (V, D)
    return shapes


def random_parameters(cfg, rng):
    """Random weights that exercise every gradient: linear weights ~ N(0, 1/fan_in) (so attention is far from
    uniform and activations stay O(1)), embeddings ~ N(0, 0.5²) (logits of a few units, softmax not saturated),
    norm weights 1 + N(0, 0.1²), biases N(0, 0.1²)."""
    params = {}
    for name, shape in parameter_shapes(cfg).items():
        if name.endswith(".bias"):
            params[name] = 0.1 * rng.standard_normal(shape)
        elif "norm" in name:
            params[name] = 1 + 0.1 * rng.standard_normal(shape)
        elif "embd" in name:
            params[name] = 0.5 * rng.standard_normal(shape)
        else:
            params[name] = rng.standard_normal(shape) / np.sqrt(shape[1])
    return params


# ---------------------------------------------------------------------------------------------------------------
# Ops: forward returns (out, cache); backward returns the input gradients (and adds parameter gradients)


def linear_forward(x, w, b=None):
    y = x @ w.T
    return (y + b if b is not None else y), x


def linear_backward(dy, x, w):
    """dx, dw, db for y = x @ w.T + b; x (…, in), dy (…, out)."""
    dx = dy @ w
    dw = dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1])
    db = dy.reshape(-1, dy.shape[-1]).sum(0)
    return dx, dw, db


def layernorm_forward(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    xc = x - mean
    rstd = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * w + b, (xhat, rstd, w)


def layernorm_backward(dy, cache):
    xhat, rstd, w = cache
    dxhat = dy * w
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    flat = lambda a: a.reshape(-1, a.shape[-1])
    return dx, (flat(dy) * flat(xhat)).sum(0), flat(dy).sum(0)


def rmsnorm_forward(x, w, eps):
    r = 1 / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    return x * r * w, (x, r, w)


def rmsnorm_backward(dy, cache):
    x, r, w = cache
    dxhat = dy * w
    dx = r * dxhat - r ** 3 * x * (dxhat * x).mean(-1, keepdims=True)
    flat = lambda a: a.reshape(-1, a.shape[-1])
    return dx, (flat(dy) * flat(x * r)).sum(0)


GELU_C = np.sqrt(2 / np.pi)


def gelu_forward(x):
    t = np.tanh(GELU_C * (x + 0.044715 * x ** 3))
    return 0.5 * x * (1 + t), (x, t)


def gelu_backward(dy, cache):
    x, t = cache
    return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x))


def swiglu_forward(gate, up):
    s = 1 / (1 + np.exp(-gate))
    return gate * s * up, (gate, up, s)


def swiglu_backward(dy, cache):
    gate, up, s = cache
    dgate = dy * up * s * (1 + gate * (1 - s))
    dup = dy * gate * s
    return dgate, dup


def rope_angles(T, hd, theta):
    """cos, sin of pos·θ_i, shape (T, hd/2)."""
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    return np.cos(ang), np.sin(ang)


def rope(x, cos, sin, inverse=False):
    """NORM mode on (B, H, T, hd): pairs (x[2i], x[2i+1]) rotated by +angle (or -angle: the backward)."""
    s = -sin if inverse else sin
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * s
    out[..., 1::2] = x0 * s + x1 * cos
    return out


def attention_forward(q, k, v):
    """Causal softmax(q kᵀ/√hd) v; q (B, H, T, hd), k and v (B, KV, T, hd) with H a multiple of KV."""
    B, H, T, hd = q.shape
    group = H // k.shape[1]
    ke, ve = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)  # kv head h // group serves query head h
    scale = 1 / np.sqrt(hd)
    s = q @ ke.transpose(0, 1, 3, 2) * scale
    s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    return p @ ve, (q, ke, ve, p, scale, group)


def attention_backward(dy, cache):
    q, ke, ve, p, scale, group = cache
    B, H, T, hd = q.shape
    dp = dy @ ve.transpose(0, 1, 3, 2)
    dve = p.transpose(0, 1, 3, 2) @ dy
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    dq = ds @ ke * scale
    dke = ds.transpose(0, 1, 3, 2) @ q * scale
    fold = lambda a: a.reshape(B, H // group, group, T, hd).sum(2)
    return dq, fold(dke), fold(dve)


def heads(x, n):
    B, T, C = x.shape
    return x.reshape(B, T, n, C // n).transpose(0, 2, 1, 3)


def merge(x):
    B, H, T, hd = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * hd)


def cross_entropy(logits, targets):
    """Mean CE over targets >= 0 and its gradient wrt the logits."""
    scored = targets >= 0
    n = int(scored.sum())
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    t = np.where(scored, targets, 0)
    nll = -np.take_along_axis(logp, t[..., None], -1)[..., 0]
    if n == 0:
        return 0.0, np.zeros_like(logits)
    loss = float((nll * scored).sum() / n)
    dlogits = np.exp(logp)
    np.put_along_axis(dlogits, t[..., None], np.take_along_axis(dlogits, t[..., None], -1) - 1, -1)
    return loss, dlogits * scored[..., None] / n


# ---------------------------------------------------------------------------------------------------------------
# The model


def forward_backward(cfg, params, inputs, targets):
    """(loss, {name: gradient}) for inputs and targets of shape (B, T), in float64."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    G = {k: np.zeros_like(v) for k, v in P.items()}
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    B, T = inputs.shape
    D, H = cfg["dim"], cfg["heads"]
    KV, eps, hd = cfg.get("kvHeads", H), cfg["normEps"], cfg["dim"] // cfg["heads"]
    gpt2 = cfg["architecture"] == "gpt2"
    assert set(P) == set(parameter_shapes(cfg)), "parameter names differ from the architecture's"
    assert T <= cfg["contextLength"]
    if not gpt2:
        cos, sin = rope_angles(T, hd, cfg["ropeTheta"])

    # forward, keeping every cache
    x = P["token_embd.weight"][inputs]
    if gpt2:
        x = x + P["position_embd.weight"][:T]
    caches = []
    for i in range(cfg["layers"]):
        b, c = f"blk.{i}.", {}
        if gpt2:
            h, c["n1"] = layernorm_forward(x, P[b + "attn_norm.weight"], P[b + "attn_norm.bias"], eps)
            qkv, c["qkv"] = linear_forward(h, P[b + "attn_qkv.weight"], P[b + "attn_qkv.bias"])
            q, k, v = heads(qkv[..., :D], H), heads(qkv[..., D:2 * D], H), heads(qkv[..., 2 * D:], H)
        else:
            h, c["n1"] = rmsnorm_forward(x, P[b + "attn_norm.weight"], eps)
            c["h"] = h
            q = rope(heads(h @ P[b + "attn_q.weight"].T, H), cos, sin)
            k = rope(heads(h @ P[b + "attn_k.weight"].T, KV), cos, sin)
            v = heads(h @ P[b + "attn_v.weight"].T, KV)
        y, c["att"] = attention_forward(q, k, v)
        y = merge(y)
        o, c["o"] = linear_forward(y, P[b + "attn_output.weight"], P.get(b + "attn_output.bias"))
        x = x + o
        if gpt2:
            h2, c["n2"] = layernorm_forward(x, P[b + "ffn_norm.weight"], P[b + "ffn_norm.bias"], eps)
            u, c["up"] = linear_forward(h2, P[b + "ffn_up.weight"], P[b + "ffn_up.bias"])
            a, c["act"] = gelu_forward(u)
        else:
            h2, c["n2"] = rmsnorm_forward(x, P[b + "ffn_norm.weight"], eps)
            c["h2"] = h2
            a, c["act"] = swiglu_forward(h2 @ P[b + "ffn_gate.weight"].T, h2 @ P[b + "ffn_up.weight"].T)
        d, c["down"] = linear_forward(a, P[b + "ffn_down.weight"], P.get(b + "ffn_down.bias"))
        x = x + d
        caches.append(c)
    if gpt2:
        xf, nf = layernorm_forward(x, P["output_norm.weight"], P["output_norm.bias"], eps)
    else:
        xf, nf = rmsnorm_forward(x, P["output_norm.weight"], eps)
    out_name = "token_embd.weight" if cfg.get("tiedOutput", True) else "output.weight"
    logits = xf @ P[out_name].T
    loss, dlogits = cross_entropy(logits, targets)

    # backward, in reverse
    dxf, dw, _ = linear_backward(dlogits, xf, P[out_name])
    G[out_name] += dw
    if gpt2:
        dx, dw, db = layernorm_backward(dxf, nf)
        G["output_norm.bias"] += db
    else:
        dx, dw = rmsnorm_backward(dxf, nf)
    G["output_norm.weight"] += dw
    for i in reversed(range(cfg["layers"])):
        b, c = f"blk.{i}.", caches[i]
        # MLP: x = x + down(act(...))
        da, dw, db = linear_backward(dx, c["down"], P[b + "ffn_down.weight"])
        G[b + "ffn_down.weight"] += dw
        if gpt2:
            G[b + "ffn_down.bias"] += db
            du = gelu_backward(da, c["act"])
            dh2, dw, db = linear_backward(du, c["up"], P[b + "ffn_up.weight"])
            G[b + "ffn_up.weight"] += dw
            G[b + "ffn_up.bias"] += db
            dxn, dw, db = layernorm_backward(dh2, c["n2"])
            G[b + "ffn_norm.bias"] += db
        else:
            dgate, dup = swiglu_backward(da, c["act"])
            dh2g, dwg, _ = linear_backward(dgate, c["h2"], P[b + "ffn_gate.weight"])
            dh2u, dwu, _ = linear_backward(dup, c["h2"], P[b + "ffn_up.weight"])
            G[b + "ffn_gate.weight"] += dwg
            G[b + "ffn_up.weight"] += dwu
            dxn, dw = rmsnorm_backward(dh2g + dh2u, c["n2"])
        G[b + "ffn_norm.weight"] += dw
        dx = dx + dxn
        # attention: x = x + attn_output(attention(...))
        dy, dw, db = linear_backward(dx, c["o"], P[b + "attn_output.weight"])
        G[b + "attn_output.weight"] += dw
        if gpt2:
            G[b + "attn_output.bias"] += db
        dq, dk, dv = attention_backward(heads(dy, H), c["att"])
        if gpt2:
            dqkv = np.concatenate([merge(dq), merge(dk), merge(dv)], -1)
            dh, dw, db = linear_backward(dqkv, c["qkv"], P[b + "attn_qkv.weight"])
            G[b + "attn_qkv.weight"] += dw
            G[b + "attn_qkv.bias"] += db
            dxn, dw, db = layernorm_backward(dh, c["n1"])
            G[b + "attn_norm.bias"] += db
        else:
            dq, dk = merge(rope(dq, cos, sin, inverse=True)), merge(rope(dk, cos, sin, inverse=True))
            dh = 0
            for name, g in (("attn_q", dq), ("attn_k", dk), ("attn_v", merge(dv))):
                dhp, dw, _ = linear_backward(g, c["h"], P[b + name + ".weight"])
                G[b + name + ".weight"] += dw
                dh = dh + dhp
            dxn, dw = rmsnorm_backward(dh, c["n1"])
        G[b + "attn_norm.weight"] += dw
        dx = dx + dxn
    np.add.at(G["token_embd.weight"], inputs, dx)
    if gpt2:
        G["position_embd.weight"][:T] += dx.sum(0)
    return loss, G


def loss(cfg, params, inputs, targets):
    return forward_backward(cfg, params, inputs, targets)[0]
