#!/usr/bin/env python3
"""Golden renders of real chat templates, made with jinja2 3.1.6 configured exactly as
Hugging Face transformers' apply_chat_template configures it (see
transformers/utils/chat_template_utils.py: ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and loopcontrols; tojson = json.dumps(ensure_ascii=False);
globals raise_exception, strftime_now, dict, namespace; reasoning-field aliasing).

strftime_now is pinned to FIXED_TIME (formatted as UTC) so renders are reproducible; the
C++ test pins ChatTemplateInputs::fixed_time to the same value.

Writes tests/chat_template/data/conversations.json and
tests/chat_template/data/golden/<template>.json. Usage:
    python3 tools/gen_chat_template_goldens.py [--shared /work/shared]
"""
import argparse
import datetime
import json
import pathlib

import jinja2
import jinja2.ext
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "chat_template" / "data"
FIXED_TIME = 1753531200  # 2025-07-26 12:00:00 UTC
BOS = "<|bos|>"
EOS = "<|eos|>"


def make_environment():
    """Mirrors transformers' _cached_compile_jinja_template (without the
    {% generation %} tracker, which renders its body unchanged)."""

    class GenerationTag(jinja2.ext.Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

        def _render(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.fromtimestamp(FIXED_TIME, datetime.timezone.utc).strftime(format)

    class TemplateDict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError("underscore-prefixed namespace attribute")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env


def alias_reasoning_fields(chat):
    """transformers' _alias_reasoning_fields."""
    out = []
    for message in chat:
        reasoning = next((message[k] for k in ("reasoning_content", "thinking", "reasoning")
                          if message.get(k) is not None), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def render(env, source, conversation):
    """One render as apply_chat_template(tokenize=False) does it; returns a golden entry."""
    try:
        template = env.from_string(source)
        kwargs = dict(conversation.get("extra", {}))
        text = template.render(
            messages=alias_reasoning_fields(json.loads(json.dumps(conversation["messages"]))),
            tools=conversation.get("tools"),
            documents=conversation.get("documents"),
            add_generation_prompt=conversation.get("add_generation_prompt", False),
            bos_token=BOS,
            eos_token=EOS,
            **kwargs)
        return {"output": text}
    except Exception as e:  # the C++ side must throw as well
        return {"error": f"{type(e).__name__}: {e}"}


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
                "days": {"type": "integer", "description": "Forecast days", "default": 1},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_web",
        "description": "Search the web and return the top results.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Search query"},
                "max_results": {"type": "number", "description": "How many results", "default": 5.0},
                "safe": {"type": "boolean", "description": "Safe search"},
            },
            "required": ["query"],
        },
    },
}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]


def tool_call(call_id, name, arguments, as_string):
    args = json.dumps(arguments, ensure_ascii=False) if as_string else arguments
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def tool_conversation(as_string):
    return [
        {"role": "system", "content": "You are a helpful assistant with tools."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "",
         "tool_calls": [tool_call("call00001", "get_weather", {"city": "Paris", "unit": "celsius"}, as_string)]},
        {"role": "tool", "tool_call_id": "call00001", "name": "get_weather",
         "content": "{\"temperature\": 22.5, \"condition\": \"sunny\"}"},
    ]


