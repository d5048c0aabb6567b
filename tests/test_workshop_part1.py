"""Every code block of Part 1 of the workshop text runs unchanged (import path aside) against a
local server that answers in the providers' recorded wire formats."""
import json
import re
from pathlib import Path

import pytest

from wire_server import Canned, cassette

TEXT = (Path(__file__).parents[1] / "docs" / "workshop-2.md").read_text()
PART1 = TEXT.split("## Part 1")[1].split("## Part 2")[0]
BLOCKS = [b.replace("GL_COMMONS.infrastructure.llm", "glwork.llm")
          for b in re.findall(r"```python\n(.*?)```", PART1, re.S)]
PRELUDE = "from glwork.llm import ChatSession\n"


def oa_reply(text="Carbon accounting is the measurement of emissions.", tool=None):
    rec = json.loads(cassette("openai/chat_nonstream_basic.yaml")[0].body)
    msg = rec["choices"][0]["message"]
    msg["content"] = text
    if tool:
        msg["content"], rec["choices"][0]["finish_reason"] = None, "tool_calls"
        msg["tool_calls"] = [{"id": "call_1", "type": "function",
                              "function": {"name": tool[0], "arguments": json.dumps(tool[1])}}]
    return Canned(200, {"content-type": "application/json"}, json.dumps(rec).encode())


def an_reply(text="Hello! How can I help?"):
    rec = json.loads(cassette("anthropic/messages_nonstream_basic.yaml")[0].body)
    rec["content"][0]["text"] = text
    return Canned(200, {"content-type": "application/json"}, json.dumps(rec).encode())


@pytest.fixture
def env(wire_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key-000")
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key-000")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", wire_server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "test-azure-key-000")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", wire_server.url)
    return wire_server


def run(block, **extra):
    ns = dict(extra)
    exec(compile(PRELUDE + block, "<workshop>", "exec"), ns)
    return ns


def test_part1_has_the_expected_blocks():
    assert len(BLOCKS) == 7 and "stream_message" in BLOCKS[3] and "functions" in BLOCKS[4]


def test_basic_usage(env, capsys):
    env.queue(oa_reply())
    run(BLOCKS[1])
    out = capsys.readouterr().out
    assert "Tokens used: 25" in out and "Cost: $0.000005" in out and "Response time:" in out
    assert env.requests[0].json["model"] == "gpt-4" and env.requests[0].json["max_tokens"] == 1000


def test_conversation_context(env, capsys):
    env.queue(oa_reply("Scope 3 covers the value chain."), oa_reply("Business travel."))
    run(BLOCKS[2])
    out = capsys.readouterr().out
    assert "user: What is Scope 3 emissions?" in out and "assistant: Business travel." in out
    assert len(env.requests[1].json["messages"]) == 3


def test_streaming(env, capsys):
    env.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    run(BLOCKS[3])
    assert capsys.readouterr().out.strip()


def test_function_calling(env):
    env.queue(oa_reply(tool=("calculate_emissions", {"distance_km": 500, "transport_mode": "car"})))
    calls = []
    ns = run(BLOCKS[4], calculate_emissions=lambda **kw: calls.append(kw) or {"co2_kg": 85.0})
    assert calls == [{"distance_km": 500, "transport_mode": "car"}] and ns["result"] == {"co2_kg": 85.0}


def test_json_mode(env):
    env.queue(oa_reply('{"company": "Tesla", "year": 2023, "emissions": 1200000}'))
    ns = run(BLOCKS[5])
    assert ns["data"] == {"company": "Tesla", "year": 2023, "emissions": 1200000}


def test_multi_provider(env, capsys):
    env.queue(oa_reply("Hi from OpenAI"), an_reply("Hi from Anthropic"), oa_reply("Hi from Azure"))
    run(BLOCKS[6])
    out = capsys.readouterr().out
    assert "openai: Hi from OpenAI" in out and "anthropic: Hi from Anthropic" in out and "azure: Hi from Azure" in out
    assert env.requests[1].path == "/v1/messages"
    assert env.requests[2].path.startswith("/openai/deployments/claude-3-opus/chat/completions")
