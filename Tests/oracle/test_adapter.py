"""LoRA adapters against the reference implementations: PEFT files written here with numpy and safetensors (PEFT's
documented names, shapes and config), GGUF LoRA files read with gguf-py, the q/k row permutation checked against a
merge done independently in numpy in Hugging Face layout, `llmkit merge` against that numpy merge, and the logits of
base + adapter against the logits of the merged model."""
import json

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter, GGMLQuantizationType
from safetensors.numpy import load_file, save_file

from conftest import REFERENCE, llmkit, permute

TINY_F16 = REFERENCE / "quant" / "tiny-llama-f16.gguf"
MODULES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
           "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
PROMPT = "1,17,300,42,7,999,3,250,64,128"


def field(r, key):
    f = r.fields[key]
    v = f.parts[f.data[0]]
    return bytes(v).decode() if f.types[0].name == "STRING" else v[0]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The tiny reference llama (2 blocks, 512 dim, 8 heads / 4 KV heads, head size 64) widened to F32."""
    out = tmp_path_factory.mktemp("base") / "tiny-f32.gguf"
    llmkit("quantize", "--allow-requantize", "--quiet", TINY_F16, out, "f32")
    r = GGUFReader(out)
    return {"path": out, "reader": r, "heads": int(field(r, "llama.attention.head_count")),
            "kv_heads": int(field(r, "llama.attention.head_count_kv")), "layers": int(field(r, "llama.block_count"))}


def make_peft(directory, base, rank=4, alpha=8, targets=("attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down"),
              seed=0, config_extra=None, dtype=np.float32):
    """A random PEFT adapter as PEFT saves it (lora_B nonzero so it changes the model). Returns {gguf name: (A, B_hf)}."""
    rng = np.random.default_rng(seed)
    r = base["reader"]
    shapes = {t.name: [int(d) for d in t.shape] for t in r.tensors}  # ggml order: [in, out]
    tensors, pairs = {}, {}
    for layer in range(base["layers"]):
        for t in targets:
            name = f"blk.{layer}.{t}.weight"
            n_in, n_out = shapes[name]
            a = rng.uniform(-1 / np.sqrt(n_in), 1 / np.sqrt(n_in), (rank, n_in)).astype(np.float32)
            b = (rng.standard_normal((n_out, rank)) * 0.2).astype(np.float32)
            key = f"base_model.model.model.layers.{layer}.{MODULES[t]}"
            tensors[key + ".lora_A.weight"] = a.astype(dtype)
            tensors[key + ".lora_B.weight"] = b.astype(dtype)
            pairs[name] = (a.astype(dtype).astype(np.float32), b.astype(dtype).astype(np.float32))
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tensors, directory / "adapter_model.safetensors", metadata={"format": "pt"})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tiny-llama", "r": rank,
              "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": sorted({MODULES[t].split(".")[1] for t in targets}),
              "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False, "inference_mode": True}
    config.update(config_extra or {})
    (directory / "adapter_config.json").write_text(json.dumps(config))
    return pairs


def gguf_delta(base, name, a, b_hf, scale, permuted=True):
    """ΔW in the base GGUF's row order, computed in HF layout and then permuted as llama.cpp's converter permutes W."""
    delta_hf = scale * (b_hf @ a)
    if not permuted:
        return delta_hf
    if ".attn_q." in name:
        return permute(delta_hf, base["heads"], base["heads"])
    if ".attn_k." in name:
        return permute(delta_hf, base["heads"], base["kv_heads"])
    return delta_hf


def numpy_merge(base, pairs, scale, out, permuted=True):
    """The base with ΔW added, written with gguf-py (all metadata and tensors copied)."""
    r = base["reader"]
    w = GGUFWriter(out, "llama")
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vt = f.types[0]
        if vt.name == "ARRAY":
            et = f.types[1]
            vals = [bytes(f.parts[i]).decode() if et.name == "STRING" else f.parts[i][0] for i in f.data]
            w.add_key_value(key, vals, vt, sub_type=et)
        elif vt.name == "STRING":
            w.add_key_value(key, bytes(f.parts[f.data[0]]).decode(), vt)
        else:
            w.add_key_value(key, f.parts[f.data[0]][0], vt)
    for t in r.tensors:
        data = np.array(t.data, dtype=np.float32).reshape([int(d) for d in reversed(t.shape)])
        if t.name in pairs:
            a, b = pairs[t.name]
            data = data + gguf_delta(base, t.name, a, b, scale, permuted)
        w.add_tensor(t.name, data.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def logits(model, *adapter_args, tmp_path, tag):
    out = tmp_path / f"{tag}.f32"
    llmkit("dev", "generate", model, "--ids", PROMPT, "-n", "1", "--cache-type", "f32", "--logits-out", out, *adapter_args)
    return np.fromfile(out, dtype=np.float32)


def test_gguf_lora_as_gguf_py_reads_it(base, tmp_path):
    pairs = make_peft(tmp_path / "peft", base)
    llmkit("dev", "lora-convert", tmp_path / "peft", "--base", base["path"], "-o", tmp_path / "a.gguf")
    r = GGUFReader(tmp_path / "a.gguf")
    assert field(r, "general.type") == "adapter"
    assert field(r, "general.architecture") == "llama"
    assert field(r, "adapter.type") == "lora"
    assert r.fields["adapter.lora.alpha"].types[0].name == "FLOAT32" and field(r, "adapter.lora.alpha") == 8.0
    got = {t.name: t for t in r.tensors}
    assert set(got) == {f"{n}.lora_{h}" for n in pairs for h in "ab"}
    for name, (a, b_hf) in pairs.items():
        ta, tb = got[name + ".lora_a"], got[name + ".lora_b"]
        assert ta.tensor_type == GGMLQuantizationType.F32 and tb.tensor_type == GGMLQuantizationType.F32
        assert [int(d) for d in ta.shape] == [a.shape[1], a.shape[0]]      # ne = [in, r]
        assert [int(d) for d in tb.shape] == [b_hf.shape[1], b_hf.shape[0]]  # ne = [r, out]
        np.testing.assert_array_equal(np.array(ta.data).reshape(a.shape), a)
        # B's rows permuted as llama.cpp's converter permutes the base q/k rows (and the ΔW they make).
        want_b = gguf_delta(base, name, np.eye(a.shape[0], dtype=np.float32), b_hf, 1.0)
        np.testing.assert_array_equal(np.array(tb.data).reshape(b_hf.shape), want_b)


def test_peft_gguf_peft_round_trip(base, tmp_path):
    make_peft(tmp_path / "peft", base, rank=3, alpha=6)
    llmkit("dev", "lora-convert", tmp_path / "peft", "--base", base["path"], "-o", tmp_path / "a.gguf")
    llmkit("dev", "lora-convert", tmp_path / "a.gguf", "--base", base["path"], "-o", tmp_path / "back")
    want, got = load_file(tmp_path / "peft" / "adapter_model.safetensors"), load_file(tmp_path / "back" / "adapter_model.safetensors")
    assert set(want) == set(got)
    for k in want:
        assert got[k].dtype == np.float32 and got[k].shape == want[k].shape
        np.testing.assert_array_equal(got[k], want[k])
    config = json.loads((tmp_path / "back" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["task_type"] == "CAUSAL_LM"
    assert config["r"] == 3 and config["lora_alpha"] == 6 and config["use_rslora"] is False
    assert config["bias"] == "none" and config["fan_in_fan_out"] is False and config["use_dora"] is False
    assert config["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
    # Every key is a field of PEFT's LoraConfig dataclass (the ones PEFT ≥ 0.10 writes), so LoraConfig(**config) works.
    known = {"alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode",
             "init_lora_weights", "layer_replication", "layers_pattern", "layers_to_transform", "loftq_config", "lora_alpha",
             "lora_dropout", "megatron_config", "megatron_core", "modules_to_save", "peft_type", "r", "rank_pattern",
             "revision", "target_modules", "task_type", "use_dora", "use_rslora"}
    assert set(config) == known


def test_adapter_logits_equal_numpy_merge(base, tmp_path):
    """base + PEFT adapter at inference == the base with ΔW merged in numpy (HF layout, then permuted) — which pins
    the q/k permutation of B — and == `llmkit merge`'s output, to float tolerance."""
    pairs = make_peft(tmp_path / "peft", base, rank=4, alpha=8, dtype=np.float16)  # F16 adapter tensors, as PEFT may save
    scale = 8 / 4 * 0.75
    numpy_merge(base, pairs, scale, tmp_path / "numpy-merged.gguf")
    plain = logits(base["path"], tmp_path=tmp_path, tag="base")
    with_adapter = logits(base["path"], "--adapter", tmp_path / "peft", "--adapter-scale", "0.75", tmp_path=tmp_path, tag="adapter")
    want = logits(tmp_path / "numpy-merged.gguf", tmp_path=tmp_path, tag="numpy")
    assert np.abs(with_adapter - plain).max() > 0.1  # the adapter matters
    np.testing.assert_allclose(with_adapter, want, atol=2e-3, rtol=1e-4)

    llmkit("merge", base["path"], tmp_path / "peft", "-o", tmp_path / "merged.gguf", "--scale", "0.75", "--quiet")
    merged_r, numpy_r = GGUFReader(tmp_path / "merged.gguf"), GGUFReader(tmp_path / "numpy-merged.gguf")
    numpy_t = {t.name: t for t in numpy_r.tensors}
    for t in merged_r.tensors:
        assert t.tensor_type == GGMLQuantizationType.F32
        np.testing.assert_allclose(np.array(t.data), np.array(numpy_t[t.name].data), atol=1e-5)
    merged = logits(tmp_path / "merged.gguf", tmp_path=tmp_path, tag="merged")
    np.testing.assert_allclose(merged, with_adapter, atol=2e-3, rtol=1e-4)

    # The same merge without the q/k permutation of ΔW gives other logits: the comparison above can fail.
    numpy_merge(base, pairs, scale, tmp_path / "unpermuted.gguf", permuted=False)
    unpermuted = logits(tmp_path / "unpermuted.gguf", tmp_path=tmp_path, tag="unpermuted")
    assert np.abs(unpermuted - with_adapter).max() > 100 * np.abs(want - with_adapter).max()


