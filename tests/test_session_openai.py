"""ChatSession on the real `openai` SDK, against real recorded OpenAI traffic served on 127.0.0.1."""
import json
import math

import pytest

from glwork.llm import ChatResponse, ChatSession, LLMError
from wire_server import Canned, cassette, sse_response


def session(srv, **kw):
    kw.setdefault("model", "gpt-4o-mini")
    return ChatSession(provider="openai", base_url=srv.url + "/v1", api_key="test-key-0000", **kw)


def test_plain_reply_text_usage_and_cost(wire_server):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    s = session(wire_server, system_message="Answer briefly.", temperature=0.2, max_tokens=50)
    r = s.send_message("Which ocean lies between Europe and America?")
    assert isinstance(r, ChatResponse) and isinstance(r, str)
    assert r == "Atlantic Ocean." and str(r) == "Atlantic Ocean."
    assert r.provider == "openai" and r.model == "gpt-4o-mini-2024-07-18"
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (22, 3, 25)
    assert r.finish_reason == "stop" and r.function_call is None and r.latency_ms > 0
    # priced at gpt-4o-mini's table price: 22 in * 0.15 + 3 out * 0.60 per 1M
    assert r.cost == pytest.approx((22 * 0.15 + 3 * 0.60) / 1e6)
    assert s.get_token_count() == 25
    assert s.get_token_stats() == {"input_tokens": 22, "output_tokens": 3, "total_tokens": 25,
                                   "cached_tokens": 0, "calls": 1}
    assert s.get_cost() == pytest.approx(r.cost) and s.get_response_time() > 0
    body = wire_server.requests[0].json
    assert body["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50 and body["model"] == "gpt-4o-mini"
    assert wire_server.requests[0].headers["authorization"] == "Bearer test-key-0000"


def test_history_is_sent_and_returned(wire_server):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"), *cassette("openai/chat_json_object.yaml"))
    s = session(wire_server, system_message="sys")
    s.send_message("What is Scope 3 emissions?")
    s.send_message("Give me an example")
    sent = wire_server.requests[1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "Atlantic Ocean."
    hist = s.get_conversation_history()
    assert [h["role"] for h in hist] == ["system", "user", "assistant", "user", "assistant"]
    assert all(set(h) >= {"role", "content"} for h in hist)
    s.reset()
    assert s.get_conversation_history() == [{"role": "system", "content": "sys"}]
    assert s.get_token_count() == 25 + 45  # accounting survives reset


def test_streaming_yields_chunks_and_records_usage(wire_server):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    s = session(wire_server)
    chunks = list(s.stream_message("Answer in one word"))
    assert len(chunks) > 1 and "".join(chunks)
    body = wire_server.requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    stats = s.get_token_stats()
    assert stats["total_tokens"] > 0 and stats["input_tokens"] > 0
    assert s.get_conversation_history()[-1] == {"role": "assistant", "content": "".join(chunks)}
    assert s.get_cost() > 0


def test_stream_cut_midway_raises_and_keeps_no_half_turn(wire_server):
    full = cassette("openai/chat_stream_include_usage.yaml")[0]
    wire_server.queue(Canned(full.status, full.headers, full.body, cut_after=len(full.body) // 2))
    s = session(wire_server)
    got = []
    with pytest.raises(LLMError) as err:
        for c in s.stream_message("Answer in one word"):
            got.append(c)
    assert err.value.error_code == "stream_interrupted" and err.value.retryable
    assert s.get_conversation_history() == []
    [booked] = s.get_calls()         # what the cut stream may have cost: the prompt and the text received
    assert booked.status == "stream_interrupted" and booked.cost_is_estimate and booked.usage.output_tokens > 0


def test_stream_that_ends_without_finish_is_an_error(wire_server):
    wire_server.queue(sse_response([(None, json.dumps({
        "id": "x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "Hal"}, "finish_reason": None}]}))]))
    s = session(wire_server)
    with pytest.raises(LLMError) as err:
        list(s.stream_message("hi"))
    assert err.value.error_code == "stream_interrupted"
    assert s.get_conversation_history() == []


def test_function_call_parsed_and_tool_result_round_trip(wire_server):
    wire_server.queue(*cassette("openai/chat_tools_nonstream.yaml"), *cassette("openai/chat_nonstream_basic.yaml"))
    functions = [{"name": "get_delivery_date", "description": "Get the delivery date",
                  "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}]
    s = session(wire_server, functions=functions)
    r = s.send_message("When will order_12345 arrive?")
    assert r.function_call.name == "get_delivery_date"
    assert r.function_call.arguments == {"order_id": "order_12345"}
    assert r.finish_reason == "tool_calls"
    tools = wire_server.requests[0].json["tools"]
    assert tools == [{"type": "function", "function": functions[0]}]
    follow = s.send_tool_result({"date": "2024-12-24"})
    assert follow == "Atlantic Ocean."
    sent = wire_server.requests[1].json["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == r.function_call.id
    assert sent[-1] == {"role": "tool", "tool_call_id": r.function_call.id, "content": '{"date": "2024-12-24"}'}


def test_parallel_tool_calls_need_every_result(wire_server):
    first, second = cassette("openai/chat_tools_followup_roundtrip.yaml")
    wire_server.queue(first, second)
    s = session(wire_server, tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}}}}])
    r = s.send_message("Weather in NYC and London?")
    assert [c.arguments["location"] for c in r.tool_calls] == ["New York City", "London"]
    with pytest.raises(LLMError, match="tool_call_id"):
        s.send_tool_result("x")
    assert s.send_tool_result("25 and sunny", tool_call_id=r.tool_calls[0].id) is None
    final = s.send_tool_result("15 and raining", tool_call_id=r.tool_calls[1].id)
    assert "New York City" in final
    roles = [m["role"] for m in wire_server.requests[1].json["messages"]]
    assert roles == ["user", "assistant", "tool", "tool"]


def test_unanswered_tool_call_is_closed_before_next_message(wire_server):
    wire_server.queue(*cassette("openai/chat_tools_nonstream.yaml"), *cassette("openai/chat_nonstream_basic.yaml"))
    s = session(wire_server, functions=[{"name": "get_delivery_date", "parameters": {"type": "object"}}])
    s.send_message("When?")
    s.send_message("Never mind")
    sent = wire_server.requests[1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert "did not run" in sent[2]["content"]


def test_json_mode_parses_and_rejects_non_json(wire_server):
    wire_server.queue(*cassette("openai/chat_json_object.yaml"), *cassette("openai/chat_nonstream_basic.yaml"))
    s = session(wire_server, response_format={"type": "json_object"})
    r = s.send_message("Extract: Company: Tesla")
    assert json.loads(r) == {"reason": "Basic arithmetic rules"}
    assert wire_server.requests[0].json["response_format"] == {"type": "json_object"}
    with pytest.raises(LLMError) as err:
        s.send_message("again")
    assert err.value.error_code == "invalid_json"
    assert len(s.get_conversation_history()) == 2  # the bad reply was not stored


def test_refusal_is_the_reply(wire_server):
    wire_server.queue(*cassette("openai/chat_json_schema_refusal_gzip.yaml"))
    s = session(wire_server, model="gpt-4o")
    r = s.send_message("Do something bad")
    assert r.finish_reason == "refusal" and len(r) > 0


def test_cached_prompt_tokens_are_read_and_discounted(wire_server):
    rec = cassette("openai/chat_nonstream_basic.yaml")[0]
    body = json.loads(rec.body)
    body["usage"].update(prompt_tokens=2000, completion_tokens=10, total_tokens=2010)
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = 1536
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    s = session(wire_server)
    r = s.send_message("long prompt")
    assert r.usage.cached_tokens == 1536 and s.get_token_stats()["cached_tokens"] == 1536
    assert r.cost == pytest.approx((464 * 0.15 + 1536 * 0.075 + 10 * 0.60) / 1e6)


def test_unknown_model_cost_is_nan_with_one_warning(wire_server, caplog):
    rec = cassette("openai/chat_nonstream_basic.yaml")[0]
    body = json.loads(rec.body)
    body["model"] = "my-finetune-xyz"
    for _ in range(2):
        wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    s = session(wire_server, model="my-finetune-xyz")
    with caplog.at_level("WARNING"):
        s.send_message("a")
        s.send_message("b")
    assert math.isnan(s.get_cost())
    assert sum("No price known" in r.getMessage() for r in caplog.records) == 1


def test_reasoning_models_get_max_completion_tokens(wire_server):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    s = session(wire_server, model="o3-mini", temperature=0.5, max_tokens=100)
    s.send_message("hi")
    body = wire_server.requests[0].json
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body and "temperature" not in body


def test_context_manager_closes(wire_server):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    with session(wire_server) as s:
        s.send_message("hi")
    with pytest.raises(LLMError, match="closed"):
        s.send_message("again")
