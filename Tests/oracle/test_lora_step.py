"""One QLoRA step of `llmkit dev lora-step` against the independent float64 numpy reference (lora_numpy.py).

Bases are small random llama GGUFs written here with gguf-py (F32; GQA and MQA; untied and tied output; rope_freqs
factors; partial rope dims with linear rope scaling), their Q8_0 / Q4_K_M / Q4_0 variants made by
`llmkit quantize`, and the real SmolLM2-135M-Instruct (PyPI Q4_1 file). The numpy side uses gguf-py's
dequantization of the very file llmkit read, the same A/B (--adapter-in, B nonzero so dA is not 0), the same
tokens and targets (a masked prompt, a wholly unscored row). With dropout on, numpy regenerates the contract's
mask stream (TrainRNG after the init's draws), so the masks' placement, order and 1/(1 − p) scaling are checked.

Tolerances as test_train_step.py: loss to LOSS_RTOL relative; each gradient tensor to GRAD_TOL of its largest
magnitude (float32 arithmetic against float64).
"""
import json

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import lora_numpy
from conftest import SMOLLM2, llmkit, permute, unpermute

LOSS_RTOL = 1e-5
GRAD_TOL = 1e-4


def small(vocab, dim, heads, kv, ffn, layers=2, tied=False, theta=10000.0, rope_dims=None, linear=None, factors=False):
    return dict(vocab=vocab, dim=dim, heads=heads, kv=kv, ffn=ffn, layers=layers, tied=tied, theta=theta,
                rope_dims=rope_dims, linear=linear, factors=factors)


BASES = {
    "gqa-untied": small(41, 32, 4, 2, 64, factors=True),
    "mqa-tied-partial-rope": small(37, 48, 3, 1, 40, tied=True, theta=500.0, rope_dims=8, linear=2.0),
    "k-quant-shape": small(45, 256, 4, 2, 512),  # rows a whole number of 256-blocks, for Q4_K
}


