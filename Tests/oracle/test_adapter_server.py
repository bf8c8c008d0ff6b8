"""LoRA adapters on the real SmolLM2-135M-Instruct: `llmkit run --adapter`, `llmkit merge` keeping the base's types,
and the server's create with adapters driven by the official `ollama` client (a GGUF LoRA blob, and a PEFT adapter as
two blobs converted by the server), whose greedy text must equal `llmkit run --adapter`'s."""
import json

import numpy as np
import ollama
import pytest
from gguf import GGUFReader
from safetensors.numpy import save_file

from conftest import llmkit
from test_server import GREEDY, MODEL, Server, make_store, run_greedy

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def adapters(smollm2, tmp_path_factory):
    """A random rank-8 PEFT adapter on q_proj/v_proj of every SmolLM2 block (576 → 576 / 192), and its GGUF LoRA."""
    d = tmp_path_factory.mktemp("adapter")
    rng = np.random.default_rng(7)
    tensors = {}
    for layer in range(30):
        for module, n_out in (("q_proj", 576), ("v_proj", 192)):
            key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[key + ".lora_A.weight"] = rng.uniform(-1 / 24, 1 / 24, (8, 576)).astype(np.float32)
            tensors[key + ".lora_B.weight"] = (rng.standard_normal((n_out, 8)) * 0.4).astype(np.float32)
    peft = d / "peft"
    peft.mkdir()
    save_file(tensors, peft / "adapter_model.safetensors", metadata={"format": "pt"})
    (peft / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "bias": "none"}))
    llmkit("dev", "lora-convert", peft, "--base", smollm2, "-o", d / "adapter.gguf")
    return {"peft": peft, "gguf": d / "adapter.gguf", "dir": d}


def test_run_with_adapter_changes_the_text_and_formats_agree(smollm2, adapters):
    base = run_greedy(smollm2, PROMPT, 24, raw=True)
    peft = llmkit("run", "--raw", smollm2, PROMPT, "--temperature", "0", "--repeat-penalty", "1", "-n", 24, "--ctx", 4096,
                  "--adapter", adapters["peft"]).stdout
    gguf = llmkit("run", "--raw", smollm2, PROMPT, "--temperature", "0", "--repeat-penalty", "1", "-n", 24, "--ctx", 4096,
                  "--adapter", adapters["gguf"]).stdout
    assert peft == gguf
    assert peft != base


def test_merge_keeps_the_base_types(smollm2, adapters):
    out = adapters["dir"] / "merged.gguf"
    llmkit("merge", smollm2, adapters["gguf"], "-o", out, "--quiet")
    base_types = {t.name: t.tensor_type for t in GGUFReader(smollm2).tensors}
    merged = GGUFReader(out)
    assert {t.name: t.tensor_type for t in merged.tensors} == base_types
    # Untouched tensors are copied byte for byte; adapted ones changed.
    base_data = {t.name: np.array(t.data) for t in GGUFReader(smollm2).tensors}
    for t in merged.tensors:
        same = np.array_equal(np.array(t.data), base_data[t.name])
        assert same == (".attn_q." not in t.name and ".attn_v." not in t.name), t.name
    text = run_greedy(out, PROMPT, 8, raw=True)
    assert len(text) > 0
    # At scale 0 the dequantize → add → requantize path gives back the base's bytes (Q4_1 blocks re-found exactly).
    zero = adapters["dir"] / "merged-0.gguf"
    llmkit("merge", smollm2, adapters["gguf"], "-o", zero, "--quiet", "--scale", "0")
    for t in GGUFReader(zero).tensors:
        assert np.array_equal(np.array(t.data), base_data[t.name]), t.name


@pytest.fixture(scope="module")
def server(smollm2, tmp_path_factory):
    s = Server(make_store(tmp_path_factory.mktemp("store"), smollm2), "--parallel", "2")
    yield s
    assert s.stop() == 0


def test_create_with_adapters_serves_base_plus_adapter(server, smollm2, adapters):
    client = ollama.Client(host=server.url)
    want = llmkit("run", "--raw", smollm2, PROMPT, "--temperature", "0", "--repeat-penalty", "1", "-n", 16, "--ctx", 4096,
                  "--adapter", adapters["gguf"]).stdout

    digest = client.create_blob(adapters["gguf"])
    assert client.create(model="smol-lora", from_=MODEL, adapters={"adapter.gguf": digest}).status == "success"
    show = client.show("smol-lora")
    assert "ADAPTER" in show.modelfile and digest.split(":")[1] in show.modelfile
    r = client.generate(model="smol-lora", prompt=PROMPT, raw=True, options={**GREEDY, "num_predict": 16})
    assert r.response == want

    # A PEFT adapter: its two files uploaded as blobs, converted by the server to the same GGUF LoRA.
    files = {name: client.create_blob(adapters["peft"] / name) for name in ("adapter_config.json", "adapter_model.safetensors")}
    statuses = [p.status for p in client.create(model="smol-peft", from_=MODEL, adapters=files, stream=True)]
    assert "converting adapter" in statuses and statuses[-1] == "success"
    r = client.generate(model="smol-peft", prompt=PROMPT, raw=True, options={**GREEDY, "num_predict": 16})
    assert r.response == want
    base = client.generate(model=MODEL, prompt=PROMPT, raw=True, options={**GREEDY, "num_predict": 16})
    assert base.response != want
    for n in ("smol-lora", "smol-peft"):
        client.delete(n)


def test_create_rejects_bad_adapters(server, tmp_path):
    client = ollama.Client(host=server.url)
    # An adapter shaped for another base (dim 512).
    t = {"base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": np.zeros((4, 512), np.float32),
         "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": np.zeros((512, 4), np.float32)}
    save_file(t, tmp_path / "adapter_model.safetensors")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8}))
    files = {n: client.create_blob(tmp_path / n) for n in ("adapter_config.json", "adapter_model.safetensors")}
    with pytest.raises(ollama.ResponseError) as e:
        client.create(model="bad-lora", from_=MODEL, adapters=files)
    assert e.value.status_code == 400 and "maybe wrong base model" in e.value.error
    assert "blobs/" not in e.value.error  # the store's paths stay on the server
    with pytest.raises(ollama.ResponseError) as e:
        client.create(model="bad-lora", from_=MODEL, adapters={"adapter_model.safetensors": files["adapter_model.safetensors"]})
    assert e.value.status_code == 400 and "adapter_config.json" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        client.create(model="bad-lora", from_=MODEL, adapters={"a.gguf": "sha256:" + "1" * 64})
    assert e.value.status_code == 400 and "not found" in e.value.error


def test_perplexity_with_adapter(smollm2, adapters, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 40)
    def ppl(*args):
        out = llmkit("perplexity", smollm2, text, "-c", 64, "--chunks", 2, *args).stdout
        return float(out.split("PPL = ")[1].split()[0])
    base = ppl()
    assert ppl("--adapter", adapters["gguf"], "--adapter-scale", "0") == base
    assert ppl("--adapter", adapters["peft"]) != base
