"""`logprobs` / `top_logprobs` through `llmkit serve` on SmolLM2 at temperature 0, as Ollama returns them
(api/types.go Logprob, runner/common/logprob.go) and as its OpenAI layer converts them (choices[0].logprobs.content).

Checked: each value equals a numpy log-softmax (float64) over the logits `llmkit dev generate --logits-out` gives for
the same prompt + generated tokens, within 1e-4; the top alternatives are sorted, their probabilities sum to at most
1, and the greedy token is the first of them; `token` / `bytes` are the token's piece; streamed chunks carry their
own tokens (together the non-streamed list); a stop string removes the tokens that lie wholly in it; the official
`ollama` and `openai` clients parse the answers; bad values get Ollama's 400 texts."""
import json
import math

import numpy as np
import ollama
import openai
import pytest
import gguf

from conftest import llmkit
from test_eval import byte_decoder
from test_server import MODEL, Server, make_store, ndjson, post

GREEDY = {"temperature": 0, "repeat_penalty": 1, "num_predict": 12}
PROMPT = "Name three colours of the rainbow."


@pytest.fixture(scope="module")
def server(smollm2, tmp_path_factory):
    s = Server(make_store(tmp_path_factory.mktemp("store"), smollm2), "--parallel", "2")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def vocab(smollm2):
    """Each token's piece as llmkit shows it (control tokens by their text), and the vocabulary size."""
    r = gguf.GGUFReader(str(smollm2))
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[j][0]) for j in f.data]
    f = r.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(f.parts[j]).decode("utf-8") for j in f.data]
    dec = byte_decoder()
    return [t.encode() if ty == 3 else bytes(dec[c] for c in t) for t, ty in zip(tokens, types)]


def numpy_logprobs(smollm2, prompt, n, n_vocab, tmp_path):
    """The greedy continuation of `prompt` by `llmkit dev generate` (prefill, then one decode step per token, as the
    server runs them) and the float64 log-softmax of the logits each generated token was chosen from."""
    out = tmp_path / "logits.bin"
    p = llmkit("dev", "generate", smollm2, "--ids", ",".join(map(str, prompt)), "--logits-out", out, "-n", n, "--ctx", len(prompt) + n + 8)
    ids = json.loads(p.stdout.splitlines()[0])["ids"]
    lg = np.fromfile(out, dtype="<f4").reshape(len(prompt) + n - 1, -1)[len(prompt) - 1:, :n_vocab].astype(np.float64)
    m = lg.max(axis=1, keepdims=True)
    return ids, lg - m - np.log(np.exp(lg - m).sum(axis=1, keepdims=True))


def check_entries(entries, k, openai_shape=False):
    """Ollama omits an empty top_logprobs (omitempty); OpenAI's items always have it."""
    for e in entries:
        assert set(e) == {"token", "logprob", "bytes"} | ({"top_logprobs"} if k or openai_shape else set())
        assert all(set(t) == {"token", "logprob", "bytes"} for t in e.get("top_logprobs", []))
        assert bytes(e["bytes"]).decode("utf-8", "replace") == e["token"] or len(e["bytes"]) < 4
        top = e.get("top_logprobs", [])
        assert len(top) == k
        lps = [t["logprob"] for t in top]
        assert lps == sorted(lps, reverse=True) and all(x <= 0 for x in lps)
        assert sum(math.exp(x) for x in lps) <= 1 + 1e-9
        if k:  # greedy: the chosen token is the most likely one
            assert e["logprob"] == lps[0] and e["bytes"] == top[0]["bytes"]


def test_generate_matches_numpy_log_softmax(server, smollm2, vocab, tmp_path):
    k = 5
    s, _, body = post(server.url + "/api/generate", {"model": MODEL, "prompt": PROMPT, "stream": False, "options": GREEDY,
                                                      "logprobs": True, "top_logprobs": k})
    r = json.loads(body)
    assert s == 200, r
    lp = r["logprobs"]
    assert r["done_reason"] == "length" and len(lp) == r["eval_count"] == GREEDY["num_predict"]
    check_entries(lp, k)
    assert "".join(e["token"] for e in lp) == r["response"]
    ids = r["context"]
    gen = ids[-len(lp):]
    ref_ids, want = numpy_logprobs(smollm2, ids[:-len(lp)], len(lp), len(vocab), tmp_path)
    assert ref_ids == gen
    worst = 0.0
    for i, (e, t) in enumerate(zip(lp, gen)):
        row = want[i]
        assert bytes(e["bytes"]) == vocab[t]
        worst = max(worst, abs(e["logprob"] - row[t]))
        order = np.argsort(-row, kind="stable")[:k]
        for a, tid in zip(e["top_logprobs"], order):
            worst = max(worst, abs(a["logprob"] - row[tid]))
            assert bytes(a["bytes"]) == vocab[tid], (i, [(t["token"], t["logprob"]) for t in e["top_logprobs"]],
                                                     [(vocab[j], row[j]) for j in order])
    assert worst < 1e-4, worst
    print(f"\n{len(lp)} tokens x top {k}: max |logprob - numpy| = {worst:.2e}")