def write_base(path, spec, seed):
    """A random llama GGUF (F32) in llama.cpp's layout; returns nothing (read it back with gguf-py)."""
    rng = np.random.default_rng(seed)
    V, D, H, KV, F = spec["vocab"], spec["dim"], spec["heads"], spec["kv"], spec["ffn"]
    hd = D // H
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("lora-test-base")
    w.add_context_length(128)
    w.add_embedding_length(D)
    w.add_feed_forward_length(F)
    w.add_block_count(spec["layers"])
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(spec["theta"])
    w.add_vocab_size(V)
    if spec["rope_dims"]:
        w.add_rope_dimension_count(spec["rope_dims"])
        w.add_key_length(hd)
        w.add_value_length(hd)
    else:
        w.add_rope_dimension_count(hd)
    if spec["linear"]:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(spec["linear"])

    def mat(out, inn):
        return (rng.standard_normal((out, inn)) / np.sqrt(inn)).astype(np.float32)

    def norm(n):
        return (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w.add_tensor("token_embd.weight", (0.5 * rng.standard_normal((V, D))).astype(np.float32))
    if spec["factors"]:
        w.add_tensor("rope_freqs.weight", (1 + 3 * rng.random((spec["rope_dims"] or hd) // 2)).astype(np.float32))
    for i in range(spec["layers"]):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", norm(D))
        w.add_tensor(p + "attn_q.weight", mat(H * hd, D))
        w.add_tensor(p + "attn_k.weight", mat(KV * hd, D))
        w.add_tensor(p + "attn_v.weight", mat(KV * hd, D))
        w.add_tensor(p + "attn_output.weight", mat(D, H * hd))
        w.add_tensor(p + "ffn_norm.weight", norm(D))
        w.add_tensor(p + "ffn_gate.weight", mat(F, D))
        w.add_tensor(p + "ffn_up.weight", mat(F, D))
        w.add_tensor(p + "ffn_down.weight", mat(D, F))
    w.add_tensor("output_norm.weight", norm(D))
    if not spec["tied"]:
        w.add_tensor("output.weight", mat(V, D))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_base(path):
    """(hp, {name: float64 array [rows, cols]}) as gguf-py reads and dequantizes the file."""
    r = gguf.GGUFReader(str(path))

    def field(key, default=None):
        f = r.fields.get(key)
        if f is None:
            return default
        v = f.parts[f.data[0]]
        return v.tobytes().decode() if f.types[0] == gguf.GGUFValueType.STRING else v[0].item()

    weights = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        weights[t.name] = a.reshape([int(d) for d in reversed(t.shape)]) if a.ndim > 1 or len(t.shape) > 1 else a.reshape(-1)
    H = field("llama.attention.head_count")
    hd = field("llama.attention.key_length", field("llama.embedding_length") // H)
    freq_scale = 1.0
    if field("llama.rope.scaling.type") == "linear":
        freq_scale = 1.0 / field("llama.rope.scaling.factor")
    hp = dict(heads=H, kv_heads=field("llama.attention.head_count_kv", H), eps=field("llama.attention.layer_norm_rms_epsilon"),
              rope_base=field("llama.rope.freq_base", 10000.0), rope_dims=field("llama.rope.dimension_count", hd),
              freq_scale=freq_scale, rope_factors=weights.get("rope_freqs.weight"), layers=field("llama.block_count"))
    return hp, weights


def random_adapter(weights, layers, targets, rank, rng):
    """{param name: float32 array}: A ~ U(±1/√in), B ~ N(0, 0.3²) (nonzero so that dA is not 0)."""
    out = {}
    for i in range(layers):
        for t in targets:
            w = weights[f"blk.{i}.{t}.weight"]
            out[f"blk.{i}.{t}.weight.lora_a"] = (rng.uniform(-1, 1, (rank, w.shape[1])) / np.sqrt(w.shape[1])).astype(np.float32)
            out[f"blk.{i}.{t}.weight.lora_b"] = (0.3 * rng.standard_normal((w.shape[0], rank))).astype(np.float32)
    return out


def batch(vocab, B, T, rng, prompt=3):
    inputs = rng.integers(0, vocab, size=(B, T))
    targets = rng.integers(0, vocab, size=(B, T))
    targets[:, :prompt] = -1  # a masked prompt
    targets[rng.random((B, T)) < 0.15] = -1
    if B > 2:
        targets[1] = -1  # a row with nothing scored
    targets[0, -1] = rng.integers(0, vocab)
    return inputs, targets


def run_step(tmp_path, base, adapter, inputs, targets, rank, alpha, targets_arg, extra=()):
    a, b, g = tmp_path / "A.safetensors", tmp_path / "B.json", tmp_path / "G.safetensors"
    save_file(adapter, str(a))
    B, T = inputs.shape
    b.write_text(json.dumps({"batch": B, "length": T, "inputs": inputs.reshape(-1).tolist(),
                             "targets": targets.reshape(-1).tolist()}))
    llmkit("dev", "lora-step", base, "--tokens", b, "--out", g, "--adapter-in", a, "--rank", rank, "--alpha", alpha,
           "--targets", targets_arg, *extra)
    with safe_open(str(g), framework="np") as f:
        loss = float(f.metadata()["loss"])
    return loss, load_file(str(g))


def compare(loss, got, want_loss, want, adapter):
    assert set(got) == set(adapter), f"gradient names differ: {sorted(set(got) ^ set(adapter))}"
    assert abs(loss - want_loss) <= LOSS_RTOL * abs(want_loss), f"loss {loss!r} vs numpy {want_loss!r}"
    failures = []
    for k in adapter:
        assert got[k].dtype == np.float32 and got[k].shape == adapter[k].shape, f"{k}: {got[k].dtype} {got[k].shape}"
        scale = np.abs(want[k]).max()
        err = np.abs(got[k].astype(np.float64) - want[k]).max()
        if not (scale > 0 and err <= GRAD_TOL * scale):
            failures.append(f"{k}: max err {err:.3e} (max |grad| {scale:.3e})")
    assert not failures, "gradients differ from numpy:\n" + "\n".join(failures)


def reference(hp, weights, adapter, alpha, rank, inputs, targets, dropout=0.0, rng=None):
    lora = {}
    for k, v in adapter.items():
        base = k.rsplit(".", 1)[0]
        lora.setdefault(base, [None, None])[0 if k.endswith("lora_a") else 1] = v
    return lora_numpy.forward_backward(hp, weights, {k: tuple(v) for k, v in lora.items()}, alpha / rank, inputs, targets,
                                       dropout=dropout, rng=rng)


CASES = {  # name: (base, quantization or None, targets, rank, alpha, B, T)
    "f32-gqa-q-v": ("gqa-untied", None, ["attn_q", "attn_v"], 4, 8, 3, 13),
    "f32-gqa-all-linear": ("gqa-untied", None, lora_numpy.TARGETS, 3, 16, 2, 11),
    "f32-mqa-tied-partial-rope": ("mqa-tied-partial-rope", None, lora_numpy.TARGETS, 2, 5, 2, 9),
    "q8_0-all-linear": ("gqa-untied", "q8_0", lora_numpy.TARGETS, 4, 32, 2, 10),
    "q4_0-q-k-v-o": ("gqa-untied", "q4_0", ["attn_q", "attn_k", "attn_v", "attn_output"], 8, 16, 1, 16),
    "q4_k_m-all-linear": ("k-quant-shape", "q4_k_m", lora_numpy.TARGETS, 4, 8, 2, 7),
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    made = {}

    def get(name, quant):
        key = (name, quant)
        if key not in made:
            d = tmp_path_factory.mktemp("bases")
            f32 = d / f"{name}.gguf"
            if (name, None) not in made:
                write_base(f32, BASES[name], seed=sorted(BASES).index(name))
                made[(name, None)] = f32
            if quant:
                q = d / f"{name}.{quant}.gguf"
                llmkit("quantize", "--quiet", made[(name, None)], q, quant)
                made[key] = q
        return made[key]
    return get


@pytest.mark.parametrize("name", list(CASES))
def test_one_step_matches_numpy(tmp_path, bases, name):
    base_name, quant, targets, rank, alpha, B, T = CASES[name]
    path = bases(base_name, quant)
    hp, weights = read_base(path)
    if quant:  # the matrices really are quantized (the norms stay F32)
        types = {t.name: t.tensor_type for t in gguf.GGUFReader(str(path)).tensors}
        assert types["blk.0.attn_q.weight"] != gguf.GGMLQuantizationType.F32, types
    rng = np.random.default_rng(sorted(CASES).index(name))
    adapter = random_adapter(weights, hp["layers"], targets, rank, rng)
    inputs, tg = batch(weights["token_embd.weight"].shape[0], B, T, rng)
    loss, got = run_step(tmp_path, path, adapter, inputs, tg, rank, alpha, ",".join(targets))
    want_loss, want = reference(hp, weights, adapter, alpha, rank, inputs, tg)
    compare(loss, got, want_loss, want, adapter)
    # Checkpointing gives the same numbers.
    loss2, got2 = run_step(tmp_path, path, adapter, inputs, tg, rank, alpha, ",".join(targets), extra=("--grad-checkpoint",))
    assert loss2 == loss and all(np.array_equal(got[k], got2[k]) for k in got)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_dropout_masks_match_the_contract_stream(tmp_path, bases, checkpoint):
    """With dropout 0.3 the numpy side draws the masks from its own TrainRNG: placement (adapter input only), order
    (layer, then q k v o gate up down) and inverted scaling all have to agree."""
    path = bases("gqa-untied", None)
    hp, weights = read_base(path)
    rank, alpha, seed, p = 3, 6, 77, 0.3
    targets = lora_numpy.TARGETS
    rng = np.random.default_rng(5)
    adapter = random_adapter(weights, hp["layers"], targets, rank, rng)
    inputs, tg = batch(weights["token_embd.weight"].shape[0], 2, 8, rng)
    extra = ["--dropout", p, "--seed", seed] + (["--grad-checkpoint"] if checkpoint else [])
    loss, got = run_step(tmp_path, path, adapter, inputs, tg, rank, alpha, ",".join(targets), extra=extra)
    stream = lora_numpy.TrainRNG(seed)
    lora_numpy.skip_init_draws(stream, [adapter[f"blk.{i}.{t}.weight.lora_a"].shape for i in range(hp["layers"]) for t in targets])
    want_loss, want = reference(hp, weights, adapter, alpha, rank, inputs, tg, dropout=p, rng=stream)
    compare(loss, got, want_loss, want, adapter)
    nodrop_loss, _ = reference(hp, weights, adapter, alpha, rank, inputs, tg)
    assert abs(nodrop_loss - want_loss) > 100 * LOSS_RTOL * abs(want_loss), "dropout made no difference: the test is blind"


def test_the_tolerances_catch_permutation_scale_and_dropout_mistakes(bases):
    """The comparison can fail: B's attn_q rows in HF order (a PEFT file read without converting), the scale
    alpha/√rank instead of alpha/rank, and dropout without the 1/(1 − p) scaling all move the loss or the gradients
    far beyond the tolerances."""
    path = bases("gqa-untied", None)
    hp, weights = read_base(path)
    rank, alpha, targets = 4, 8, ["attn_q", "attn_k", "attn_v"]
    rng = np.random.default_rng(3)
    adapter = random_adapter(weights, hp["layers"], targets, rank, rng)
    inputs, tg = batch(weights["token_embd.weight"].shape[0], 2, 12, rng)
    loss, grads = reference(hp, weights, adapter, alpha, rank, inputs, tg)

    def far(other_loss, other):
        return (abs(other_loss - loss) > 100 * LOSS_RTOL * abs(loss)
                or any(np.abs(other[k] - grads[k]).max() > 100 * GRAD_TOL * np.abs(grads[k]).max() for k in grads))

    wrong = dict(adapter)
    for i in range(hp["layers"]):
        k = f"blk.{i}.attn_q.weight.lora_b"
        wrong[k] = unpermute(adapter[k], hp["heads"])
        assert np.array_equal(permute(wrong[k], hp["heads"]), adapter[k])
    assert far(*reference(hp, weights, wrong, alpha, rank, inputs, tg)), "a wrong permutation passes"
    assert far(*reference(hp, weights, adapter, alpha * np.sqrt(rank), rank, inputs, tg)), "alpha/√rank passes"
    # Masks of 0/1 instead of 0/(1/(1 − p)) give the same h as the right masks with A·(1 − p).
    keep = 1 / (1 - 0.3)
    good = reference(hp, weights, adapter, alpha, rank, inputs, tg, dropout=0.3, rng=lora_numpy.TrainRNG(1))
    unscaled = {k: (v / keep if k.endswith("lora_a") else v) for k, v in adapter.items()}
    bad = reference(hp, weights, unscaled, alpha, rank, inputs, tg, dropout=0.3, rng=lora_numpy.TrainRNG(1))
    assert abs(bad[0] - good[0]) > 100 * LOSS_RTOL * abs(good[0]), "missing dropout scaling passes"


def test_smollm2_q4_1(tmp_path, smollm2):
    """The real SmolLM2-135M-Instruct (Q4_1 matrices, Q8_0 embedding, tied output, 9 heads / 3 kv heads)."""
    hp, weights = read_base(smollm2)
    rank, alpha, targets = 8, 32, ["attn_q", "attn_v", "ffn_down"]
    rng = np.random.default_rng(11)
    adapter = random_adapter(weights, hp["layers"], targets, rank, rng)
    for k in adapter:
        if k.endswith("lora_b"):
            adapter[k] *= np.float32(0.1)  # keep the adapted model near the base (B ~ N(0, 0.03²))
    inputs, tg = batch(weights["token_embd.weight"].shape[0], 1, 12, rng, prompt=4)
    loss, got = run_step(tmp_path, smollm2, adapter, inputs, tg, rank, alpha, "q_proj,v_proj,down_proj")
    want_loss, want = reference(hp, weights, adapter, alpha, rank, inputs, tg)
    compare(loss, got, want_loss, want, adapter)


def test_init_out(tmp_path, bases):
    path = bases("gqa-untied", None)
    out = tmp_path / "I.safetensors"
    llmkit("dev", "lora-step", path, "--init-out", out, "--rank", 4, "--targets", "all-linear", "--seed", 3)
    got = load_file(str(out))
    _, weights = read_base(path)
    stream = lora_numpy.TrainRNG(3)
    for i in range(2):
        for t in lora_numpy.TARGETS:
            a, b = got[f"blk.{i}.{t}.weight.lora_a"], got[f"blk.{i}.{t}.weight.lora_b"]
            n_in = weights[f"blk.{i}.{t}.weight"].shape[1]
            want = (2 * stream.uniforms(a.size) - 1) * np.float32(1 / np.sqrt(np.float32(n_in)))
            assert np.allclose(a.reshape(-1), want, rtol=1e-6, atol=0), f"{t}: A is not the contract's U(±1/√in)"
            assert b.shape == (weights[f"blk.{i}.{t}.weight"].shape[0], 4) and not b.any()


@pytest.mark.parametrize("what", ["missing tensor in --adapter-in", "unknown target", "token out of vocabulary",
                                  "rank mismatch", "not a GGUF"])
def test_bad_input_is_a_one_line_error(tmp_path, bases, what):
    path = bases("gqa-untied", None)
    _, weights = read_base(path)
    adapter = random_adapter(weights, 2, ["attn_q", "attn_v"], 4, np.random.default_rng(0))
    inputs, tg = batch(41, 1, 5, np.random.default_rng(1))
    d = {"batch": 1, "length": 5, "inputs": inputs.reshape(-1).tolist(), "targets": tg.reshape(-1).tolist()}
    args = ["--rank", 4]
    if what == "missing tensor in --adapter-in":
        adapter.pop("blk.1.attn_v.weight.lora_b")
    if what == "unknown target":
        args += ["--targets", "qq_proj"]
    if what == "token out of vocabulary":
        d["inputs"][0] = 41
    if what == "rank mismatch":
        args = ["--rank", 8]
    if what == "not a GGUF":
        path = tmp_path / "x.gguf"
        path.write_bytes(b"not a gguf at all")
    a, b, g = tmp_path / "A.safetensors", tmp_path / "B.json", tmp_path / "G.safetensors"
    save_file(adapter, str(a))
    b.write_text(json.dumps(d))
    p = llmkit("dev", "lora-step", path, "--tokens", b, "--out", g, "--adapter-in", a, *args, check=False)
    assert p.returncode != 0, f"{what}: exit 0"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0].lower(), f"{what}: {p.stderr!r}"
    assert not g.exists(), f"{what}: an output was written"
