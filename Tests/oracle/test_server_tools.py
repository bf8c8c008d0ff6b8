"""Tool calls through `llmkit serve`, driven by the official `ollama` and `openai` clients against the running server.

The model is the real SmolLM2 with Qwen2.5's real Jinja chat template (which renders `tools` and writes calls as
<tool_call>{json}</tool_call>), created with /api/create. Two earlier turns in which the assistant called the tool
make SmolLM2's greedy answer a third call, in the template's format; the server must turn that text into tool_calls
objects (Ollama: message.tool_calls with object arguments; OpenAI: tool_calls with JSON-text arguments and
finish_reason "tool_calls"), streamed and not. The same request without tools shows the raw text the parser saw.
Tool-result and tool-call messages of a request reach the template exactly as Python jinja2 renders them (the prompt
token count equals that of jinja2's text). A template without tool support gives Ollama's 400."""
import json
from pathlib import Path

import ollama
import openai
import pytest

from test_chat_template import hf_environment
from test_server import MODEL, Server, make_store, post, ndjson

TEMPLATE = Path(__file__).parent / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja"
TOOL_MODEL = "smol-tools"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"}},
                   "required": ["city"]}}}]
GREEDY = {"temperature": 0, "num_predict": 40}


def few_shot(city="Tokyo"):
    """Ollama-format history: two questions the assistant answered with a call, then a third question."""
    msgs = []
    for c in ("Paris", "London"):
        msgs.append({"role": "user", "content": f"What is the weather in {c}?"})
        msgs.append({"role": "assistant", "content": "",
                     "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": c}}}]})
    msgs.append({"role": "user", "content": f"What is the weather in {city}?"})
    return msgs


def few_shot_openai(city="Tokyo"):
    msgs = []
    for i, c in enumerate(("Paris", "London")):
        msgs.append({"role": "user", "content": f"What is the weather in {c}?"})
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{i}", "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": c})}}]})
    msgs.append({"role": "user", "content": f"What is the weather in {city}?"})
    return msgs


@pytest.fixture(scope="module")
def server(smollm2, tmp_path_factory):
    s = Server(make_store(tmp_path_factory.mktemp("store"), smollm2), "--parallel", "2")
    client = ollama.Client(host=s.url)
    assert client.create(model=TOOL_MODEL, from_=MODEL, template=TEMPLATE.read_text()).status == "success"
    yield s
    assert s.stop() == 0


@pytest.fixture
def client(server):
    return ollama.Client(host=server.url)


