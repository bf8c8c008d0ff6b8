"""`llmkit serve` as a running process on a free loopback port, driven exactly as users drive Ollama: the official
`ollama` and `openai` Python clients and raw HTTP. The store is a temporary folder holding the real SmolLM2 file
(registered as smollm2:135m), so every answer comes from the real model.

Checked: Ollama's field names, defaults, units and error texts (../shared/docs/research-notes.md §A); greedy output
equal to `llmkit run` (and so to llama.cpp); seed repeatability; NDJSON / SSE framing; model management; ≥ 40
malformed requests answered with the right status and text while the server keeps serving; format "json" and JSON
schemas (sampled answers validated with `jsonschema`); embeddings (unit norm, batch = alone, mean pooling checked
against numpy over `llmkit dev embed`'s hidden states, and against llama.cpp when .venv-bench has it); concurrent
streaming clients each getting their own single-client greedy text; 16 clients for 30 s with 503s and killed
streams; 503 beyond the queue; a disconnected client freeing its slot; keep_alive; graceful shutdown (exit 0)."""
import base64
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import numpy as np
import ollama
import openai
import pytest

from conftest import BIN, llmkit

MODEL = "smollm2:135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
GREEDY = {"temperature": 0, "repeat_penalty": 1}


# ---------------------------------------------------------------------------------------------------- fixtures

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_store(root, gguf):
    """A store with smollm2:135m: the GGUF linked in (copied across filesystems) and its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / GGUF_NAME
    if not target.exists():
        try:
            os.link(gguf, target)
        except OSError:
            os.symlink(gguf, target)
    m = root / "manifests" / "library" / "smollm2"
    m.mkdir(parents=True, exist_ok=True)
    (m / "135m.json").write_text(json.dumps({"name": MODEL, "file": GGUF_NAME, "adapters": [], "parameters": {}}))
    return root


class Server:
    def __init__(self, store, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(store / "serve.log", "w")
        self.proc = subprocess.Popen([str(BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--models",
                                      str(store), "-t", "2", *map(str, args)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"llmkit serve did not start:\n{Path(self.log.name).read_text()}")
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server(smollm2, tmp_path_factory):
    s = Server(make_store(tmp_path_factory.mktemp("store"), smollm2), "--parallel", "4", "--max-queue", "16")
    yield s
    assert s.stop() == 0, "llmkit serve did not exit 0 on SIGTERM"


@pytest.fixture
def client(server):
    return ollama.Client(host=server.url)


def post(url, body, method="POST", headers=None, timeout=120):
    """Raw HTTP: returns (status, content-type, body bytes). `body` may be bytes, a str or a JSON-able value."""
    data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def ndjson(raw):
    text = raw.decode()
    assert text.endswith("\n") and "\n\n" not in text, f"not NDJSON: {text[:200]!r}"
    return [json.loads(line) for line in text.splitlines()]


def run_greedy(model, prompt, n, raw):
    args = ["run", *(["--raw"] if raw else []), model, prompt, "--temperature", "0", "--repeat-penalty", "1", "-n", n,
            "--ctx", "4096"]
    return llmkit(*args).stdout


# ---------------------------------------------------------------------------------------------------- basics

def test_root_version_and_heartbeat(server):
    s, ct, body = post(server.url + "/", b"", method="GET")
    assert (s, body) == (200, b"Ollama is running") and ct.startswith("text/plain")
    assert post(server.url + "/", b"", method="HEAD")[0] == 200
    s, _, body = post(server.url + "/api/version", b"", method="GET")
    assert s == 200 and re.match(r"^\d+\.\d+\.\d+$", json.loads(body)["version"])


def test_generate_greedy_equals_llmkit_run(client, smollm2):
    """temperature 0 through /api/generate = `llmkit run` greedy text (raw and templated), which test_infer.py pins
    to llama.cpp's."""
    for prompt, raw in [("The capital of France is", True), ("What is the capital of France?", False)]:
        want = run_greedy(smollm2, prompt, 48, raw)
        r = client.generate(model=MODEL, prompt=prompt, raw=raw, options={**GREEDY, "num_predict": 48})
        assert r.response == (want if raw else want.rstrip("\n")), (prompt, r.response, want)
        assert r.done and r.done_reason in ("stop", "length")
        assert r.eval_count and r.eval_count <= 48 and r.prompt_eval_count > 0
        assert r.total_duration >= r.eval_duration > 0 and r.prompt_eval_duration > 0
        assert CREATED_AT.match(r.created_at)
        assert (r.context is None) == raw


def test_generate_stream_matches_non_stream(client):
    opts = {**GREEDY, "num_predict": 32}
    full = client.generate(model=MODEL, prompt="Write a haiku about the sea.", options=opts)
    chunks = list(client.generate(model=MODEL, prompt="Write a haiku about the sea.", options=opts, stream=True))
    assert "".join(c.response for c in chunks) == full.response
    assert all(not c.done for c in chunks[:-1]) and chunks[-1].done and chunks[-1].response == ""
    last = chunks[-1]
    assert last.done_reason == full.done_reason and last.eval_count == full.eval_count and last.context == full.context


def test_ndjson_framing_and_defaults(server):
    """stream defaults to true; one compact object per line; final line carries done_reason and ns metrics;
    zero metrics are omitted (load_duration on an already loaded model)."""
    post(server.url + "/api/generate", {"model": MODEL, "prompt": "", "keep_alive": "5m"})
    s, ct, body = post(server.url + "/api/generate", {"model": MODEL, "prompt": "Hi", "options": {"num_predict": 5}})
    assert s == 200 and ct.startswith("application/x-ndjson")
    lines = ndjson(body)
    assert [set(l) for l in lines[:-1]] == [{"model", "created_at", "response", "done"}] * (len(lines) - 1)
    last = lines[-1]
    assert last["done"] is True and last["done_reason"] == "length" and last["eval_count"] == 5
    assert "load_duration" not in last and isinstance(last["total_duration"], int)


