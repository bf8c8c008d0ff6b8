"""Context shift in `llmkit serve` and `llmkit run`, on the real SmolLM2 with a 128-token context: a greedy count
keeps counting through several shifts (Ollama's rule: num_keep 4 kept, half of the rest dropped when the context is
full) and ends only at num_predict; `shift: false` stops at the full context with done_reason "length" and is the
shifted answer's start; num_predict −2 or below is −1, as in Ollama; a prompt longer than num_ctx is cut to num_ctx (Ollama's runner) and still answers; the
counting sequence beside another one in the same batch gives its solo text; `llmkit run --ctx 128 --keep 4` gives
the server's text, and `--no-context-shift` the text of `shift: false`."""
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import llmkit
from test_server import MODEL, Server, make_store, post

CTX = 128
COUNT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
GREEDY = {"temperature": 0, "repeat_penalty": 1}


@pytest.fixture(scope="module")
def server(smollm2, tmp_path_factory):
    s = Server(make_store(tmp_path_factory.mktemp("store"), smollm2), "--parallel", "2")
    yield s
    assert s.stop() == 0


def generate(server, prompt, **extra):
    options = {**GREEDY, "num_ctx": CTX, **extra.pop("options", {})}
    s, _, body = post(server.url + "/api/generate", {"model": MODEL, "prompt": prompt, "raw": True, "stream": False,
                                                     "options": options, **extra}, timeout=600)
    assert s == 200, body
    return json.loads(body)


def shifts_logged(server):
    return len(re.findall(r"context limit hit - shifting", Path(server.log.name).read_text()))


def numbers(text):
    return [int(n) for n in re.findall(r"\d+", text)]


def test_count_goes_on_through_shifts(server):
    before = shifts_logged(server)
    r = generate(server, COUNT, options={"num_predict": 400})
    assert (r["done_reason"], r["eval_count"]) == ("length", 400)
    shifts = shifts_logged(server) - before
    # Full at 128 positions, each shift frees (128 − 4) / 2 = 62: prompt + 400 tokens need several.
    assert shifts == 1 + (r["prompt_eval_count"] + 400 - 1 - CTX) // 62, shifts
    got = numbers(r["response"])
    assert len(got) > 60 and got[-1] > 2 * CTX // 4, r["response"]  # far more of the count than one context holds
    # Coherent: the count continues 11, 12, … through every shift (the last number may be cut by num_predict).
    assert got[:-1] == list(range(11, 11 + len(got) - 1)), r["response"]

    stopped = generate(server, COUNT, shift=False, options={"num_predict": 400})
    assert stopped["done_reason"] == "length"
    # The cache holds the prompt and every token but the last one sampled: full after 128 − prompt + 1 tokens.
    assert stopped["eval_count"] == CTX - stopped["prompt_eval_count"] + 1
    assert r["response"].startswith(stopped["response"]) and len(stopped["response"]) < len(r["response"])

    # num_predict −2 is not llama.cpp's "fill the context" in Ollama: llm/server.go turns every negative value into
    # 10 × num_ctx, so with shift: false it stops where −1 does.
    filled = generate(server, COUNT, shift=False, options={"num_predict": -2})
    assert (filled["done_reason"], filled["response"]) == ("length", stopped["response"])


def test_negative_num_predict_is_minus_one(server):
    """−2 and any other negative num_predict count as −1 (Ollama's llm/server.go Completion): the context shifts and
    generation goes on past a full context, here until the stop string."""
    before = shifts_logged(server)
    out = [generate(server, COUNT, options={"num_predict": n, "stop": [" 45,"]}) for n in (-1, -2, -9)]
    assert shifts_logged(server) - before >= 3
    assert all((r["done_reason"], r["response"]) == ("stop", out[0]["response"]) for r in out)
    assert numbers(out[0]["response"])[-1] == 44 and out[0]["prompt_eval_count"] + out[0]["eval_count"] > CTX


def test_long_prompt_is_cut_to_num_ctx_and_shifts(server):
    prompt = ", ".join(map(str, range(1, 81))) + ","  # ~240 tokens
    r = generate(server, prompt, options={"num_predict": 24})
    assert r["prompt_eval_count"] == CTX  # Ollama's runner: num_keep tokens + the last num_ctx − num_keep
    assert (r["done_reason"], r["eval_count"]) == ("length", 24)
    assert numbers(r["response"])[:3] == [81, 82, 83], r["response"]
    s, _, body = post(server.url + "/api/generate", {"model": MODEL, "prompt": prompt, "raw": True, "stream": False,
                                                     "truncate": False, "options": {**GREEDY, "num_ctx": CTX}})
    assert (s, json.loads(body)) == (400, {"error": "the input length exceeds the context length"})


def test_only_the_full_sequence_shifts(server):
    solo_count = generate(server, COUNT, options={"num_predict": 200})["response"]
    other = "The capital of France is"
    solo_other = generate(server, other, options={"num_ctx": 2048, "num_predict": 60})["response"]
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(generate, server, COUNT, options={"num_predict": 200})
        b = pool.submit(generate, server, other, options={"num_ctx": 2048, "num_predict": 60})
        assert (a.result()["response"], b.result()["response"]) == (solo_count, solo_other)


def test_run_shifts_as_the_server(server, smollm2):
    want = generate(server, COUNT, options={"num_predict": 300})["response"]
    args = ["run", "--raw", smollm2, COUNT, "--temperature", "0", "--repeat-penalty", "1", "-n", "300", "--ctx", CTX]
    p = llmkit(*args, "--keep", "4", "--verbose")
    assert p.stdout.rstrip("\n") == want.rstrip("\n")
    assert "context shifted" in p.stderr
    stopped = generate(server, COUNT, shift=False, options={"num_predict": 300})["response"]
    assert llmkit(*args, "--no-context-shift").stdout.rstrip("\n") == stopped.rstrip("\n")