def test_merge_to_quantized_mix_and_scale_zero(base, tmp_path):
    make_peft(tmp_path / "peft", base)
    llmkit("merge", base["path"], tmp_path / "peft", "-o", tmp_path / "m.gguf", "--type", "q8_0", "--quiet")
    r = GGUFReader(tmp_path / "m.gguf")
    assert field(r, "general.file_type") == 7
    types = {t.name: t.tensor_type for t in r.tensors}
    assert types["blk.0.attn_q.weight"] == GGMLQuantizationType.Q8_0 and types["blk.1.ffn_gate.weight"] == GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == GGMLQuantizationType.F32
    # Adapter scale 0 is the base exactly.
    np.testing.assert_array_equal(logits(base["path"], "--adapter", tmp_path / "peft", "--adapter-scale", "0", tmp_path=tmp_path, tag="s0"),
                                  logits(base["path"], tmp_path=tmp_path, tag="b"))


def test_two_adapters_add_up(base, tmp_path):
    p1 = make_peft(tmp_path / "one", base, targets=("attn_q", "ffn_down"), seed=1)
    p2 = make_peft(tmp_path / "two", base, targets=("attn_q", "attn_v"), seed=2, rank=2, alpha=4)
    llmkit("dev", "lora-convert", tmp_path / "two", "--base", base["path"], "-o", tmp_path / "two.gguf")
    both = logits(base["path"], "--adapter", tmp_path / "one", "--adapter", tmp_path / "two.gguf", tmp_path=tmp_path, tag="both")
    sum_pairs = {}
    for n in set(p1) | set(p2):
        terms = []
        if n in p1:
            terms.append((p1[n][0], p1[n][1] * 2.0))
        if n in p2:
            terms.append((p2[n][0], p2[n][1] * 2.0))
        a = np.concatenate([t[0] for t in terms])
        b = np.concatenate([t[1] for t in terms], axis=1)
        sum_pairs[n] = (a, b)
    numpy_merge(base, sum_pairs, 1.0, tmp_path / "sum.gguf")
    np.testing.assert_allclose(both, logits(tmp_path / "sum.gguf", tmp_path=tmp_path, tag="sum"), atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize("case, message", [
    ("dora", "DoRA"), ("bias", "bias"), ("pickle", "pickle"), ("wrong-base", "maybe wrong base model"), ("lm_head", "lm_head"),
])
def test_bad_adapters_are_clear_errors(base, tmp_path, case, message):
    d = tmp_path / "peft"
    if case == "dora":
        make_peft(d, base, config_extra={"use_dora": True})
    elif case == "bias":
        make_peft(d, base, config_extra={"bias": "lora_only"})
    elif case == "pickle":
        d.mkdir()
        (d / "adapter_config.json").write_text("{}")
        (d / "adapter_model.bin").write_bytes(b"\x80\x02}q\x00.")
    elif case == "wrong-base":
        make_peft(d, base)
        t = load_file(d / "adapter_model.safetensors")
        k = "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"
        t[k] = np.zeros((t[k].shape[0] * 2, t[k].shape[1]), np.float32)
        save_file(t, d / "adapter_model.safetensors")
    elif case == "lm_head":
        make_peft(d, base)
        t = load_file(d / "adapter_model.safetensors")
        t["base_model.model.lm_head.lora_A.weight"] = np.zeros((4, 512), np.float32)
        t["base_model.model.lm_head.lora_B.weight"] = np.zeros((1024, 4), np.float32)
        save_file(t, d / "adapter_model.safetensors")
    for args in (["run", base["path"], "--raw", "hello", "-n", "2", "--adapter", d],
                 ["merge", base["path"], d, "-o", tmp_path / "x.gguf"]):
        p = llmkit(*args, check=False)
        assert p.returncode != 0
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("llmkit: error:") and message in lines[0], p.stderr
    assert not (tmp_path / "x.gguf").exists()
