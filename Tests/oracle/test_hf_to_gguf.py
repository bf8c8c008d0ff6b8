"""HF → GGUF on random Llama-3-shaped checkpoints (the real Llama 3 tokenizer, tiny dimensions, sharded):
gguf-py reads the expected keys, names, shapes and types; every tensor equals an independent numpy
conversion (bf16 → f32 → f16, q/k permuted as llama.cpp's converter does); rope_freqs equals the
converter's formula; the vocabulary equals tokenizer.json."""
import json
import math

import numpy as np
import pytest
from gguf import GGUFReader, SpecialVocab
from safetensors import safe_open

from conftest import LLAMA3_TOKENIZER, bf16_to_f32, hf_name, llmkit, permute

HEADS, KV_HEADS, HIDDEN, FFN, LAYERS, VOCAB = 4, 2, 64, 192, 2, 128256


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("llama3-tiny")
    llmkit("dev", "make-checkpoint", "--shape", "llama3-tiny", "--tokenizer", LLAMA3_TOKENIZER, "--shard-size", "10MB",
           "-o", d, "--quiet", "--seed", "7")
    return d


def hf_tensors(d):
    """All tensors as float32; numpy has no bfloat16, so the raw u16 are read through each file's header."""
    index = json.loads((d / "model.safetensors.index.json").read_text())
    out = {}
    for fname in sorted(set(index["weight_map"].values())):
        raw = (d / fname).read_bytes()
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + n])
        for name, e in header.items():
            if name == "__metadata__":
                continue
            assert e["dtype"] == "BF16"
            b, e_ = e["data_offsets"]
            out[name] = bf16_to_f32(np.frombuffer(raw[8 + n + b:8 + n + e_], dtype=np.uint16)).reshape(e["shape"])
    return out


def test_checkpoint_is_sharded_and_readable(checkpoint):
    files = sorted(p.name for p in checkpoint.glob("*.safetensors"))
    assert len(files) >= 3 and files[0] == f"model-00001-of-{len(files):05d}.safetensors"
    for f in files:
        with safe_open(str(checkpoint / f), framework="numpy") as s:
            assert len(list(s.keys())) >= 1


