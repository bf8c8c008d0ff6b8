"""llmkit's chat-template renderer against Python jinja2, set up exactly as Hugging Face's apply_chat_template
sets it up (transformers' _compile_jinja_template: ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True), the loopcontrols extension and the {% generation %} tag, its own tojson, raise_exception
and strftime_now; tools and documents always passed). Every real template in templates/ is rendered over
several conversations; the outputs must be equal, or both must fail — and when the template raises, llmkit's
error carries its message."""
import json
import subprocess
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from conftest import BIN

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render(template_path, context_path):
    """`llmkit dev chat-template`; stdout decoded without newline translation (the outputs hold \r\n)."""
    p = subprocess.run([str(BIN), "dev", "chat-template", "--template", str(template_path), "--context", str(context_path)],
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


class RaisedByTemplate(Exception):
    pass


class GenerationTag(jinja2.ext.Extension):
    """Hugging Face's AssistantTracker without its index bookkeeping: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def hf_environment():
    def raise_exception(message):
        raise RaisedByTemplate(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city, \"quoted\" & <tagged>",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Adds two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number", "description": "First addend"},
                                                        "b": {"type": "integer", "description": "Second addend", "default": 0}},
                       "required": ["a", "b"]},
        "return": {"type": "number"}}},
]

TRICKY = ("He said \"hi\" and 'bye'.\n\n  Indented line\ttab\r\nWindows line; Unicode: Zürich, 東京, emoji 🦙; "
          "literal {{ braces }} and {% tags %} and {# comment #}  \n")

CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system_only": [{"role": "system", "content": "Only a system prompt."}],
    "system_user": [{"role": "system", "content": "You are a terse assistant."},
                    {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                   {"role": "user", "content": "Tell me a joke."}, {"role": "assistant", "content": "Why did the llama cross the road?"},
                   {"role": "user", "content": "Why?"}],
    "system_multi_turn": [{"role": "system", "content": "  Be kind.  "}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": " Hello "}, {"role": "user", "content": "Bye"}],
    "tricky_content": [{"role": "system", "content": TRICKY}, {"role": "user", "content": TRICKY},
                       {"role": "assistant", "content": TRICKY}, {"role": "user", "content": "  " + TRICKY}],
    "empty_content": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""},
                      {"role": "user", "content": " "}],
    # Bad role orders: templates that check them must raise (with their own message), others render.
    "two_users": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    "assistant_first": [{"role": "assistant", "content": "I start."}, {"role": "user", "content": "Odd."}],
    "tool_round_trip": [
        {"role": "system", "content": "Use tools when useful."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call12345", "type": "function", "function": {
            "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"},
        {"role": "assistant", "content": "It is 21.5 °C and clear in Paris."},
        {"role": "user", "content": "Thanks"},
    ],
    # OpenAI-style tool calls: arguments as a JSON string (some templates concatenate them as text).
    "tool_round_trip_string_args": [
        {"role": "user", "content": "Add 2 and 3, then 4 and 5."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "callAAAAA", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 2, \"b\": 3}"}},
            {"id": "callBBBBB", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 4, \"b\": 5}"}}]},
        {"role": "tool", "tool_call_id": "callAAAAA", "content": "5"},
        {"role": "tool", "tool_call_id": "callBBBBB", "content": "9"},
        {"role": "assistant", "content": "<think>easy</think>5 and 9."},
    ],
    "unknown_role": [{"role": "user", "content": "Hi"}, {"role": "critic", "content": "Meh."}],
}


def contexts(source):
    """Contexts to render `source` with: every conversation × add_generation_prompt, with tools where the
    template reads them, and Llama 3.1's builtin tools / date variables where it reads those."""
    uses_tools = "tools" in source
    for name, messages in CONVERSATIONS.items():
        for add_generation_prompt in (True, False):
            for tools in ([None, TOOLS] if uses_tools else [None]):
                ctx = {"messages": messages, "add_generation_prompt": add_generation_prompt,
                       "bos_token": "<s>", "eos_token": "</s>", "tools": tools, "documents": None}
                if "datetime" in source:  # firefunction-v2 reads these two (llama.cpp passes them)
                    ctx.update(functions=json.dumps(TOOLS, indent=2), datetime="2025-01-01 12:00")
                yield f"{name}/gen={add_generation_prompt}/tools={tools is not None}", ctx
    if "builtin_tools" in source:
        yield "builtin_tools", {"messages": CONVERSATIONS["tool_round_trip"], "add_generation_prompt": True,
                                "bos_token": "<s>", "eos_token": "</s>", "tools": TOOLS, "documents": None,
                                "builtin_tools": ["get_weather", "code_interpreter"], "date_string": "1 Jan 2025",
                                "tools_in_user_message": False}
    if "enable_thinking" in source or "thinking" in source:
        for flag in (True, False):
            for name in ("multi_turn", "tool_round_trip_string_args"):
                yield f"thinking={flag}/{name}", {"messages": CONVERSATIONS[name], "add_generation_prompt": True,
                                                  "bos_token": "<s>", "eos_token": "</s>", "tools": None, "documents": None,
                                                  "enable_thinking": flag, "thinking": flag}
    if "documents" in source:
        yield "documents", {"messages": CONVERSATIONS["system_user"], "add_generation_prompt": True,
                            "bos_token": "<s>", "eos_token": "</s>", "tools": TOOLS, "documents": [
                                {"doc_id": 1, "title": "Tides", "text": "The tide is high."},
                                {"doc_id": 2, "title": "Moon", "text": "The moon pulls the sea. \"Quoted\"."}]}
    yield "without_tools_variable", {"messages": CONVERSATIONS["system_user"], "add_generation_prompt": True,
                                     "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}


TEMPLATE_FILES = sorted(TEMPLATES.glob("*.jinja"))


def test_fixtures_present():
    names = {p.stem for p in TEMPLATE_FILES}
    for required in ["HuggingFaceTB-SmolLM2-135M-Instruct", "Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.3-70B-Instruct",
                     "mistralai-Mistral-Nemo-Instruct-2407", "google-gemma-2-2b-it", "microsoft-Phi-3.5-mini-instruct"]:
        assert required in names


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.stem)
def test_template_matches_jinja2(path, tmp_path):
    source = path.read_text()
    template = hf_environment().from_string(source)
    failures = []
    rendered = raised = 0
    for case, ctx in contexts(source):
        try:
            want, want_error = template.render(**ctx), None
        except RaisedByTemplate as e:
            want, want_error = None, str(e)
        except Exception as e:  # jinja2 itself failed (undefined attribute, type error …): llmkit must fail too
            want, want_error = None, ""
        ctx_file = tmp_path / "context.json"
        ctx_file.write_text(json.dumps(ctx, ensure_ascii=False))
        code, out, err = render(path, ctx_file)
        if want_error is None:
            rendered += 1
            if code != 0:
                failures.append(f"{case}: llmkit failed: {err.strip()}")
            elif out != want:
                failures.append(f"{case}:\n  jinja2: {want!r}\n  llmkit: {out!r}")
        else:
            raised += 1
            if code == 0:
                failures.append(f"{case}: jinja2 raised {want_error!r} but llmkit rendered {out!r}")
            elif want_error not in err:
                failures.append(f"{case}: llmkit's error {err.strip()!r} lacks the template's message {want_error!r}")
    assert not failures, f"{path.name}: {len(failures)} mismatches\n" + "\n".join(failures[:10])
    assert rendered > 0


def test_raise_exception_message_reaches_the_user(tmp_path):
    """Gemma rejects a system message with raise_exception; the CLI prints that message and fails."""
    ctx = tmp_path / "context.json"
    ctx.write_text(json.dumps({"messages": CONVERSATIONS["system_user"], "add_generation_prompt": True,
                               "bos_token": "<bos>", "eos_token": "<eos>"}))
    code, out, err = render(TEMPLATES / "google-gemma-2-2b-it.jinja", ctx)
    assert code != 0 and out == ""
    assert "System role not supported" in err


def test_smollm2_template_from_the_gguf(smollm2, tmp_path):
    """The SmolLM2 fixture is the template stored in the real GGUF, byte for byte."""
    from gguf import GGUFReader

    field = GGUFReader(str(smollm2)).fields["tokenizer.chat_template"]
    stored = bytes(field.parts[field.data[0]]).decode()
    assert stored == (TEMPLATES / "HuggingFaceTB-SmolLM2-135M-Instruct.jinja").read_text()