def test_stream_carries_each_chunks_logprobs(server):
    body = {"model": MODEL, "prompt": PROMPT, "options": GREEDY, "logprobs": True, "top_logprobs": 2}
    whole = json.loads(post(server.url + "/api/generate", {**body, "stream": False})[2])
    lines = ndjson(post(server.url + "/api/generate", body)[2])
    got = []
    for c in lines[:-1]:
        assert "".join(e["token"] for e in c["logprobs"]) == c["response"]
        got += c["logprobs"]
    assert "logprobs" not in lines[-1] and lines[-1]["done"]
    assert got == whole["logprobs"]
    # top_logprobs 0 (or absent): the tokens alone; no logprobs at all without `logprobs`.
    r = json.loads(post(server.url + "/api/generate", {**body, "stream": False, "top_logprobs": 0})[2])
    check_entries(r["logprobs"], 0)
    assert [(e["token"], e["logprob"]) for e in r["logprobs"]] == [(e["token"], e["logprob"]) for e in whole["logprobs"]]
    r = json.loads(post(server.url + "/api/generate", {**body, "stream": False, "logprobs": False, "top_logprobs": 3})[2])
    assert "logprobs" not in r and r["response"] == whole["response"]


def test_stop_string_drops_the_tokens_inside_it(server):
    body = {"model": MODEL, "prompt": PROMPT, "logprobs": True, "top_logprobs": 1}
    full = json.loads(post(server.url + "/api/generate", {**body, "stream": False, "options": GREEDY})[2])
    toks = [e["token"] for e in full["logprobs"]]
    # A stop string that starts inside the third token's piece and runs across the fourth.
    cut = len(toks[0]) + len(toks[1]) + max(1, len(toks[2]) // 2)
    stop = full["response"][cut:cut + len(toks[2]) - len(toks[2]) // 2 + len(toks[3])]
    assert stop and full["response"].find(stop) == cut, "choose another prompt: the stop string occurs earlier"
    opts = {**GREEDY, "stop": [stop]}
    r = json.loads(post(server.url + "/api/generate", {**body, "stream": False, "options": opts})[2])
    assert r["response"] == full["response"][:cut]
    assert r["logprobs"] == full["logprobs"][:3]  # the third token starts before the cut; the fourth lies in the stop string
    lines = ndjson(post(server.url + "/api/generate", {**body, "options": opts})[2])
    assert "".join(c["response"] for c in lines) == r["response"]
    assert [e for c in lines for e in c.get("logprobs", [])] == r["logprobs"]


def test_chat_with_the_ollama_client(server):
    c = ollama.Client(host=server.url)
    msgs = [{"role": "user", "content": PROMPT}]
    r = c.chat(model=MODEL, messages=msgs, options=GREEDY, logprobs=True, top_logprobs=3)
    assert r.logprobs and len(r.logprobs) == r.eval_count
    assert "".join(e.token for e in r.logprobs) == r.message.content
    assert all(len(e.top_logprobs) == 3 and e.logprob == e.top_logprobs[0].logprob for e in r.logprobs)
    chunks = list(c.chat(model=MODEL, messages=msgs, options=GREEDY, logprobs=True, top_logprobs=3, stream=True))
    streamed = [e for ch in chunks for e in (ch.logprobs or [])]
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in r.logprobs]
    g = c.generate(model=MODEL, prompt=PROMPT, options=GREEDY, logprobs=True)
    assert g.logprobs and all(not e.top_logprobs for e in g.logprobs)


def test_openai_chat(server):
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="x")
    msgs = [{"role": "user", "content": PROMPT}]
    native = json.loads(post(server.url + "/api/chat", {"model": MODEL, "messages": msgs, "stream": False, "logprobs": True,
                                                         "top_logprobs": 2, "options": {"temperature": 0, "num_predict": 12}})[2])
    r = c.chat.completions.create(model=MODEL, messages=msgs, temperature=0, max_tokens=12, logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert [(e.token, e.logprob, e.bytes) for e in content] == [(e["token"], e["logprob"], e["bytes"]) for e in native["logprobs"]]
    assert all([t.token for t in e.top_logprobs] == [t["token"] for t in n["top_logprobs"]] for e, n in zip(content, native["logprobs"]))
    assert "".join(e.token for e in content) == r.choices[0].message.content
    stream = c.chat.completions.create(model=MODEL, messages=msgs, temperature=0, max_tokens=12, logprobs=True, top_logprobs=2,
                                       stream=True)
    streamed = [e for ch in stream if ch.choices and ch.choices[0].logprobs for e in ch.choices[0].logprobs.content]
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in content]
    plain = c.chat.completions.create(model=MODEL, messages=msgs, temperature=0, max_tokens=4)
    assert plain.choices[0].logprobs is None


