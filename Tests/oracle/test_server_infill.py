"""`suffix` (fill-in-the-middle) through `llmkit serve`, as llama.cpp's server builds infill prompts.

SmolLM2's vocabulary has no FIM prefix/suffix/middle tokens (only "<reponame>", which llama.cpp takes as FIM_REP), so
it keeps Ollama's 400 "… does not support insert". llama.cpp's own `gguf-new-metadata` (from the gguf package) makes a
copy whose GGUF keys name three of SmolLM2's unused StarCoder-era control tokens as FIM_PRE/SUF/MID
(tokenizer.ggml.fim_{pre,suf,mid}_token_id). On that copy the prompt the server evaluates (prompt_eval_count and the
head of `context`) must be exactly format_infill's layout, computed here from llama.cpp's rules:
    [FIM_REP] "myproject\\n"  [FIM_PRE] prefix[-3/4 batch:]  [FIM_SUF] suffix[:1/4 batch - 2]  [FIM_MID]
and generation must run (streamed, not streamed, /v1/completions through the openai client)."""
import json
import subprocess
import sys
from pathlib import Path

import ollama
import openai
import pytest

from test_server import MODEL, Server, make_store, post

FIM_MODEL = "smol-fim"
PRE, SUF, MID, REP = 6, 7, 8, 4  # <filename>, <gh_stars>, <issue_start>; <reponame> found by its text
PREFIX = "def add(a, b):\n    return"
SUFFIX = "\n\nprint(add(1, 2))\n"
OPTIONS = {"temperature": 0, "num_predict": 16, "num_ctx": 2048}


@pytest.fixture(scope="module")
def server(smollm2, tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("store"), smollm2)
    variant = store / "smol-fim.gguf"
    tool = Path(sys.executable).parent / "gguf-new-metadata"
    subprocess.run([str(tool), "--special-token-by-id", "fim_pre", str(PRE), "--special-token-by-id", "fim_suf", str(SUF),
                    "--special-token-by-id", "fim_mid", str(MID), str(smollm2), str(variant), "--force"],
                   check=True, capture_output=True)
    m = store / "manifests" / "library" / "smol-fim"
    m.mkdir(parents=True)
    (m / "latest.json").write_text(json.dumps({"name": FIM_MODEL, "file": variant.name, "adapters": [], "parameters": {}}))
    s = Server(store, "--parallel", "2")
    yield s
    assert s.stop() == 0


@pytest.fixture
def client(server):
    return ollama.Client(host=server.url)


def tokens(server, text):
    s, _, body = post(server.url + "/api/tokenize", {"model": FIM_MODEL, "content": text})
    assert s == 200
    return json.loads(body)["tokens"]


def layout(server, prefix, suffix, n_batch=512, n_predict=16, n_ctx=2048):
    """llama.cpp's format_infill (no extra chunks, no prompt after the prefix, no BOS: SmolLM2 adds none)."""
    extra = [REP] + tokens(server, "myproject\n")
    p, s = tokens(server, prefix), tokens(server, suffix)
    p = p[len(p) - min(len(p), 3 * (n_batch // 4)):]
    s = s[:min(len(s), max(0, n_batch // 4 - 2))]
    n_extra = min(max(0, n_ctx - n_batch - 2 * n_predict), len(extra))
    return extra[len(extra) - n_extra:] + [PRE] + p + [SUF] + s + [MID]


def test_capabilities(client):
    assert "insert" in client.show(FIM_MODEL).capabilities
    assert "insert" not in client.show(MODEL).capabilities


def test_prompt_is_llamacpp_layout(client, server):
    want = layout(server, PREFIX, SUFFIX)
    r = client.generate(model=FIM_MODEL, prompt=PREFIX, suffix=SUFFIX, options=OPTIONS)
    assert r.done and r.prompt_eval_count == len(want)
    assert r.context[:len(want)] == want
    # context = prompt + generated tokens (the end-of-generation token, counted in eval_count, is not kept)
    assert r.eval_count > 0 and len(r.context) - len(want) in (r.eval_count, r.eval_count - 1)
    # Streamed: the same greedy text.
    chunks = list(client.generate(model=FIM_MODEL, prompt=PREFIX, suffix=SUFFIX, options=OPTIONS, stream=True))
    assert "".join(c.response for c in chunks) == r.response
    assert chunks[-1].context[:len(want)] == want


def test_prefix_and_suffix_cut_to_the_batch(client, server):
    prefix = "".join(f"x{i} = {i}\n" for i in range(200))
    suffix = "".join(f"y{i} = {i}\n" for i in range(200))
    want = layout(server, prefix, suffix, n_batch=64)
    assert len(tokens(server, prefix)) > 48 and len(tokens(server, suffix)) > 14
    r = client.generate(model=FIM_MODEL, prompt=prefix, suffix=suffix, options={**OPTIONS, "num_batch": 64, "num_predict": 2})
    assert r.prompt_eval_count == len(want) == len([REP] + tokens(server, "myproject\n")) + 48 + 14 + 3
    assert r.context[:len(want)] == want


def test_openai_completions_suffix(client, server):
    oa = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    want = layout(server, PREFIX, SUFFIX)  # the default context also leaves room for every extra token
    r = oa.completions.create(model=FIM_MODEL, prompt=PREFIX, suffix=SUFFIX, max_tokens=16, temperature=0)
    assert r.usage.prompt_tokens == len(want)
    g = client.generate(model=FIM_MODEL, prompt=PREFIX, suffix=SUFFIX, options=OPTIONS)
    assert r.choices[0].text == g.response


def test_no_fim_tokens_is_400(client):
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model=MODEL, prompt=PREFIX, suffix=SUFFIX)
    assert e.value.status_code == 400 and e.value.error == f'"{MODEL}" does not support insert'
