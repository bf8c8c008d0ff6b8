"""`llmkit quantize` against llama.cpp: Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 bit-for-bit equal to gguf-py's
quants.quantize on real weights and adversarial rows; the per-tensor type recipe of every mix equal to
what llama-quantize chose for the reference files; whole files equal to llama-quantize's, tensor by
tensor, for every mix in shared/reference/quant and the SmolLM2 variants."""
import hashlib
import json

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from conftest import REFERENCE, hf_name, llmkit, unpermute

LEGACY = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]
MIXES = sorted(p.stem.removeprefix("tiny-llama-") for p in (REFERENCE / "quant").glob("tiny-llama-*.gguf")
               if p.stem != "tiny-llama-f16")


def adversarial_rows():
    rng = np.random.default_rng(1)
    rows = [np.zeros(256), np.full(256, 1e-3), np.full(256, -7.5), np.linspace(-1, 1, 256)]
    huge = rng.normal(size=256); huge[17] = 1e30; rows.append(huge)
    tiny = rng.normal(size=256) * 1e-40; rows.append(tiny)                      # denormals
    mixed = rng.normal(size=256); mixed[::32] = 1e-44; rows.append(mixed)      # a denormal max in some blocks
    onehot = np.zeros(256); onehot[100] = -3.0; rows.append(onehot)
    ties = np.tile(np.arange(-8, 8, 0.5), 8); rows.append(ties)                # exact half-steps
    return np.array(rows, dtype=np.float32)


