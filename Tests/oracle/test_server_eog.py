"""End of generation as llama.cpp's vocabulary defines it (src/llama-vocab.cpp, `special_eog_ids`): besides EOS/EOT/EOM
and the end-of-turn texts, the FIM pad, repo and file-separator tokens end generation. llama.cpp's own
`gguf-new-metadata` makes copies of SmolLM2 whose `tokenizer.ggml.fim_{pad,rep,sep}_token_id` name a token the greedy
answer emits; on each copy `llmkit serve` stops right before that token with done_reason "stop" (/api/generate,
streamed and not, /api/chat, /v1/completions' finish_reason), and its text is the base model's answer cut there."""
import json
import subprocess
import sys
from pathlib import Path

import ollama
import openai
import pytest

from test_server import GREEDY, MODEL, Server, make_store, post

PROMPT = "Count from one to ten: 1, 2, 3,"
KEYS = ["fim_pad", "fim_rep", "fim_sep"]


def name(key):
    return "eog-" + key.replace("_", "-")


def greedy(client, model, n):
    return client.generate(model=model, prompt=PROMPT, options={**GREEDY, "num_predict": n})


@pytest.fixture(scope="module")
def setup(smollm2, tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("store"), smollm2)
    s = Server(store)
    try:
        client = ollama.Client(host=s.url)
        base = greedy(client, MODEL, 8)
        assert base.done_reason == "length" and base.eval_count == 8 and len(base.context) > 8
        generated = base.context[-8:]  # `context` is the prompt's tokens and the answer's
        # the first position whose token did not come earlier: the copies stop there
        k = next(i for i in range(1, 8) if generated[i] not in generated[:i])
        tool = Path(sys.executable).parent / "gguf-new-metadata"
        for key in KEYS:
            variant = store / f"eog-{key}.gguf"
            subprocess.run([str(tool), "--special-token-by-id", key, str(generated[k]), str(smollm2), str(variant), "--force"],
                           check=True, capture_output=True)
            m = store / "manifests" / "library" / name(key)
            m.mkdir(parents=True)
            (m / "latest.json").write_text(json.dumps({"name": name(key), "file": variant.name, "adapters": [], "parameters": {}}))
        yield s, client, k, greedy(client, MODEL, k).response
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("key", KEYS)
def test_fim_tokens_end_generation(setup, key):
    server, client, k, want = setup
    model = name(key)
    r = greedy(client, model, 8)
    assert (r.response, r.done_reason) == (want, "stop")
    parts = list(client.generate(model=model, prompt=PROMPT, options={**GREEDY, "num_predict": 8}, stream=True))
    assert "".join(p.response for p in parts) == want and parts[-1].done_reason == "stop"
    chat = client.chat(model=model, messages=[{"role": "user", "content": PROMPT}], options={**GREEDY, "num_predict": 8})
    assert chat.done_reason == "stop"
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="x")
    cr = c.completions.create(model=model, prompt=PROMPT, temperature=0, max_tokens=8)
    assert cr.choices[0].finish_reason == "stop"


def test_base_model_runs_on(setup):
    """The same request on the unmodified model goes on past that token (the stop comes from the FIM key)."""
    _, client, k, want = setup
    r = greedy(client, MODEL, 8)
    assert r.done_reason == "length" and r.response.startswith(want) and len(r.response) > len(want)
