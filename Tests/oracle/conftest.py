"""Shared fixtures for the oracle tests: llmkit is run as a program and its outputs are checked with the
reference Python implementations (gguf, safetensors, tokenizers, numpy)."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("LLMKIT_BIN", ROOT / ".build" / "debug" / "llmkit"))
ASSETS = Path(os.environ.get("LLMKIT_ASSETS", ROOT / ".assets"))
REFERENCE = Path(os.environ.get("LLMKIT_REFERENCE", ROOT.parent / "shared" / "reference"))
SMOLLM2 = ASSETS / "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA3_TOKENIZER = ASSETS / "tokenizer.json"


def llmkit(*args, check=True):
    """Runs llmkit; returns the CompletedProcess (stdout/stderr as text)."""
    p = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"llmkit {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p


HF_GLOBAL = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
HF_BLOCK = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
            "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def hf_name(gguf_name):
    """The Hugging Face name of a llama.cpp tensor (written out here independently of llmkit's table)."""
    if gguf_name.startswith("blk."):
        _, i, kind, _ = gguf_name.split(".")
        return f"model.layers.{i}.{HF_BLOCK[kind]}.weight"
    return HF_GLOBAL[gguf_name]


def permute(w, n_head, n_head_kv=None):
    """llama.cpp's converter permutation (conversion/llama.py), written independently in numpy."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def unpermute(w, n_head):
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def bf16_to_f32(raw_u16):
    return (raw_u16.astype(np.uint32) << 16).view(np.float32)


@pytest.fixture(scope="session")
def smollm2_variant(tmp_path_factory):
    """Makes (once per session) the SmolLM2 variant llama.cpp's references were computed on: llmkit quantize
    --allow-requantize of the PyPI Q4_1 file (byte-identical to llama-quantize's, see test_quantize.py)."""
    made = {}

    def make(variant):
        if variant == "Q4_1":
            return SMOLLM2
        if variant not in made:
            out = tmp_path_factory.mktemp("variants") / f"SmolLM2-135M-Instruct.{variant}.gguf"
            llmkit("quantize", "--allow-requantize", "--quiet", SMOLLM2, out, variant.lower())
            made[variant] = out
        return made[variant]
    return make


@pytest.fixture(scope="session")
def smollm2():
    if not SMOLLM2.exists():
        pytest.fail(f"{SMOLLM2} missing: run scripts/setup.sh")
    return SMOLLM2