@pytest.mark.parametrize("outtype", ["f16", "bf16", "f32"])
def test_convert(checkpoint, tmp_path, outtype):
    out = tmp_path / "m.gguf"
    llmkit("convert", checkpoint, "-o", out, "--type", outtype, "--quiet")
    r = GGUFReader(str(out))
    f = lambda k: r.fields[k].contents()
    assert f("general.architecture") == "llama"
    assert f("general.file_type") == {"f32": 0, "f16": 1, "bf16": 32}[outtype]
    assert f("llama.block_count") == LAYERS and f("llama.embedding_length") == HIDDEN
    assert f("llama.feed_forward_length") == FFN and f("llama.context_length") == 131072
    assert f("llama.attention.head_count") == HEADS and f("llama.attention.head_count_kv") == KV_HEADS
    assert f("llama.rope.freq_base") == 500000.0 and f("llama.rope.dimension_count") == HIDDEN // HEADS
    assert np.float32(f("llama.attention.layer_norm_rms_epsilon")) == np.float32(1e-5)
    assert f("llama.vocab_size") == VOCAB and f("general.quantization_version") == 2

    # vocabulary
    tj = json.loads(LLAMA3_TOKENIZER.read_text())
    by_id = {i: t for t, i in tj["model"]["vocab"].items()}
    by_id.update({a["id"]: a["content"] for a in tj["added_tokens"]})
    tokens = f("tokenizer.ggml.tokens")
    assert len(tokens) == VOCAB and tokens == [by_id[i] for i in range(VOCAB)]
    merges = tj["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(p.replace(" ", "Ġ") for p in m) for m in merges]
    assert f("tokenizer.ggml.merges") == merges
    types = f("tokenizer.ggml.token_type")
    assert set(types[:128000]) == {1} and set(types[128000:]) == {3}
    assert f("tokenizer.ggml.model") == "gpt2" and f("tokenizer.ggml.pre") == "llama-bpe"
    assert f("tokenizer.ggml.bos_token_id") == 128000 and f("tokenizer.ggml.eos_token_id") == 128009
    # special ids, add_* flags, merges and template exactly as llama.cpp's converter (gguf.SpecialVocab) finds them
    sv = SpecialVocab(str(checkpoint), load_merges=True, n_vocab=VOCAB)
    keys = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "sep": "seperator_token_id",
            "pad": "padding_token_id", "cls": "cls_token_id", "mask": "mask_token_id"}
    ours = {k: f("tokenizer.ggml." + v) for k, v in keys.items() if "tokenizer.ggml." + v in r.fields}
    assert ours == sv.special_token_ids
    ours_add = {k: f(f"tokenizer.ggml.add_{k}_token") for k in ("bos", "eos", "sep") if f"tokenizer.ggml.add_{k}_token" in r.fields}
    assert ours_add == sv.add_special_token
    assert f("tokenizer.ggml.merges") == sv.merges
    assert f("tokenizer.chat_template") == sv.chat_template and "start_header_id" in sv.chat_template

    # rope_freqs, as llama.cpp's converter computes it
    dim, base = HIDDEN // HEADS, 500000.0
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    want = []
    for fr in freqs:
        wl = 2 * math.pi / fr
        if wl < 8192 / 4:
            want.append(1.0)
        elif wl > 8192 / 1:
            want.append(8.0)
        else:
            s = (8192 / wl - 1) / (4 - 1)
            want.append(1 / ((1 - s) / 8 + s))
    tensors = {t.name: t for t in r.tensors}
    np.testing.assert_allclose(np.asarray(tensors["rope_freqs.weight"].data), np.array(want, np.float32), rtol=1e-6)

    # every weight: renamed, permuted, converted
    hf = hf_tensors(checkpoint)
    assert len(r.tensors) == len(hf) + 1
    for t in r.tensors:
        if t.name == "rope_freqs.weight":
            continue
        w = hf[hf_name(t.name)]
        if ".attn_q." in t.name:
            w = permute(w, HEADS, HEADS)
        elif ".attn_k." in t.name:
            w = permute(w, HEADS, KV_HEADS)
        assert [int(d) for d in t.shape] == list(reversed(w.shape)), t.name
        norm_like = w.ndim == 1
        expect_type = "F32" if norm_like else outtype.upper()
        assert t.tensor_type.name == expect_type, t.name
        got = np.asarray(t.data)
        if expect_type == "F32":
            assert np.array_equal(got.reshape(w.shape), w.astype(np.float32)), t.name
        elif expect_type == "F16":
            assert np.array_equal(got.reshape(w.shape).view(np.uint16), w.astype(np.float16).view(np.uint16)), t.name
        else:  # BF16 from BF16: the same bits
            assert np.array_equal(bf16_to_f32(got.reshape(-1).view(np.uint16)).reshape(w.shape), w), t.name


def test_llama3_1b_shape_tied_and_head_dim(tmp_path):
    d = tmp_path / "hf"
    llmkit("dev", "make-checkpoint", "--shape", "llama3-1b", "--layers", "1", "--hidden", "128", "--intermediate", "256",
           "--heads", "4", "--kv-heads", "1", "--head-dim", "48", "--vocab", "512", "-o", d, "--quiet")
    # no tokenizer.json: conversion must say what is missing
    p = llmkit("convert", d, "-o", tmp_path / "x.gguf", check=False)
    assert p.returncode == 1 and "tokenizer.json" in p.stderr and not (tmp_path / "x.gguf").exists()
    # with a tokenizer (ids beyond the small vocab are refused with a clear error)
    (d / "tokenizer.json").write_bytes(LLAMA3_TOKENIZER.read_bytes())
    p = llmkit("convert", d, "-o", tmp_path / "x.gguf", check=False)
    assert p.returncode == 1 and "vocab_size" in p.stderr


def test_template_post_processor_sets_add_bos_like_gguf_py(checkpoint, tmp_path):
    """Meta's own Llama 3 tokenizer.json adds BOS through a TemplateProcessing post-processor."""
    d = tmp_path / "hf"
    d.mkdir()
    for p in checkpoint.iterdir():
        (d / p.name).symlink_to(p)
    tj = json.loads(LLAMA3_TOKENIZER.read_text())
    tj["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]}}}]}
    (d / "tokenizer.json").unlink()
    (d / "tokenizer.json").write_text(json.dumps(tj))
    out = tmp_path / "m.gguf"
    llmkit("convert", d, "-o", out, "--quiet")
    r = GGUFReader(str(out))
    sv = SpecialVocab(str(d), load_merges=False, n_vocab=VOCAB)
    ours = {k: r.fields[f"tokenizer.ggml.add_{k}_token"].contents() for k in ("bos", "eos", "sep")
            if f"tokenizer.ggml.add_{k}_token" in r.fields}
    assert ours == sv.add_special_token == {"bos": True, "sep": False}
