"""Go-template TEMPLATEs on the server, driven with the official `ollama` client as Ollama users drive it: a model
created with a Go template renders chat and generate prompts as Ollama does (checked through Ollama's
`_debug_render_only`), answers a real chat with exactly the tokens of that prompt, fills generate's `suffix` into
a template that uses .Suffix; a broken template is a 400 carrying Go's parse error at /api/create, and a template that
fails on a request (generate's `template` that does not parse, any execution error) a 500 with Go's text, as Ollama's
GenerateHandler / ChatHandler answer a failed template.Parse, tmpl.Execute or chatPrompt."""
import ollama
import pytest

import json

from test_server import MODEL, Server, make_store, post

CHATML = "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
LEGACY = "{{ if .System }}S:{{ .System }}\n{{ end }}{{ if .Prompt }}U:{{ .Prompt }}\n{{ end }}A:{{ .Response }}<|im_end|>\n"
FIM = "<fim_prefix>{{ .Prompt }}<fim_suffix>{{ .Suffix }}<fim_middle>"


@pytest.fixture(scope="module")
def server(smollm2, tmp_path_factory):
    s = Server(make_store(tmp_path_factory.mktemp("store"), smollm2))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def client(server):
    c = ollama.Client(host=server.url)
    assert c.create(model="gochat", from_=MODEL, template=CHATML, system="Be brief.").status == "success"
    assert c.create(model="golegacy", from_=MODEL, template=LEGACY).status == "success"
    assert c.create(model="gofim", from_=MODEL, template=FIM).status == "success"
    return c


def render(server, route, body):
    status, _, raw = post(server.url + route, {**body, "_debug_render_only": True})
    assert status == 200, raw
    r = json.loads(raw)
    return r


def test_chat_debug_render_only_is_ollamas_shape_and_prompt(server, client):
    r = render(server, "/api/chat", {"model": "gochat", "messages": [{"role": "user", "content": "Hi"},
                                                                    {"role": "assistant", "content": "Hello."},
                                                                    {"role": "user", "content": "Bye"}]})
    assert set(r) == {"model", "created_at", "message", "done", "_debug_info"}
    assert r["model"] == "gochat" and r["done"] is False and r["message"] == {"role": "", "content": ""}
    assert r["_debug_info"] == {"rendered_template": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
        "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")}


def test_generate_debug_render_only(server, client):
    r = render(server, "/api/generate", {"model": "gochat", "prompt": "Why?", "system": "Answer in French."})
    assert set(r) == {"model", "created_at", "response", "done", "_debug_info"} and r["response"] == ""
    assert r["_debug_info"]["rendered_template"] == (
        "<|im_start|>system\nAnswer in French.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n")
    # a per-request Go template overrides the model's
    r = render(server, "/api/generate", {"model": MODEL, "prompt": "x", "template": "[{{ .Prompt }}]"})
    assert r["_debug_info"]["rendered_template"] == "[x]"
    # raw: the prompt as written
    r = render(server, "/api/generate", {"model": "gochat", "prompt": "as is", "raw": True})
    assert r["_debug_info"]["rendered_template"] == "as is"


TOOLS_TEMPLATE = ("{{ if .Tools }}<tools>{{ range .Tools }}{{ json .Function }}{{ end }}</tools>{{ end }}"
                  "{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ range .ToolCalls }}"
                  "<call>{{ .Function.Name }}{{ json .Function.Arguments }}</call>{{ end }}{{ end }}<assistant>")


def test_tools_reach_a_go_template(server, client):
    assert client.create(model="gotools", from_=MODEL, template=TOOLS_TEMPLATE).status == "success"
    assert "tools" in client.show("gotools").capabilities
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {
        "type": "object", "required": ["city"], "properties": {"city": {"type": "string", "description": "City"}}}}}
    r = render(server, "/api/chat", {"model": "gotools", "tools": [tool], "messages": [
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather",
                                                                           "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18C", "tool_name": "get_weather"}]})
    assert r["_debug_info"]["rendered_template"] == (
        '<tools>{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object",'
        '"required":["city"],"properties":{"city":{"type":"string","description":"City"}}}}</tools>'
        '<user>Paris?<assistant><call>get_weather{"city":"Paris"}</call><tool>18C<assistant>')