def test_chat_stream_and_not(client, smollm2):
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    r = client.chat(model=MODEL, messages=msgs, options={**GREEDY, "num_predict": 40})
    assert r.message.role == "assistant" and r.message.content and r.done
    parts = list(client.chat(model=MODEL, messages=msgs, options={**GREEDY, "num_predict": 40}, stream=True))
    assert "".join(p.message.content for p in parts) == r.message.content
    assert parts[-1].done and parts[-1].done_reason == r.done_reason
    # The same conversation through `llmkit run` (one chat turn, the GGUF's template and default system message).
    assert r.message.content == run_greedy(smollm2, "What is 2+2?", 40, False).rstrip("\n")


def test_seed_makes_sampling_repeatable(client):
    opts = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 1234, "num_predict": 30}
    a = client.generate(model=MODEL, prompt="Once upon a time", raw=True, options=opts).response
    b = client.generate(model=MODEL, prompt="Once upon a time", raw=True, options=opts).response
    c = client.generate(model=MODEL, prompt="Once upon a time", raw=True, options={**opts, "seed": 99}).response
    assert a == b and a != c


def test_stop_and_num_predict(client):
    full = client.generate(model=MODEL, prompt="1, 2, 3, 4,", raw=True, options={**GREEDY, "num_predict": 20}).response
    assert " 6" in full
    r = client.generate(model=MODEL, prompt="1, 2, 3, 4,", raw=True, options={**GREEDY, "num_predict": 20, "stop": [" 6"]})
    assert r.response == full[: full.index(" 6")] and r.done_reason == "stop"
    assert client.generate(model=MODEL, prompt="Hi", options={"num_predict": 3}).eval_count == 3


def test_load_and_unload_with_empty_prompt(client):
    r = client.generate(model=MODEL, prompt="")
    assert r.done and r.done_reason == "load" and r.response == ""
    assert any(m.model == MODEL for m in client.ps().models)
    r = client.generate(model=MODEL, prompt="", keep_alive=0)
    assert r.done_reason == "unload"
    assert not any(m.model == MODEL for m in client.ps().models)
    r = client.chat(model=MODEL, messages=[])
    assert r.done_reason == "load" and r.message.role == "assistant"
    # keep_alive 0 on a real request unloads right after it.
    client.generate(model=MODEL, prompt="Hi", options={"num_predict": 2}, keep_alive=0)
    assert not any(m.model == MODEL for m in client.ps().models)
    client.generate(model=MODEL, prompt="Hi", options={"num_predict": 2}, keep_alive="1s")
    assert any(m.model == MODEL for m in client.ps().models)
    time.sleep(1.6)
    assert not any(m.model == MODEL for m in client.ps().models)


def test_format_json_gives_valid_json(client, server):
    """format "json": constrained sampling — 20 sampled answers that end by themselves all parse as objects."""
    outs = []
    for seed in range(20):
        r = client.generate(model=MODEL, prompt="Describe a cat as JSON with keys name, age and color.", format="json",
                            options={"seed": seed, "temperature": 0.8, "num_predict": 160})
        outs.append((r.done_reason, r.response))
    ended = [o for reason, o in outs if reason == "stop"]
    assert len(ended) >= 15, outs
    for o in ended:
        assert isinstance(json.loads(o), dict), o
    r = client.chat(model=MODEL, messages=[{"role": "user", "content": "Give me a JSON object with a key x."}],
                    format="json", options={**GREEDY, "num_predict": 100})
    assert r.done_reason != "stop" or isinstance(json.loads(r.message.content), dict)
    oa = openai.OpenAI(base_url=server.url + "/v1", api_key="ignored")
    c = oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "A JSON object with a key x."}],
                                   response_format={"type": "json_object"}, temperature=0, max_tokens=100)
    assert c.choices[0].finish_reason != "stop" or isinstance(json.loads(c.choices[0].message.content), dict)


SCHEMAS = {
    "country": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 40}, "capital": {"type": "string", "maxLength": 40},
        "languages": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3}},
        "required": ["name", "capital", "languages"]},
    "cat": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 24}, "age": {"type": "integer"},
        "color": {"enum": ["black", "white", "orange", "grey"]}, "indoor": {"type": "boolean"},
        "owner": {"type": ["string", "null"], "maxLength": 24}, "kind": {"const": "cat"}, "weight": {"type": "number"}},
        "required": ["name", "age", "color", "indoor", "owner", "kind"], "additionalProperties": False},
    "order": {"$defs": {"item": {"type": "object", "title": "Item", "properties": {
        "sku": {"type": "string", "maxLength": 12}, "qty": {"type": "integer"}, "price": {"type": "number"}},
        "required": ["sku", "qty", "price"]}},
        "type": "object", "properties": {
        "order_id": {"type": "integer"}, "items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": "#/$defs/item"}},
        "note": {"anyOf": [{"type": "string", "maxLength": 30}, {"type": "null"}]}, "paid": {"type": "boolean"}},
        "required": ["order_id", "items", "paid"]},
}
PROMPTS_FOR = {"country": "Tell me about Canada as JSON.", "cat": "Describe a cat as JSON.",
               "order": "Write an example shop order as JSON."}