@pytest.fixture
def oa(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused")


def test_capabilities(client):
    assert "tools" in client.show(TOOL_MODEL).capabilities
    assert "tools" not in client.show(MODEL).capabilities  # SmolLM2's own ChatML template ignores tools


def test_without_tools_the_model_writes_the_call_as_text(client):
    r = client.chat(model=TOOL_MODEL, messages=few_shot(), options=GREEDY)
    assert r.message.content == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>'
    assert not r.message.tool_calls


def test_ollama_chat_parses_the_call(client, server):
    r = client.chat(model=TOOL_MODEL, messages=few_shot(), tools=TOOLS, options=GREEDY)
    assert r.message.content == ""
    assert len(r.message.tool_calls) == 1
    call = r.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == {"city": "Tokyo"}
    assert r.done_reason == "stop"
    # The wire format: Ollama's api.ToolCall with an id and the function's index.
    s, _, body = post(server.url + "/api/chat", {"model": TOOL_MODEL, "messages": few_shot(), "tools": TOOLS,
                                                 "options": GREEDY, "stream": False})
    assert s == 200
    msg = json.loads(body)["message"]
    (tc,) = msg["tool_calls"]
    assert tc["id"].startswith("call_") and len(tc["id"]) == 13
    assert tc["function"] == {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}


def test_ollama_chat_streamed(client, server):
    chunks = list(client.chat(model=TOOL_MODEL, messages=few_shot(), tools=TOOLS, options=GREEDY, stream=True))
    assert chunks[-1].done and chunks[-1].done_reason == "stop"
    calls = [c for ch in chunks for c in (ch.message.tool_calls or [])]
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", {"city": "Tokyo"})]
    assert "".join(ch.message.content for ch in chunks) == ""  # nothing of the <tool_call> text leaks
    # Raw NDJSON: one line carries the call, the last line is the done line.
    s, ct, body = post(server.url + "/api/chat", {"model": TOOL_MODEL, "messages": few_shot(), "tools": TOOLS,
                                                  "options": GREEDY})
    lines = ndjson(body)
    assert ct.startswith("application/x-ndjson")
    assert [l["message"]["tool_calls"][0]["function"]["name"] for l in lines if "tool_calls" in l["message"]] == ["get_weather"]
    assert lines[-1]["done"] is True and "tool_calls" not in lines[-1]["message"]


def test_other_city_other_arguments(client):
    r = client.chat(model=TOOL_MODEL, messages=few_shot("Berlin"), tools=TOOLS, options=GREEDY)
    assert [(c.function.name, c.function.arguments) for c in r.message.tool_calls] == [("get_weather", {"city": "Berlin"})]


def test_openai_chat_tool_calls(oa):
    r = oa.chat.completions.create(model=TOOL_MODEL, messages=few_shot_openai(), tools=TOOLS, tool_choice="auto",
                                   temperature=0, max_tokens=40)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    (tc,) = choice.message.tool_calls
    assert tc.type == "function" and tc.id.startswith("call_")
    assert tc.function.name == "get_weather" and json.loads(tc.function.arguments) == {"city": "Tokyo"}
    assert not choice.message.content


def test_openai_chat_tool_calls_streamed(oa):
    chunks = list(oa.chat.completions.create(model=TOOL_MODEL, messages=few_shot_openai(), tools=TOOLS,
                                             temperature=0, max_tokens=40, stream=True))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) == 1
    assert deltas[0].index == 0 and deltas[0].id.startswith("call_") and deltas[0].type == "function"
    assert deltas[0].function.name == "get_weather" and json.loads(deltas[0].function.arguments) == {"city": "Tokyo"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ""


def prompt_tokens(server, messages, tools):
    """The prompt Python jinja2 renders from the template (as transformers sets it up), tokenized by the server."""
    text = hf_environment().from_string(TEMPLATE.read_text()).render(
        messages=messages, tools=tools, add_generation_prompt=True, bos_token="", eos_token="<|im_end|>")
    s, _, body = post(server.url + "/api/tokenize", {"model": TOOL_MODEL, "content": text})
    assert s == 200
    return len(json.loads(body)["tokens"])


def test_tool_results_reach_the_template(client, oa, server):
    """A call and its result in the history (role "tool", tool_call_id / tool_name), with a system message."""
    ollama_msgs = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 degrees, sunny", "tool_name": "get_weather"},
        {"role": "user", "content": "And is that warm?"},
    ]
    want = prompt_tokens(server, [{**m, "tool_calls": [{"type": "function", **tc} for tc in m["tool_calls"]]}
                                  if "tool_calls" in m else m for m in ollama_msgs], TOOLS)
    r = client.chat(model=TOOL_MODEL, messages=ollama_msgs, tools=TOOLS, options={"temperature": 0, "num_predict": 1})
    assert r.prompt_eval_count == want
    openai_msgs = [
        {"role": "developer", "content": "You are a weather bot."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_abc", "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18 degrees, sunny"},
        {"role": "user", "content": "And is that warm?"},
    ]
    r = oa.chat.completions.create(model=TOOL_MODEL, messages=openai_msgs, tools=TOOLS, temperature=0, max_tokens=1)
    assert r.usage.prompt_tokens == want
    # Without the tool list the prompt is shorter (no tools system block), so the list really was passed.
    r = oa.chat.completions.create(model=TOOL_MODEL, messages=openai_msgs, temperature=0, max_tokens=1)
    assert r.usage.prompt_tokens < want


def test_template_without_tools_is_400(client, oa, server):
    with pytest.raises(ollama.ResponseError) as e:
        client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=TOOLS)
    assert e.value.status_code == 400 and e.value.error == f'"{MODEL}" does not support tools'
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=TOOLS)
    assert "does not support tools" in str(e.value)
    # Without tools the same model chats as before.
    assert client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], options={"num_predict": 2}).done


def test_bad_tool_requests(server):
    url = server.url + "/v1/chat/completions"
    s, _, body = post(url, {"model": TOOL_MODEL, "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS,
                            "tool_choice": 5})
    assert s == 400 and "tool_choice" in json.loads(body)["error"]["message"]
    s, _, body = post(url, {"model": TOOL_MODEL, "messages": [
        {"role": "assistant", "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
        {"role": "user", "content": "hi"}]})
    assert s == 400 and json.loads(body)["error"]["message"] == "invalid tool call arguments"
    s, _, body = post(server.url + "/api/chat", {"model": TOOL_MODEL, "messages": [{"role": "user", "content": "hi"}],
                                                 "tools": "get_weather"})
    assert s == 400 and "cannot unmarshal string" in json.loads(body)["error"]
