"""GGUF → Hugging Face → GGUF on the real SmolLM2 file: every tensor equals gguf-py's dequantization of
the original (q/k un-permuted with an independent numpy implementation), the safetensors files are the
bytes the reference writer makes, the rebuilt tokenizer.json encodes like llama.cpp, and converting back
gives the original tensors and vocabulary."""
import json

import numpy as np
import pytest
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer

from conftest import REFERENCE, hf_name, llmkit, unpermute


def dequantized(t):
    return dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)]).astype(np.float32)


@pytest.fixture(scope="module")
def converted(smollm2, tmp_path_factory):
    out = tmp_path_factory.mktemp("smollm2-hf")
    llmkit("convert", smollm2, "-o", out, "--quiet")
    return GGUFReader(str(smollm2)), out


def test_tensors_equal_dequantized_originals(converted):
    r, out = converted
    ours = load_file(str(out / "model.safetensors"))
    heads = int(r.fields["llama.attention.head_count"].contents())
    kv_heads = int(r.fields["llama.attention.head_count_kv"].contents())
    assert "lm_head.weight" not in ours  # tied
    assert len(ours) == len(r.tensors)
    for t in r.tensors:
        hf = hf_name(t.name)
        want = dequantized(t)
        if ".attn_q." in t.name:
            want = unpermute(want, heads)
        elif ".attn_k." in t.name:
            want = unpermute(want, kv_heads)
        got = ours[hf]
        assert got.dtype == np.float32 and got.shape == want.shape, hf
        assert np.array_equal(got, want), hf


def test_safetensors_bytes_equal_reference_writer(converted, tmp_path):
    _, out = converted
    ref = tmp_path / "ref.safetensors"
    save_file(load_file(str(out / "model.safetensors")), str(ref), metadata={"format": "pt"})
    assert (out / "model.safetensors").read_bytes() == ref.read_bytes()


def test_config(converted):
    r, out = converted
    cfg = json.loads((out / "config.json").read_text())
    f = lambda k: r.fields[k].contents()
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama"
    assert cfg["hidden_size"] == f("llama.embedding_length") == 576
    assert cfg["num_hidden_layers"] == 30 and cfg["num_attention_heads"] == 9 and cfg["num_key_value_heads"] == 3
    assert cfg["intermediate_size"] == 1536 and cfg["max_position_embeddings"] == 8192 and cfg["vocab_size"] == 49152
    assert np.float32(cfg["rms_norm_eps"]) == np.float32(f("llama.attention.layer_norm_rms_epsilon"))
    assert cfg["rope_theta"] == 100000.0 and cfg["tie_word_embeddings"] is True and cfg["rope_scaling"] is None
    assert cfg["bos_token_id"] == 1 and cfg["eos_token_id"] == 2
    tc = json.loads((out / "tokenizer_config.json").read_text())
    assert tc["chat_template"] == f("tokenizer.chat_template")
    assert tc["eos_token"] == "<|im_end|>" and tc["add_bos_token"] is False


def test_tokenizer_json_encodes_like_llama_cpp(converted):
    _, out = converted
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    cases = json.loads((REFERENCE / "tokenize.json").read_text())["cases"]
    checked = 0
    for c in cases:
        tok.encode_special_tokens = not c["parse_special"]
        ids = tok.encode(c["text"], add_special_tokens=True).ids
        assert ids == c["ids"], c["text"]
        checked += 1
    assert checked >= 30


def test_back_to_gguf_gives_the_originals(converted, tmp_path):
    r, out = converted
    back = tmp_path / "back.gguf"
    llmkit("convert", out, "-o", back, "--type", "f32", "--quiet")
    b = GGUFReader(str(back))
    ours = {t.name: t for t in b.tensors}
    assert set(ours) == {t.name for t in r.tensors}
    for t in r.tensors:
        got = ours[t.name]
        assert got.tensor_type.name == "F32"
        assert [int(d) for d in got.shape] == [int(d) for d in t.shape]
        assert np.array_equal(np.asarray(got.data).reshape(-1), dequantized(t).reshape(-1)), t.name
    for key in ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.model",
                "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                "tokenizer.chat_template", "llama.block_count", "llama.context_length", "llama.embedding_length",
                "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
                "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon", "llama.vocab_size",
                "llama.rope.dimension_count"]:
        assert b.fields[key].contents() == r.fields[key].contents(), key