@pytest.fixture(scope="module")
def f32_model(smollm2, tmp_path_factory):
    """An F32 GGUF holding dequantized SmolLM2 weights (a spread of real tensors) and adversarial rows."""
    r = GGUFReader(str(smollm2))
    path = tmp_path_factory.mktemp("q") / "real-f32.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    tensors = {}
    for t in r.tensors:
        if t.name.startswith(("blk.0.", "blk.17.")) and len(t.shape) == 2:
            tensors[t.name] = dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)])
    tensors["blk.1.adversarial.weight"] = adversarial_rows()
    for name, a in tensors.items():
        w.add_tensor(name, a.astype(np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return path, tensors


@pytest.mark.parametrize("qtype", LEGACY)
def test_legacy_quantization_equals_gguf_py(f32_model, tmp_path, qtype):
    path, tensors = f32_model
    out = tmp_path / f"{qtype}.gguf"
    llmkit("quantize", path, out, qtype, "--pure", "--quiet")
    ours = {t.name: t for t in GGUFReader(str(out)).tensors}
    for name, a in tensors.items():
        assert ours[name].tensor_type.name == qtype, name
        want = quantize(a, Q[qtype])
        got = np.asarray(ours[name].data).reshape(want.shape)
        assert np.array_equal(got, want), f"{name}: {int((got != want).sum())} bytes differ"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rows_are_refused(tmp_path, bad):
    a = np.ones((4, 64), dtype=np.float32); a[2, 33] = bad
    path = tmp_path / "bad.gguf"
    w = GGUFWriter(str(path), "llama"); w.add_block_count(1); w.add_tensor("blk.0.ffn_up.weight", a)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    p = llmkit("quantize", path, tmp_path / "out.gguf", "q8_0", check=False)
    assert p.returncode == 1 and "row 2 column 33" in p.stderr and "non-finite" in p.stderr
    assert not (tmp_path / "out.gguf").exists()


def test_requantizing_needs_permission(smollm2, tmp_path):
    p = llmkit("quantize", smollm2, tmp_path / "x.gguf", "q4_0", check=False)
    assert p.returncode == 1 and "--allow-requantize" in p.stderr and not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize("mix", MIXES)
def test_recipe_matches_llama_quantize(mix):
    """Tensor order and per-tensor types of every mix, as llama-quantize wrote the reference files."""
    plan = llmkit("quantize", REFERENCE / "quant" / "tiny-llama-f16.gguf", "/nonexistent.gguf", mix, "--dry-run").stdout
    ref = GGUFReader(str(REFERENCE / "quant" / f"tiny-llama-{mix}.gguf"))
    assert [tuple(l.split()) for l in plan.splitlines()] == [(t.name, t.tensor_type.name) for t in ref.tensors]


@pytest.mark.parametrize("variant", ["F16", "Q8_0", "Q4_0", "Q4_K_M"])
def test_smollm2_variant_recipe(smollm2, variant):
    v = json.loads((REFERENCE / "smollm2-variants.json").read_text())["variants"][variant]
    plan = llmkit("quantize", smollm2, "/nonexistent.gguf", variant, "--dry-run", "--allow-requantize").stdout
    assert [tuple(l.split()) for l in plan.splitlines()] == [(k, t[0]) for k, t in v["tensors"].items()]


@pytest.mark.parametrize("variant", ["F16", "Q8_0", "Q4_0", "Q4_K_M"])
def test_smollm2_variant_bytes(smollm2, tmp_path, variant):
    """Per-tensor sha256 of llama-quantize's SmolLM2 variants (the inputs of every greedy/perplexity reference)."""
    v = json.loads((REFERENCE / "smollm2-variants.json").read_text())["variants"][variant]
    out = tmp_path / f"{variant}.gguf"
    llmkit("quantize", smollm2, out, variant, "--allow-requantize", "--quiet")
    r = GGUFReader(str(out))
    assert r.fields["general.file_type"].contents() == v["general.file_type"]
    for t in r.tensors:
        assert [t.tensor_type.name, hashlib.sha256(np.asarray(t.data).tobytes()).hexdigest()] == v["tensors"][t.name], t.name


@pytest.mark.parametrize("mix", MIXES)
def test_reference_files_bytes(tmp_path, mix):
    ref = GGUFReader(str(REFERENCE / "quant" / f"tiny-llama-{mix}.gguf"))
    out = tmp_path / "o.gguf"
    llmkit("quantize", REFERENCE / "quant" / "tiny-llama-f16.gguf", out, mix, "--quiet")
    ours = {t.name: t for t in GGUFReader(str(out)).tensors}
    assert ours.keys() == {t.name for t in ref.tensors}
    for t in ref.tensors:
        o = ours[t.name]
        assert o.tensor_type == t.tensor_type, t.name
        assert np.asarray(o.data).tobytes() == np.asarray(t.data).tobytes(), t.name


def tiny_tokenizer(vocab_size):
    """A small byte-level BPE tokenizer.json (256 byte tokens, a few merges, two specials)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    vocab = {chr(c): i for i, c in enumerate(cs)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    added = [{"id": vocab_size - 2, "content": "<|begin_of_text|>", "special": True},
             {"id": vocab_size - 1, "content": "<|eot_id|>", "special": True}]
    return {"version": "1.0", "added_tokens": added, "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": vocab, "merges": [" ".join(m) for m in merges]}}


@pytest.mark.parametrize("mix", ["q4_k_m", "q8_0"])
def test_hf_folder_quantizes_in_one_pass_like_convert_then_quantize(tmp_path, mix):
    d = tmp_path / "hf"
    llmkit("dev", "make-checkpoint", "--shape", "llama3-tiny", "--hidden", "256", "--intermediate", "512", "--vocab", "512",
           "-o", d, "--quiet", "--seed", "3")
    (d / "tokenizer.json").write_text(json.dumps(tiny_tokenizer(512)))
    (d / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}))
    llmkit("convert", d, "-o", tmp_path / "f16.gguf", "--quiet")
    llmkit("quantize", tmp_path / "f16.gguf", tmp_path / "two-step.gguf", mix, "--quiet")
    llmkit("quantize", d, tmp_path / "one-pass.gguf", mix, "--quiet")
    a = (tmp_path / "two-step.gguf").read_bytes()
    b = (tmp_path / "one-pass.gguf").read_bytes()
    assert a == b
    r = GGUFReader(str(tmp_path / "one-pass.gguf"))
    assert r.fields["tokenizer.ggml.pre"].contents() == "gpt2"
    assert r.fields["general.file_type"].contents() == {"q4_k_m": 15, "q8_0": 7}[mix]


@pytest.mark.parametrize("mix", MIXES)
def test_dequantization_of_every_type_equals_gguf_py(tmp_path, mix):
    """GGUF → HF (F32) dequantizes every tensor of llama-quantize's files: values equal gguf.quants.dequantize."""
    from safetensors.numpy import load_file
    src = REFERENCE / "quant" / f"tiny-llama-{mix}.gguf"
    llmkit("convert", src, "-o", tmp_path / "hf", "--type", "f32", "--quiet")
    ours = load_file(str(tmp_path / "hf" / "model.safetensors"))
    r = GGUFReader(str(src))
    heads = int(r.fields["llama.attention.head_count"].contents())
    kv = int(r.fields["llama.attention.head_count_kv"].contents())
    for t in r.tensors:
        name = hf_name(t.name)
        want = dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)]).astype(np.float32)
        if ".attn_q." in t.name:
            want = unpermute(want, heads)
        elif ".attn_k." in t.name:
            want = unpermute(want, kv)
        assert np.array_equal(ours[name], want), f"{t.name} ({t.tensor_type.name})"


def test_leave_output_tensor_and_pure():
    src = REFERENCE / "quant" / "tiny-llama-f16.gguf"
    plan = dict(l.split() for l in llmkit("quantize", src, "/nonexistent.gguf", "q4_k_m", "--dry-run",
                                          "--leave-output-tensor").stdout.splitlines())
    assert plan["output.weight"] == "F16" and plan["blk.0.attn_q.weight"] == "Q4_K"
    pure = dict(l.split() for l in llmkit("quantize", src, "/nonexistent.gguf", "q4_k_m", "--dry-run", "--pure").stdout.splitlines())
    assert {v for k, v in pure.items() if not k.endswith("norm.weight")} == {"Q4_K"}
    assert {v for k, v in pure.items() if k.endswith("norm.weight")} == {"F32"}