def test_format_json_schema_sampled_outputs_validate(server):
    """format with a JSON schema: 20 sampled answers (temperature 0.9, seeds 0-19) per schema, for 3 schemas, all end by
    themselves, parse, and validate with `jsonschema`; properties come in schema order."""
    def one(job):
        name, seed = job
        cl = ollama.Client(host=server.url, timeout=300)
        r = cl.generate(model=MODEL, prompt=PROMPTS_FOR[name], format=SCHEMAS[name],
                        options={"seed": seed, "temperature": 0.9, "num_predict": 400})
        return name, seed, r.done_reason, r.response

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(one, [(n, seed) for n in SCHEMAS for seed in range(20)]))
    failures = []
    for name, seed, reason, text in results:
        try:
            assert reason == "stop", f"done_reason {reason}"
            value = json.loads(text)
            jsonschema.validate(value, SCHEMAS[name])
            order = [k for k in SCHEMAS[name]["properties"] if k in value]
            assert list(value) == order, f"keys {list(value)} not in schema order"
        except (AssertionError, ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{name} seed {seed}: {str(e)[:200]}: {text[:300]!r}")
    assert not failures, "\n".join(failures)
    assert len({t for n, _, _, t in results if n == "cat"}) > 5  # sampled, not one answer
    # Chat and OpenAI's response_format json_schema take the same schemas.
    c = ollama.Client(host=server.url).chat(model=MODEL, messages=[{"role": "user", "content": PROMPTS_FOR["cat"]}],
                                            format=SCHEMAS["cat"], options={"seed": 3, "num_predict": 400})
    jsonschema.validate(json.loads(c.message.content), SCHEMAS["cat"])
    oa = openai.OpenAI(base_url=server.url + "/v1", api_key="ignored")
    r = oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPTS_FOR["country"]}], seed=5, max_tokens=400,
                                   response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": SCHEMAS["country"]}})
    jsonschema.validate(json.loads(r.choices[0].message.content), SCHEMAS["country"])


def test_format_costs_little_per_token(server):
    """Constrained sampling's own time (masking, logged as format_ms per request) is small beside decoding: the
    allowed-token masks are cached per grammar state after the first answers."""
    log = Path(server.log.name)
    c = ollama.Client(host=server.url, timeout=300)
    for seed in range(3):
        r = c.generate(model=MODEL, prompt=PROMPTS_FOR["cat"], format=SCHEMAS["cat"], options={"seed": seed, "num_predict": 400})
    time.sleep(0.2)
    line = [l for l in log.read_text().splitlines() if "format_ms=" in l][-1]
    format_ms = float(re.search(r"format_ms=([\d.]+)", line).group(1))
    eval_ms = float(re.search(r"eval_ms=([\d.]+)", line).group(1))
    assert format_ms < 0.2 * eval_ms, line


# ---------------------------------------------------------------------------------------------------- embeddings

def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_embed_with_the_ollama_client(client, server):
    """/api/embed: one vector per input, unit length (Ollama L2-normalizes), an input alone = the same input inside a
    batch (one multi-sequence pass), `dimensions` cuts and renormalizes, empty input only loads the model."""
    texts = ["The cat sat on the mat.", "A completely different sentence about ships and the sea.", "short"]
    r = client.embed(model=MODEL, input=texts)
    assert len(r.embeddings) == 3 and all(len(e) == 576 for e in r.embeddings)
    assert r.prompt_eval_count > 10 and r.total_duration > 0
    for e in r.embeddings:
        assert abs(np.linalg.norm(e) - 1) < 1e-5
    for t, e in zip(texts, r.embeddings):
        alone = client.embed(model=MODEL, input=t).embeddings[0]
        np.testing.assert_allclose(alone, e, atol=2e-5)
    a, b, c = (np.asarray(e) for e in r.embeddings)
    assert a @ b < 0.999 and a @ c < 0.999  # different texts, different vectors
    cut = client.embed(model=MODEL, input=texts[0], dimensions=64).embeddings[0]
    assert len(cut) == 64 and abs(np.linalg.norm(cut) - 1) < 1e-5
    np.testing.assert_allclose(cut, unit(r.embeddings[0][:64]), atol=1e-5)
    assert client.embed(model=MODEL, input="").embeddings == []
    # Legacy /api/embeddings: the same vector, not normalized.
    legacy = client.embeddings(model=MODEL, prompt=texts[0]).embedding
    assert abs(np.linalg.norm(legacy) - 1) > 0.1
    np.testing.assert_allclose(unit(legacy), r.embeddings[0], atol=1e-5)
    assert client.embeddings(model=MODEL, prompt="").embedding == []
    # Long input: truncated to num_ctx by default.
    long = "word " * 300
    t = client.embed(model=MODEL, input=long, options={"num_ctx": 128})
    assert t.prompt_eval_count == 128