def test_v1_completions_legacy_logprobs(server):
    """/v1/completions reads `logprobs` as Ollama's FromCompleteRequest does (n > 0: the token's log probability and
    n alternatives; 0, negative or null: none) and answers in OpenAI's legacy completions shape — tokens,
    token_logprobs, top_logprobs ({text: logprob} per position), text_offset — with the values /api/generate gives."""
    native = json.loads(post(server.url + "/api/generate", {"model": MODEL, "prompt": PROMPT, "stream": False, "logprobs": True,
                                                            "top_logprobs": 2, "options": {"temperature": 0, "num_predict": 6}})[2])
    body = {"model": MODEL, "prompt": PROMPT, "temperature": 0, "max_tokens": 6, "logprobs": 2}
    s, _, raw = post(server.url + "/v1/completions", body)
    choice = json.loads(raw)["choices"][0]
    lp = choice["logprobs"]
    assert s == 200 and list(lp) == ["tokens", "token_logprobs", "top_logprobs", "text_offset"]
    assert lp["tokens"] == [e["token"] for e in native["logprobs"]] and len(lp["tokens"]) == 6
    assert lp["token_logprobs"] == [e["logprob"] for e in native["logprobs"]]
    assert lp["top_logprobs"] == [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in native["logprobs"]]
    assert all(len(t) == 2 and max(t.values()) >= lp["token_logprobs"][i] - 1e-9 for i, t in enumerate(lp["top_logprobs"]))
    assert "".join(lp["tokens"]) == choice["text"] == native["response"]
    assert lp["text_offset"] == [len("".join(lp["tokens"][:i])) for i in range(6)]
    # streamed: the chunks' arrays join into the same four, offsets counted across chunks
    s, _, raw = post(server.url + "/v1/completions", {**body, "stream": True})
    chunks = [json.loads(e[6:]) for e in raw.decode().split("\n\n") if e.startswith("data: {")]
    parts = [c["choices"][0]["logprobs"] for c in chunks if c["choices"] and c["choices"][0]["logprobs"]]
    assert {k: [x for p in parts for x in p[k]] for k in lp} == lp
    # not asked for: null, as OpenAI's and Ollama's 0 / negative / absent
    plain = {k: v for k, v in body.items() if k != "logprobs"}
    for extra in ({"logprobs": 0}, {"logprobs": -1}, {"logprobs": None}, {}):
        r = json.loads(post(server.url + "/v1/completions", {**plain, **extra})[2])
        assert r["choices"][0]["logprobs"] is None and r["choices"][0]["text"] == choice["text"]
    # the official client parses it
    cr = openai.OpenAI(base_url=server.url + "/v1", api_key="x").completions.create(
        model=MODEL, prompt=PROMPT, temperature=0, max_tokens=6, logprobs=2)
    got = cr.choices[0].logprobs
    assert (got.tokens, got.token_logprobs, got.text_offset) == (lp["tokens"], lp["token_logprobs"], lp["text_offset"])
    assert got.top_logprobs == lp["top_logprobs"]


@pytest.mark.parametrize("path,extra,status,error", [
    ("/api/generate", {"logprobs": True, "top_logprobs": 21}, 400, "top_logprobs must be between 0 and 20"),
    ("/api/generate", {"logprobs": True, "top_logprobs": -1}, 400, "top_logprobs must be between 0 and 20"),
    ("/api/chat", {"logprobs": True, "top_logprobs": 100}, 400, "top_logprobs must be between 0 and 20"),
    ("/api/generate", {"logprobs": True, "top_logprobs": "3"}, 400,
     "json: cannot unmarshal string into Go struct field GenerateRequest.top_logprobs of type int"),
    ("/api/chat", {"logprobs": "yes"}, 400, "json: cannot unmarshal string into Go struct field ChatRequest.logprobs of type bool"),
    ("/v1/chat/completions", {"logprobs": True, "top_logprobs": 21}, 400, "top_logprobs must be between 0 and 20"),
    ("/v1/completions", {"logprobs": 21}, 400, "top_logprobs must be between 0 and 20"),
])
def test_bad_values(server, path, extra, status, error):
    body = {"model": MODEL, **extra}
    body.update({"prompt": "x"} if path in ("/api/generate", "/v1/completions") else {"messages": [{"role": "user", "content": "x"}]})
    s, _, raw = post(server.url + path, body)
    e = json.loads(raw)["error"]
    assert s == status
    assert (e["message"] if path.startswith("/v1") else e) == error
    assert (e["type"] == "invalid_request_error") if path.startswith("/v1") else True