def conversations():
    sys_msg = {"role": "system", "content": "You are a concise assistant."}
    convs = [
        {"name": "single_user", "messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": True},
        {"name": "single_user_no_prompt", "messages": [{"role": "user", "content": "Hello!"}]},
        {"name": "system_user", "messages": [sys_msg, {"role": "user", "content": "What is 2+2?"}],
         "add_generation_prompt": True},
        {"name": "multi_turn", "messages": [
            sys_msg, {"role": "user", "content": "Hi, who are you?"},
            {"role": "assistant", "content": "I am an assistant."},
            {"role": "user", "content": "Tell me a joke."}], "add_generation_prompt": True},
        {"name": "multi_turn_closed", "messages": [
            {"role": "user", "content": "Name a color."}, {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another one."}, {"role": "assistant", "content": "Green."}]},
        {"name": "tools_given", "messages": [sys_msg, {"role": "user", "content": "What's the weather in Paris?"}],
         "tools": TOOLS, "add_generation_prompt": True},
        {"name": "tools_no_system", "messages": [{"role": "user", "content": "Search for cats."}],
         "tools": TOOLS, "add_generation_prompt": True},
        {"name": "tool_call_dict_args", "messages": tool_conversation(False), "tools": TOOLS,
         "add_generation_prompt": True},
        {"name": "tool_call_string_args", "messages": tool_conversation(True), "tools": TOOLS,
         "add_generation_prompt": True},
        {"name": "parallel_tool_calls", "messages": [
            {"role": "user", "content": "Weather in Paris and Tokyo, and search news."},
            {"role": "assistant", "content": "", "tool_calls": [
                tool_call("call00001", "get_weather", {"city": "Paris"}, False),
                tool_call("call00002", "get_weather", {"city": "Tokyo", "days": 3}, False),
                tool_call("call00003", "search_web", {"query": "news", "max_results": 2.0, "safe": True}, False)]},
            {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "18 C"},
            {"role": "tool", "tool_call_id": "call00002", "name": "get_weather", "content": "25 C"},
            {"role": "tool", "tool_call_id": "call00003", "name": "search_web", "content": "No news."},
            {"role": "assistant", "content": "Paris 18 C, Tokyo 25 C, no news."}], "tools": TOOLS},
        {"name": "content_parts", "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": "the sky."}]}],
         "add_generation_prompt": True},
        {"name": "reasoning_history", "messages": [
            {"role": "user", "content": "What is 3*7?"},
            {"role": "assistant", "content": "21", "reasoning_content": "3 times 7 is 21."},
            {"role": "user", "content": "And 4*5?"}], "add_generation_prompt": True},
        {"name": "reasoning_last", "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris.", "reasoning_content": "The capital is Paris."}]},
        {"name": "unicode", "messages": [
            {"role": "user", "content": "¿Qué tal? 你好 🌍 — naïve café"},
            {"role": "assistant", "content": "Très bien! 很好 😀"},
            {"role": "user", "content": "Ελληνικά и русский"}], "add_generation_prompt": True},
        {"name": "thinking_disabled", "messages": [{"role": "user", "content": "Quick answer: 1+1?"}],
         "add_generation_prompt": True, "extra": {"enable_thinking": False}},
        {"name": "whitespace_and_specials", "messages": [
            {"role": "user", "content": "  padded with\nnewlines\n\n  "},
            {"role": "assistant", "content": " He said \"hi\" and {{ not a tag }} {% nor this %} \\path\\ 'q' "},
            {"role": "user", "content": "tabs\tand <html> & stuff"}], "add_generation_prompt": True},
        {"name": "system_only", "messages": [sys_msg], "add_generation_prompt": True},
        {"name": "tool_call_null_content", "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": None,
             "tool_calls": [tool_call("call00009", "get_weather", {"city": "Oslo"}, False)]},
            {"role": "tool", "tool_call_id": "call00009", "name": "get_weather", "content": "-3 C"},
            {"role": "assistant", "content": "It is -3 C in Oslo."},
            {"role": "user", "content": "Thanks!"}], "tools": TOOLS, "add_generation_prompt": True},
        {"name": "documents_rag", "messages": [{"role": "user", "content": "Summarize the documents."}],
         "add_generation_prompt": True, "documents": [
             {"title": "Doc one", "text": "Cats sleep a lot."},
             {"title": "Doc two", "text": "Dogs like walks — 毎日."}]},
        {"name": "tool_call_nested_unicode_args", "messages": [
            {"role": "user", "content": "Plan a trip to Zürich."},
            {"role": "assistant", "content": "", "tool_calls": [tool_call(
                "call00004", "search_web",
                {"query": "Zürich hôtels", "filters": {"stars": [4, 5], "price": 120.5, "pets": None}}, True)]},
            {"role": "tool", "tool_call_id": "call00004", "name": "search_web", "content": "[\"Hotel Baur\"]"}],
         "tools": TOOLS, "add_generation_prompt": True},
    ]
    return convs


def template_sources(shared):
    sources = {}
    for path in sorted((shared / "fixtures" / "chat-templates").glob("*.jinja")):
        sources[path.stem] = path.read_text()
    for path in sorted((shared / "fixtures" / "tokenizers" / "hf").glob("*/tokenizer_config.json")):
        template = json.loads(path.read_text()).get("chat_template")
        if isinstance(template, str):
            sources["hf-" + path.parent.name] = template
    return sources


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = parser.parse_args()
    env = make_environment()
    convs = conversations()
    (DATA / "golden").mkdir(parents=True, exist_ok=True)
    with open(DATA / "conversations.json", "w") as f:
        json.dump({"fixed_time": FIXED_TIME, "bos_token": BOS, "eos_token": EOS, "conversations": convs},
                  f, ensure_ascii=False, indent=1)
    for name, source in template_sources(pathlib.Path(args.shared)).items():
        results = {c["name"]: render(env, source, c) for c in convs}
        with open(DATA / "golden" / f"{name}.json", "w") as f:
            json.dump({"template": name, "results": results}, f, ensure_ascii=False, indent=1)
        errors = sum("error" in r for r in results.values())
        print(f"{name}: {len(results)} renders, {errors} errors")


if __name__ == "__main__":
    main()