def test_embeddings_with_the_openai_client(server, client):
    oa = openai.OpenAI(base_url=server.url + "/v1", api_key="ignored")
    texts = ["The cat sat on the mat.", "Ships at sea."]
    r = oa.embeddings.create(model=MODEL, input=texts)  # the client asks for base64 and decodes it
    assert r.object == "list" and [d.index for d in r.data] == [0, 1] and r.model == MODEL
    assert r.usage.prompt_tokens == r.usage.total_tokens > 5
    want = client.embed(model=MODEL, input=texts).embeddings
    for d, w in zip(r.data, want):
        np.testing.assert_allclose(d.embedding, w, atol=1e-6)
    f = oa.embeddings.create(model=MODEL, input=texts[0], encoding_format="float", dimensions=32)
    assert len(f.data[0].embedding) == 32 and abs(np.linalg.norm(f.data[0].embedding) - 1) < 1e-5
    s, _, body = post(server.url + "/v1/embeddings", {"model": MODEL, "input": texts[0], "encoding_format": "base64"})
    raw = np.frombuffer(base64.b64decode(json.loads(body)["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(raw, want[0], atol=1e-6)


def test_mean_pooling_matches_numpy_over_hidden_states(server, smollm2):
    """The pooling checked independently: `llmkit dev embed` prints every position's final hidden state (one forward
    pass of the tokens alone); their numpy mean, L2-normalized, is /api/embed's vector."""
    text = "Embeddings average the final hidden states of every token."
    s, _, body = post(server.url + "/api/tokenize", {"model": MODEL, "content": text, "add_special": True})
    ids = json.loads(body)["tokens"]
    dump = json.loads(llmkit("dev", "embed", smollm2, "--ids", ",".join(map(str, ids)), "-t", "2").stdout)
    rows = np.asarray(dump["rows"], dtype=np.float32)
    assert rows.shape == (len(ids), dump["dim"]) == (len(ids), 576)
    got = ollama.Client(host=server.url).embed(model=MODEL, input=text)
    assert got.prompt_eval_count == len(ids)
    np.testing.assert_allclose(got.embeddings[0], unit(rows.mean(axis=0)), atol=1e-5)
    assert not np.allclose(got.embeddings[0], unit(rows[-1]), atol=1e-3)  # not last-token pooling


BENCH_PY = Path(__file__).resolve().parents[2] / ".venv-bench" / "bin" / "python"


@pytest.mark.skipif(not BENCH_PY.exists(), reason=".venv-bench (llama-cpp-python) not set up; optional")
def test_embeddings_match_llama_cpp(server, smollm2):
    """llama.cpp's own mean-pooled embedding (llama-cpp-python, embedding=True, pooling MEAN) of the same texts."""
    texts = ["The cat sat on the mat.", "Embeddings average the final hidden states of every token."]
    script = ("import json, sys, numpy as np\n"
              "from llama_cpp import Llama, LLAMA_POOLING_TYPE_MEAN\n"
              f"m = Llama(model_path={str(smollm2)!r}, embedding=True, pooling_type=LLAMA_POOLING_TYPE_MEAN, n_ctx=512, n_threads=2, verbose=False)\n"
              f"print(json.dumps([list(map(float, m.embed(t))) for t in {texts!r}]))\n")
    p = subprocess.run([str(BENCH_PY), "-c", script], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        pytest.skip(f"llama-cpp-python did not run: {p.stderr[-300:]}")
    ref = json.loads(p.stdout.strip().splitlines()[-1])
    got = ollama.Client(host=server.url).embed(model=MODEL, input=texts).embeddings
    for g, r in zip(got, ref):
        assert float(np.dot(g, unit(r))) > 0.999, float(np.dot(g, unit(r)))


# ---------------------------------------------------------------------------------------------------- models

def test_list_show_ps(client):
    models = client.list().models
    m = next(m for m in models if m.model == MODEL)
    assert m.size > 90_000_000 and len(m.digest) == 64 and m.modified_at is not None
    assert m.details.format == "gguf" and m.details.family == "llama" and m.details.quantization_level == "Q4_1"
    assert m.details.parameter_size.endswith("M")
    s = client.show(MODEL)
    assert s.modelinfo["general.architecture"] == "llama" and s.modelinfo["llama.block_count"] == 30
    assert s.modelinfo["tokenizer.ggml.tokens"] == []  # token arrays only with verbose
    assert "<|im_start|>" in s.template and "completion" in s.capabilities
    client.generate(model=MODEL, prompt="", keep_alive="5m")
    p = next(p for p in client.ps().models if p.model == MODEL)
    assert p.expires_at is not None and p.size_vram == 0 and p.context_length == 4096
    v = post(str(client._client.base_url).rstrip("/") + "/api/show", {"model": MODEL, "verbose": True})
    assert len(json.loads(v[2])["model_info"]["tokenizer.ggml.tokens"]) == 49152


def test_create_copy_delete(client):
    r = client.create(model="Pirate:v1", from_=MODEL, system="You are a pirate. Answer like one.",
                      parameters={"temperature": 0, "num_predict": 16})
    assert r.status == "success"
    names = [m.model for m in client.list().models]
    assert "pirate:v1" in names or "Pirate:v1" in names
    s = client.show("pirate:V1")  # case-insensitive
    assert 'SYSTEM """You are a pirate. Answer like one."""' in s.modelfile and "temperature 0" in s.parameters
    a = client.generate(model="pirate:v1", prompt="Who are you?")
    b = client.generate(model=MODEL, prompt="Who are you?", system="You are a pirate. Answer like one.",
                        options={"temperature": 0, "num_predict": 16})
    assert a.response == b.response and a.eval_count <= 16
    client.copy("pirate:v1", "pirate2")
    assert client.show("pirate2:latest").modelfile.split("\n", 2)[2] == s.modelfile.split("\n", 2)[2]
    client.delete("pirate:v1")
    client.delete("pirate2")
    with pytest.raises(ollama.ResponseError) as e:
        client.show("pirate:v1")
    assert e.value.status_code == 404 and e.value.error == "model 'pirate:v1' not found"
    with pytest.raises(ollama.ResponseError) as e:
        client.copy("nope", "x")
    assert e.value.status_code == 404 and e.value.error == 'model "nope" not found'
    with pytest.raises(ollama.ResponseError) as e:
        client.delete("nope")
    assert e.value.status_code == 404


def test_missing_model_is_404(client):
    for call in [lambda: client.generate(model="nope", prompt="hi"), lambda: client.chat(model="nope", messages=[{"role": "user", "content": "x"}]),
                 lambda: client.show("nope")]:
        with pytest.raises(ollama.ResponseError) as e:
            call()
        assert e.value.status_code == 404 and e.value.error == "model 'nope' not found"


def test_blobs_create_from_file_and_quantize(client, server, smollm2_variant):
    """Upload a GGUF as a blob (sha256 verified), create a model from it, and quantize an F16 one to Q8_0."""
    f16 = smollm2_variant("F16")
    data = Path(f16).read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert post(server.url + f"/api/blobs/{digest}", b"", method="HEAD")[0] == 404
    bad = "sha256:" + "0" * 64
    s, _, body = post(server.url + f"/api/blobs/{bad}", data[:1000])
    assert s == 400 and json.loads(body)["error"].startswith('digest mismatch, expected "sha256:0000')
    assert post(server.url + "/api/blobs/sha256:xyz", b"x")[0] == 400
    assert client.create_blob(f16) == digest
    assert post(server.url + f"/api/blobs/{digest}", b"", method="HEAD")[0] == 200
    assert client.create(model="smol-f16", files={"model.gguf": digest}).status == "success"
    assert client.show("smol-f16").details.quantization_level == "F16"
    lines = [p.status for p in client.create(model="smol-q8", from_="smol-f16", quantize="q8_0", stream=True)]
    assert lines[0] == "reading model metadata" and "quantizing F16 model to Q8_0" in lines and lines[-1] == "success"
    assert client.show("smol-q8").details.quantization_level == "Q8_0"
    r = client.generate(model="smol-q8", prompt="The capital of France is", raw=True, options={**GREEDY, "num_predict": 8})
    assert "Paris" in r.response
    with pytest.raises(ollama.ResponseError) as e:
        client.create(model="smol-q8b", from_=MODEL, quantize="q8_0")
    assert e.value.status_code == 400 and "only supported for F16 and F32" in e.value.error
    for n in ["smol-f16", "smol-q8"]:
        client.delete(n)


def test_tokenize_detokenize(server):
    s, _, body = post(server.url + "/api/tokenize", {"model": MODEL, "content": "Hello world<|im_end|>"})
    assert s == 200
    ids = json.loads(body)["tokens"]
    assert ids[-1] == 2 and len(ids) == 3
    s, _, body = post(server.url + "/api/detokenize", {"model": MODEL, "tokens": ids})
    assert json.loads(body)["content"] == "Hello world<|im_end|>"


def test_pull_push_are_clear_errors(client):
    with pytest.raises(ollama.ResponseError) as e:
        client.pull(MODEL)
    assert e.value.status_code == 501 and "no model registry" in e.value.error


def test_prompt_longer_than_context(client, server):
    long = "The quick brown fox jumps over the lazy dog. " * 40
    r = client.generate(model=MODEL, prompt=long, raw=True, options={**GREEDY, "num_ctx": 128, "num_predict": 8})
    assert r.done and r.prompt_eval_count == 128  # cut to num_ctx as Ollama's runner does: the context shifts
    s, _, body = post(server.url + "/api/generate", {"model": MODEL, "prompt": long, "raw": True, "stream": False, "shift": False,
                                                     "options": {**GREEDY, "num_ctx": 128, "num_predict": 8}})
    assert s == 200 and json.loads(body)["prompt_eval_count"] <= 128 - 8  # no shift: room is left for the answer
    s, _, body = post(server.url + "/api/generate", {"model": MODEL, "prompt": long, "raw": True, "stream": False,
                                                     "truncate": False, "options": {"num_ctx": 128}})
    assert s == 400 and json.loads(body)["error"] == "the input length exceeds the context length"
    msgs = [{"role": "user", "content": long}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "Say hi."}]
    r = client.chat(model=MODEL, messages=msgs, options={**GREEDY, "num_ctx": 256, "num_predict": 8})
    assert r.done and r.prompt_eval_count < 256


# ---------------------------------------------------------------------------------------------------- OpenAI

def test_openai_client(server, smollm2):
    oa = openai.OpenAI(base_url=server.url + "/v1", api_key="ignored")
    r = oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What is 2+2?"}], temperature=0,
                                   max_tokens=40)
    want = run_greedy(smollm2, "What is 2+2?", 40, False).rstrip("\n")
    assert r.object == "chat.completion" and r.choices[0].message.content == want and r.id.startswith("chatcmpl-")
    assert r.usage.completion_tokens <= 40 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    chunks = list(oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What is 2+2?"}],
                                             temperature=0, max_tokens=40, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == want
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens and chunks[-1].choices == []
    c = oa.completions.create(model=MODEL, prompt="What is 2+2?", temperature=0, max_tokens=40)
    assert c.object == "text_completion" and c.choices[0].text == want
    s = list(oa.completions.create(model=MODEL, prompt="What is 2+2?", temperature=0, max_tokens=40, stream=True))
    assert "".join(x.choices[0].text for x in s) == want
    assert MODEL in [m.id for m in oa.models.list().data]
    assert oa.models.retrieve(MODEL).owned_by == "library"
    with pytest.raises(openai.NotFoundError) as e:
        oa.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert e.value.body["message"] == "model 'nope' not found" and e.value.body["type"] == "not_found_error"
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model=MODEL, messages=[])
    assert e.value.body["message"] == "[] is too short - 'messages'"


def test_sse_framing(server):
    s, ct, body = post(server.url + "/v1/chat/completions", {"model": MODEL, "stream": True, "max_tokens": 3,
                                                             "messages": [{"role": "user", "content": "hi"}]})
    assert s == 200 and ct.startswith("text/event-stream")
    events = body.decode().split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])