def test_legacy_template_renders_turn_by_turn(server, client):
    r = render(server, "/api/chat", {"model": "golegacy", "messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}]})
    assert r["_debug_info"]["rendered_template"] == "S:sys\nU:u1\nA:a1<|im_end|>\nU:u2\nA:"


def test_real_chat_uses_the_go_template_prompt(server, client):
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    opts = {"temperature": 0, "num_predict": 12, "repeat_penalty": 1}
    prompt = render(server, "/api/chat", {"model": "gochat", "messages": msgs})["_debug_info"]["rendered_template"]
    chat = client.chat(model="gochat", messages=msgs, options=opts)
    raw = client.generate(model=MODEL, prompt=prompt, raw=True, options=opts)
    assert chat.message.content == raw.response and chat.eval_count == raw.eval_count
    assert chat.prompt_eval_count == raw.prompt_eval_count
    streamed = "".join(p.message.content for p in client.chat(model="gochat", messages=msgs, options=opts, stream=True))
    assert streamed == chat.message.content


def tokenize(server, text):
    s, _, body = post(server.url + "/api/tokenize", {"model": MODEL, "content": text})
    assert s == 200
    return json.loads(body)["tokens"]


def test_generate_debug_render_only_with_context(server, client):
    """Ollama's GenerateHandler writes the detokenized `context` (every token's piece, special ones included) before
    the rendered prompt, and renders nothing for an empty prompt: that request only loads the model."""
    plain = "Earlier text, no specials."
    special = "<|im_start|>user\nA<|im_end|>\n"
    for text in (plain, special):
        ctx = tokenize(server, text)
        assert len(ctx) > 3 and (text == plain or 1 in ctx)  # <|im_start|> parsed as its id
        r = render(server, "/api/generate", {"model": "gochat", "prompt": "Why?", "context": ctx})
        assert r["_debug_info"]["rendered_template"] == text + (
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n")
        # a request template (Ollama's legacy flow) also gets the context in front
        r = render(server, "/api/generate", {"model": MODEL, "prompt": "x", "template": "[{{ .Prompt }}]", "context": ctx})
        assert r["_debug_info"]["rendered_template"] == text + "[x]"
    # the context of a real answer renders back as its prompt and answer
    g = client.generate(model="gochat", prompt="Hi", options={"temperature": 0, "num_predict": 5})
    r = render(server, "/api/generate", {"model": "gochat", "prompt": "Bye", "context": g.context})
    assert r["_debug_info"]["rendered_template"].startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" + g.response)
    # an empty prompt loads, with or without a context, rendering or generating
    for extra in ({}, {"context": tokenize(server, plain)}, {"context": tokenize(server, plain), "_debug_render_only": False}):
        s, _, raw = post(server.url + "/api/generate", {"model": "gochat", "prompt": "", "stream": False,
                                                        "_debug_render_only": True, **extra})
        r = json.loads(raw)
        assert s == 200 and (r["done"], r["done_reason"], r["response"]) == (True, "load", "") and "_debug_info" not in r
    # a context id outside the vocabulary is the 400 generation gives
    s, _, raw = post(server.url + "/api/generate", {"model": "gochat", "prompt": "x", "context": [1, 49152],
                                                    "_debug_render_only": True})
    assert (s, json.loads(raw)) == (400, {"error": "context token 49152 is outside the vocabulary (0..<49152)"})


def test_suffix_with_a_template_that_uses_it(server, client):
    r = render(server, "/api/generate", {"model": "gofim", "prompt": "def add(a, b):", "suffix": "    return c"})
    assert r["_debug_info"]["rendered_template"] == "<fim_prefix>def add(a, b):<fim_suffix>    return c<fim_middle>"
    out = client.generate(model="gofim", prompt="def add(a, b):", suffix="    return c",
                          options={"temperature": 0, "num_predict": 4})
    assert out.done and out.eval_count <= 4
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model="gochat", prompt="x", suffix="y")
    assert e.value.status_code == 400 and "does not support insert" in e.value.error


def test_broken_go_template_is_gos_error(server, client):
    with pytest.raises(ollama.ResponseError) as e:
        client.create(model="gobad", from_=MODEL, template="{{ if .System }}{{ .System }}")
    assert e.value.status_code == 400 and e.value.error == "template: :1: unexpected EOF"
    with pytest.raises(ollama.ResponseError) as e:
        client.create(model="gobad", from_=MODEL, template="{{ range .Messages }}{{ .Content }}{{ end }}{{ nope }}")
    assert e.value.status_code == 400 and e.value.error == 'template: :1: function "nope" not defined'
    # generate's own `template` that does not parse: Ollama's 500 (template.Parse in GenerateHandler)
    status, _, raw = post(server.url + "/api/generate", {"model": MODEL, "prompt": "x", "template": "{{ .Prompt "})
    assert status == 500 and json.loads(raw)["error"] == "template: :1: unclosed action"
    # an exec error of a Go template is a 500 with Go's text (tmpl.Execute), also under _debug_render_only
    for extra in ({}, {"_debug_render_only": True}, {"stream": False}):
        status, _, raw = post(server.url + "/api/generate", {"model": MODEL, "prompt": "x", "template": "{{ len 3 }}", **extra})
        assert status == 500
        assert json.loads(raw) == {"error": 'template: :1:3: executing "" at <len 3>: error calling len: len of type int'}
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model=MODEL, prompt="x", template="{{ len 3 }}")
    assert e.value.status_code == 500
    # Jinja stays Jinja: a request template with {% %} is rendered by the Jinja engine
    r = render(server, "/api/generate", {"model": MODEL, "prompt": "x",
                                         "template": "{% for m in messages %}<{{ m.content }}>{% endfor %}"})
    assert r["_debug_info"]["rendered_template"] == "<x>"


def test_chat_template_exec_error_is_a_500(server, client):
    """A model whose TEMPLATE fails while executing: chat (native and /v1) answers 500 with Go's text (checked with
    Go's text/template: the column is the byte offset of `index`)."""
    tmpl = "{{ range .Messages }}{{ .Content }}{{ end }}{{ index .Messages 5 }}"
    assert client.create(model="goexec", from_=MODEL, template=tmpl).status == "success"
    want = 'template: :1:47: executing "" at <index .Messages 5>: error calling index: index out of range: 5'
    msgs = [{"role": "user", "content": "hi"}]
    for extra in ({"stream": False}, {}, {"_debug_render_only": True}):
        status, _, raw = post(server.url + "/api/chat", {"model": "goexec", "messages": msgs, **extra})
        assert (status, json.loads(raw)) == (500, {"error": want})
    with pytest.raises(ollama.ResponseError) as e:
        client.chat(model="goexec", messages=msgs)
    assert (e.value.status_code, e.value.error) == (500, want)
    status, _, raw = post(server.url + "/v1/chat/completions", {"model": "goexec", "messages": msgs})
    assert status == 500 and json.loads(raw)["error"]["message"] == want and json.loads(raw)["error"]["type"] == "api_error"
    # the same messages under a template that works still answer
    r = render(server, "/api/chat", {"model": "gochat", "messages": msgs})
    assert r["_debug_info"]["rendered_template"].endswith("<|im_start|>assistant\n")


def test_hostile_templates_are_errors_not_crashes(server, client):
    """Recursion, nesting, endless loops and output bombs on generate's `template` end in Ollama's 500 for a template
    that does not parse or execute (the server stays up)."""
    msgs = "{{ range .Messages }}{{ .Content }}{{ end }}"
    nested = ('{{ define "r" }}' + "{{ if 1 }}" * 150 + '{{ template "r" }}' + "{{ end }}" * 150
              + '{{ end }}' + msgs + '{{ template "r" }}')
    status, _, raw = post(server.url + "/api/generate", {"model": MODEL, "prompt": "x", "template": nested})
    assert status == 500 and json.loads(raw)["error"].endswith("exceeded maximum nesting depth (1000)")
    deep = "{{ if 1 }}" * 5000 + msgs + "{{ end }}" * 5000
    status, _, raw = post(server.url + "/api/generate", {"model": MODEL, "prompt": "x", "template": deep})
    assert status == 500 and "exceeded maximum nesting depth" in json.loads(raw)["error"]
    loop = msgs + "{{ range 1000000000 }}{{ end }}"
    status, _, raw = post(server.url + "/api/generate", {"model": MODEL, "prompt": "x", "template": loop})
    assert status == 500 and "steps" in json.loads(raw)["error"]
    bomb = '{{ define "a" }}' + msgs * 4 + '{{ end }}' + msgs + '{{ range 1000000 }}{{ template "a" $ }}{{ end }}'
    status, _, raw = post(server.url + "/api/generate", {"model": MODEL, "prompt": "y" * 4096, "template": bomb})
    assert status == 500 and "exceeded" in json.loads(raw)["error"]
    s, _, _ = post(server.url + "/", b"", method="GET")
    assert s == 200