# ---------------------------------------------------------------------------------------------------- bad input

HUGE = "x" * (33 << 20)
MALFORMED = [
    # (method, path, body, status, error text (exact, or a prefix ending in "…"))
    ("POST", "/api/generate", "", 400, "missing request body"),
    ("POST", "/api/generate", "{", 400, "invalid JSON…"),
    ("POST", "/api/generate", "[1,2]", 400, "json: cannot unmarshal array into Go value of type api.GenerateRequest"),
    ("POST", "/api/generate", '"model"', 400, "json: cannot unmarshal string into Go value of type api.GenerateRequest"),
    ("POST", "/api/generate", b'{"model":"smollm2:135m","prompt":"\xff\xfe"}', 400, "invalid UTF-8 in request body"),
    ("POST", "/api/generate", {"model": 5, "prompt": "x"}, 400, "json: cannot unmarshal number into Go struct field GenerateRequest.model of type string"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": 7}, 400, "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "stream": "yes"}, 400, "json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "raw": 1}, 400, "json: cannot unmarshal number into Go struct field GenerateRequest.raw of type bool"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "context": "1,2"}, 400, "json: cannot unmarshal string into Go struct field GenerateRequest.context of type []int"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "context": [1.5]}, 400, "json: cannot unmarshal number 1.5 into Go struct field GenerateRequest.context of type int"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "context": [99999999]}, 400, "context token 99999999 is outside the vocabulary (0..<49152)"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": []}, 400, "json: cannot unmarshal array into Go struct field GenerateRequest.options of type map[string]interface {}"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"top_k": "a"}}, 400, 'option "top_k" must be of type integer'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"temperature": "hot"}}, 400, 'option "temperature" must be of type float32'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"stop": "x"}}, 400, 'option "stop" must be of type array'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"stop": [1]}}, 400, 'option "stop" must be of an array of strings'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"use_mmap": 1}}, 400, 'option "use_mmap" must be of type boolean'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"num_predict": "all"}}, 400, 'option "num_predict" must be of type integer'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"num_ctx": 0}}, 400, "num_ctx must be positive"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"top_k": -3}}, 400, "top_k must be 0 or positive"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"min_p": 7}}, 400, "min_p must be between 0 and 1"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "options": {"repeat_last_n": -9}}, 400, "repeat_last_n must be -1, 0 or positive"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "keep_alive": "soon"}, 400, 'time: invalid duration "soon"'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "keep_alive": "5"}, 400, 'time: missing unit in duration "5"'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "keep_alive": [1]}, 400, "Unsupported type: 'array'"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "format": {"type": "string", "pattern": "^a"}}, 400, 'invalid format: JSON schema: unsupported keyword "pattern" at #…'),
    ("POST", "/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "format": {"type": "object", "properties": {"a": {"type": "integer", "minimum": 1}}}}, 400, 'invalid format: JSON schema: unsupported keyword "minimum" at #/properties/a…'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "format": {"type": "object", "properties": {}, "required": ["a"]}}, 400, 'invalid format: JSON schema: required property "a" is not in properties at #'),
    ("POST", "/api/embed", {"model": MODEL, "input": 5}, 400, "invalid input type"),
    ("POST", "/api/embed", {"model": MODEL, "input": ["a", 1]}, 400, "invalid input type"),
    ("POST", "/api/embed", {"model": MODEL, "input": "a", "dimensions": -1}, 400, "dimensions must be a non-negative integer"),
    ("POST", "/api/embed", {"model": MODEL, "input": "a b c d e f g h " * 40, "truncate": False, "options": {"num_ctx": 64}}, 400, "the input length exceeds the context length"),
    ("POST", "/api/embed", {"input": "a"}, 404, "model '' not found"),
    ("POST", "/api/embeddings", {"prompt": "a"}, 400, "model is required"),
    ("POST", "/v1/embeddings", {"model": MODEL, "input": "a", "encoding_format": "hex"}, 400, "Invalid value for 'encoding_format' = hex. Supported values: ['float', 'base64']."),
    ("POST", "/v1/embeddings", {"model": MODEL, "input": [[1, 2]]}, 400, "invalid input type…"),
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string", "format": "x", "pattern": "a"}}}}, 400, "invalid format: JSON schema: unsupported keyword…"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "format": "xml"}, 400, 'invalid format: "xml"; expected "json" or a valid JSON Schema object'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "raw": True, "system": "s"}, 400, "raw mode does not support template, system, or context"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "think": "deep"}, 400, "invalid think value"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "think": True}, 400, f'"{MODEL}" does not support thinking'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "top_logprobs": 21}, 400, "top_logprobs must be between 0 and 20"),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "suffix": "y"}, 400, f'"{MODEL}" does not support insert'),
    ("POST", "/api/generate", {"model": MODEL, "prompt": "x", "template": "{% if %}"}, 400, "chat template: …"),
    ("POST", "/api/generate", {"prompt": "x"}, 404, "model '' not found"),
    ("POST", "/api/generate", {"model": "nope", "prompt": "x"}, 404, "model 'nope' not found"),
    ("POST", "/api/generate", {"model": "../../etc/passwd", "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", {"model": "/etc/passwd", "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", {"model": "a/b/c:d", "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", {"model": "smollm2\u0000:135m", "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", {"model": "..:latest", "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", {"model": "x:../../y", "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", {"model": "a\\b", "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", {"model": "m" * 300, "prompt": "x"}, 400, "invalid model name"),
    ("POST", "/api/generate", '{"model":"' + HUGE + '"}', 413, "request body too large (the limit is 33554432 bytes)"),
    ("POST", "/api/chat", '{"messages":' + "[" * 1_000_000, 400, "invalid JSON: JSON at byte 523: exceeded max depth (512)"),
    ("POST", "/api/chat", {"messages": []}, 400, "model is required"),
    ("POST", "/api/chat", {"model": MODEL, "messages": "hi"}, 400, "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message"),
    ("POST", "/api/chat", {"model": MODEL, "messages": ["hi"]}, 400, "json: cannot unmarshal string into Go struct field ChatRequest.messages of type api.Message"),
    ("POST", "/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": 3}]}, 400, "json: cannot unmarshal number into Go struct field Message.content of type string"),
    ("POST", "/api/chat", {"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, 400, 'invalid message role "wizard" (system, user, assistant or tool)'),
    ("POST", "/api/chat", {"model": MODEL, "messages": [{"content": "x"}]}, 400, "message has no role"),
    ("POST", "/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, 400, f'"{MODEL}" does not support tools'),
    ("POST", "/api/chat", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, "model 'nope' not found"),
    ("POST", "/api/show", {}, 400, "model is required"),
    ("POST", "/api/show", {"model": "../x"}, 400, "invalid model name"),
    ("POST", "/api/copy", {"source": MODEL}, 400, "source and destination are required"),
    ("POST", "/api/copy", {"source": MODEL, "destination": "../evil"}, 400, 'destination "../evil" is invalid'),
    ("DELETE", "/api/delete", {"model": "/abs"}, 400, "invalid model name"),
    ("POST", "/api/create", {"model": "x"}, 400, "neither 'from' or 'files' was specified"),
    ("POST", "/api/create", {"model": "x", "from": MODEL, "parameters": {"top_k": "many"}}, 400, 'option "top_k" must be of type integer'),
    ("POST", "/api/create", {"model": "x", "from": MODEL, "quantize": "q9"}, 400, "unsupported quantization type q9…"),
    ("POST", "/api/create", {"model": "x", "files": {"m.gguf": "sha256:" + "1" * 64}}, 400, 'blob "sha256:' + "1" * 64 + '" not found…'),
    ("POST", "/api/create", {"model": "x", "from": MODEL, "adapters": {"a.gguf": "sha256:" + "1" * 64}}, 400, "blob \"sha256:" + "1" * 64 + "\" not found…"),
    ("POST", "/api/blobs/sha256:123", "x", 400, "invalid digest format"),
    ("POST", "/api/tokenize", {"model": MODEL}, 400, "content is required"),
    ("POST", "/api/detokenize", {"model": MODEL, "tokens": [-1]}, 400, "token -1 is outside the vocabulary (0..<49152)"),
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": []}, 400, "[] is too short - 'messages'"),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, 400, "model is required"),
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stop": 5}, 400, "stop must be a string or a list of strings"),
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, 400, "max_tokens must be a non-negative integer"),
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 3}, 400, "n other than 1 is not supported"),
    ("POST", "/v1/completions", {"model": MODEL, "prompt": ["a", "b"]}, 400, "prompt must be a string"),
    ("GET", "/api/nothing-here", None, 404, "404 page not found"),
]


def test_malformed_requests_table(server):
    assert len(MALFORMED) >= 40
    failures = []
    for method, path, body, status, text in MALFORMED:
        s, ct, raw = post(server.url + path, body if body is not None else b"", method=method)
        try:
            err = json.loads(raw)["error"]
        except (ValueError, KeyError, TypeError):
            failures.append(f"{method} {path} {str(body)[:60]}: body {raw[:120]!r}")
            continue
        if path.startswith("/v1/"):
            err = err["message"]
        ok = err.startswith(text[:-1]) if text.endswith("…") else err == text
        if s != status or not ok or not ct.startswith("application/json"):
            failures.append(f"{method} {path} {str(body)[:60]}: got {s} {err!r}, want {status} {text!r}")
    assert not failures, "\n".join(failures)
    # Still serving, and still right.
    assert post(server.url + "/api/generate", {"model": MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}})[0] == 200


# ---------------------------------------------------------------------------------------------------- load

PROMPTS = [f"Tell me one fact about the number {i}." for i in range(12)]


def test_concurrent_streams_get_their_own_greedy_text(server):
    """12 concurrent streaming clients (4 decode together, the rest queue): each gets exactly its single-client
    greedy answer, none hangs."""
    opts = {**GREEDY, "num_predict": 24}
    c = ollama.Client(host=server.url)
    single = [c.generate(model=MODEL, prompt=p, options=opts).response for p in PROMPTS]

    def one(p):
        cl = ollama.Client(host=server.url, timeout=120)
        return "".join(x.response for x in cl.generate(model=MODEL, prompt=p, options=opts, stream=True))

    with ThreadPoolExecutor(len(PROMPTS)) as ex:
        got = list(ex.map(one, PROMPTS))
    assert got == single


def test_busy_and_disconnect_free_the_slot(smollm2, tmp_path):
    """--parallel 1 --max-queue 1: a third request is refused with Ollama's 503 text; a client that goes away
    mid-stream frees its slot within a step, so the next request is served."""
    srv = Server(make_store(tmp_path / "store", smollm2), "--parallel", "1", "--max-queue", "1")
    try:
        long = {"model": MODEL, "prompt": "Count from one to one thousand:", "raw": True,
                "options": {"num_predict": 100000, "temperature": 0}}
        conns = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", srv.port))
            body = json.dumps(long).encode()
            s.sendall(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            conns.append(s)
        conns[0].settimeout(30)
        assert b"HTTP/1.1 200" in conns[0].recv(4096)  # the first one is streaming
        time.sleep(0.3)
        st, _, body = post(srv.url + "/api/generate", {"model": MODEL, "prompt": "x", "stream": False})
        assert st == 503 and json.loads(body)["error"] == "server busy, please try again.  maximum pending requests exceeded"
        # Kill both clients: the running sequence and the queued one are cancelled and the slot is free again.
        for s in conns:
            s.close()
        deadline = time.time() + 10
        while True:
            st, _, body = post(srv.url + "/api/generate", {"model": MODEL, "prompt": "Hi", "stream": False,
                                                          "options": {"num_predict": 3}})
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert st == 200, body
        assert "cancelled (client gone)" in Path(srv.log.name).read_text()
    finally:
        assert srv.stop() == 0


def test_graceful_shutdown_ends_streams_and_exits_0(smollm2, tmp_path):
    srv = Server(make_store(tmp_path / "store", smollm2))
    lines = []

    def stream():
        req = urllib.request.Request(srv.url + "/api/generate", method="POST", data=json.dumps(
            {"model": MODEL, "prompt": "Count:", "raw": True, "options": {"num_predict": 100000}}).encode())
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                for line in r:
                    lines.append(json.loads(line))
        except Exception as e:  # the connection may close after the final line
            lines.append({"exception": str(e)})

    t = threading.Thread(target=stream)
    t.start()
    deadline = time.time() + 20
    while len(lines) < 3 and time.time() < deadline:
        time.sleep(0.05)
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=20) == 0
    t.join(20)
    assert not t.is_alive() and len(lines) >= 3
    assert "error" in lines[-1] or "exception" in lines[-1]
    srv.log.close()


STORM_PROMPTS = [("Tell me one fact about the number 7.", 24), ("Name three colors.", 16), ("What is a cat?", 32),
                 ("Write one line about the sea.", 20), ("Count from 1 to 5.", 28), ("Say hello in French.", 12)]


def test_sixteen_streaming_clients_for_30_seconds(smollm2, tmp_path):
    """The issue's load check: 16 clients stream requests for 30 s (mixed prompts, --parallel 4, --max-queue 8): every
    request completes or gets Ollama's 503, none hangs (60 s socket timeout), each completed answer is that prompt's
    single-client greedy text, and clients killed mid-stream free their slots (afterwards the full 4 + 8 capacity
    serves 12 concurrent requests without a 503)."""
    srv = Server(make_store(tmp_path / "store", smollm2), "--parallel", "4", "--max-queue", "8")
    try:
        c = ollama.Client(host=srv.url, timeout=120)
        single = {p: c.generate(model=MODEL, prompt=p, options={**GREEDY, "num_predict": n}).response for p, n in STORM_PROMPTS}
        deadline = time.time() + 30
        lock = threading.Lock()
        stats = {"completed": 0, "busy": 0, "killed": 0}
        failures = []

        def count(key):
            with lock:
                stats[key] += 1

        def client(i):
            rng = random.Random(i)
            while time.time() < deadline:
                prompt, n = rng.choice(STORM_PROMPTS)
                kill_after = rng.choice([1, 3]) if rng.random() < 0.25 else None
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
                try:
                    conn.request("POST", "/api/generate", json.dumps({"model": MODEL, "prompt": prompt,
                                                                       "options": {**GREEDY, "num_predict": n}}),
                                 {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    if r.status == 503:
                        err = json.loads(r.read())["error"]
                        if err != "server busy, please try again.  maximum pending requests exceeded":
                            failures.append(f"503 with {err!r}")
                        count("busy")
                        time.sleep(0.05)
                        continue
                    if r.status != 200:
                        failures.append(f"status {r.status}: {r.read()[:200]!r}")
                        continue
                    text, lines = "", 0
                    for line in r:
                        obj = json.loads(line)
                        if "error" in obj:
                            failures.append(f"error line {obj}")
                            break
                        text += obj["response"]
                        lines += 1
                        if kill_after is not None and lines >= kill_after and not obj["done"]:
                            conn.sock.shutdown(socket.SHUT_RDWR)  # the client dies mid-stream
                            count("killed")
                            break
                        if obj["done"]:
                            if text != single[prompt]:
                                failures.append(f"{prompt!r}: got {text!r}, alone {single[prompt]!r}")
                            count("completed")
                            break
                    else:
                        failures.append(f"{prompt!r}: stream ended without done")
                except (socket.timeout, TimeoutError) as e:
                    failures.append(f"{prompt!r}: hung ({e})")
                except OSError as e:
                    if kill_after is None:
                        failures.append(f"{prompt!r}: {e!r}")
                finally:
                    conn.close()

        with ThreadPoolExecutor(16) as ex:
            list(ex.map(client, range(16)))
        assert not failures, "\n".join(failures[:20])
        assert stats["completed"] >= 20 and stats["killed"] >= 3, stats
        # Killed clients left no sequence behind: all 12 places (4 decoding + 8 queued) serve at once.
        time.sleep(0.5)
        with ThreadPoolExecutor(12) as ex:
            statuses = list(ex.map(lambda _: post(srv.url + "/api/generate", {"model": MODEL, "prompt": "Hi", "stream": False,
                                                                              "options": {"num_predict": 4}})[0], range(12)))
        assert statuses == [200] * 12, (statuses, stats)
        assert "cancelled (client gone)" in Path(srv.log.name).read_text()
        print(f"storm: {stats}")
    finally:
        assert srv.stop() == 0


@pytest.mark.parametrize("flag,env,forever", [("--keep-alive=-1", None, True), ("--keep-alive=90", None, False),
                                              (None, "-1", True), (None, "2m", False)])
def test_default_keep_alive_from_flag_or_environment(smollm2, tmp_path, flag, env, forever):
    """--keep-alive (or OLLAMA_KEEP_ALIVE) as Ollama's envconfig reads it: a Go duration or whole seconds; negative
    is forever (/api/ps shows Ollama's far-future expiry)."""
    old = os.environ.get("OLLAMA_KEEP_ALIVE")
    if env is not None:
        os.environ["OLLAMA_KEEP_ALIVE"] = env
    try:
        s = Server(make_store(tmp_path, smollm2), *([flag] if flag else []))
    finally:
        os.environ.pop("OLLAMA_KEEP_ALIVE", None)
        if old is not None:
            os.environ["OLLAMA_KEEP_ALIVE"] = old
    try:
        c = ollama.Client(host=s.url)
        c.generate(model=MODEL, prompt="Hi", options={"num_predict": 1})
        (m,) = c.ps().models
        left = m.expires_at.timestamp() - time.time()
        assert (left > 1e8) if forever else (30 < left < 200), left
    finally:
        assert s.stop() == 0
    bad = subprocess.run([str(BIN), "serve", "--keep-alive", "soon"], capture_output=True, text=True)
    assert bad.returncode != 0 and 'invalid duration "soon"' in bad.stderr
