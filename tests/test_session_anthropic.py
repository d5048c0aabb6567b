"""ChatSession on the real `anthropic` SDK, against real recorded Anthropic traffic."""
import json

import pytest

from glwork.llm import ChatSession, LLMError
from wire_server import Canned, cassette, sse_response


def session(srv, **kw):
    kw.setdefault("model", "claude-3-5-haiku-20241022")
    return ChatSession(provider="anthropic", base_url=srv.url, api_key="test-key-0000", **kw)


def test_plain_reply(wire_server):
    wire_server.queue(cassette("anthropic/messages_nonstream_basic.yaml")[0])
    s = session(wire_server, system_message="Be brief.", temperature=0.7)
    r = s.send_message("Say foo")
    assert r == "foo" and r.model == "claude-3-5-haiku-20241022" and r.provider == "anthropic"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (12, 4) and r.finish_reason == "stop"
    assert r.cost == pytest.approx((12 * 0.80 + 4 * 4.00) / 1e6)
    req = wire_server.requests[0]
    assert req.path == "/v1/messages" and req.headers["authorization"] == "Bearer test-key-0000"
    assert req.json["system"] == "Be brief." and req.json["max_tokens"] == 1024
    assert req.json["messages"] == [{"role": "user", "content": "Say foo"}]


def test_stream_events_give_text_and_usage(wire_server):
    wire_server.queue(*cassette("anthropic/messages_stream_text.yaml"))
    s = session(wire_server, model="claude-sonnet-4-5")
    chunks = list(s.stream_message("Two names for a pet pelican"))
    assert len(chunks) > 1
    stats = s.get_token_stats()
    assert stats["input_tokens"] > 0 and stats["output_tokens"] > 0
    assert s.get_conversation_history()[-1]["content"] == "".join(chunks)


def test_stream_cut_raises_llmerror_not_transport_error(wire_server):
    full = cassette("anthropic/messages_stream_text.yaml")[0]
    wire_server.queue(Canned(full.status, full.headers, full.body, cut_after=len(full.body) // 2))
    s = session(wire_server, max_retries=0)   # cut before the first text chunk: would be retried
    with pytest.raises(LLMError) as err:
        list(s.stream_message("x"))
    assert err.value.error_code == "stream_interrupted"
    assert s.get_conversation_history() == []


def test_tool_use_round_trip_in_anthropic_format(wire_server):
    wire_server.queue(*cassette("anthropic/messages_tool_use_nonstream_roundtrip_gzip.yaml"))
    s = session(wire_server, model="claude-sonnet-4-20250514", functions=[{
        "name": "secret_retrieval_tool", "description": "Get a secret",
        "parameters": {"type": "object", "properties": {"password": {"type": "string"}}}}])
    r = s.send_message("Secrets for mellon and radiance?")
    assert [c.arguments for c in r.tool_calls] == [{"password": "mellon"}, {"password": "radiance"}]
    assert r.finish_reason == "tool_calls" and r.usage.input_tokens == 416
    assert wire_server.requests[0].json["tools"][0]["input_schema"]["properties"] == {"password": {"type": "string"}}
    s.send_tool_result("Welcome to Moria!", tool_call_id=r.tool_calls[0].id)
    final = s.send_tool_result("Life before Death", tool_call_id=r.tool_calls[1].id)
    assert "Moria" in final
    msgs = wire_server.requests[1].json["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert [b["type"] for b in msgs[1]["content"]] == ["text", "tool_use", "tool_use"]
    assert [b["type"] for b in msgs[2]["content"]] == ["tool_result", "tool_result"]
    assert msgs[2]["content"][0]["tool_use_id"] == r.tool_calls[0].id


def test_tool_use_stream_with_input_json_deltas(wire_server):
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                           "model": "claude-3-5-haiku-20241022", "content": [], "stop_reason": None,
                           "stop_sequence": None, "usage": {"input_tokens": 50, "output_tokens": 1,
                                                            "cache_read_input_tokens": 20}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "calculate_emissions", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"distance_km": 5'}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta",
                                           "partial_json": '00, "transport_mode": "car"}'}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"output_tokens": 30}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    wire_server.queue(sse_response([(n, json.dumps(d)) for n, d in events]))
    s = session(wire_server, functions=[{"name": "calculate_emissions", "parameters": {"type": "object"}}])
    assert list(s.stream_message("500km by car")) == []
    hist = s.get_conversation_history()
    assert hist[-1]["tool_calls"][0]["arguments"] == {"distance_km": 500, "transport_mode": "car"}
    st = s.get_token_stats()
    assert (st["input_tokens"], st["output_tokens"], st["cached_tokens"]) == (70, 30, 20)


def test_json_mode_prefills_and_validates(wire_server):
    body = json.loads(cassette("anthropic/messages_nonstream_basic.yaml")[0].body)
    body["content"][0]["text"] = '"company": "Tesla", "year": 2023}'
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    s = session(wire_server, response_format={"type": "json_object"})
    r = s.send_message("Extract: Company: Tesla, Year: 2023")
    assert json.loads(r) == {"company": "Tesla", "year": 2023}
    req = wire_server.requests[0].json
    assert req["messages"][-1] == {"role": "assistant", "content": "{"} and "JSON" in req["system"]
    body["content"][0]["text"] = "Sure! Here it is"
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    with pytest.raises(LLMError) as err:
        s.send_message("again")
    assert err.value.error_code == "invalid_json"


def test_cache_read_tokens_are_counted_and_priced(wire_server):
    body = json.loads(cassette("anthropic/messages_nonstream_basic.yaml")[0].body)
    body["usage"].update(input_tokens=100, cache_read_input_tokens=1000, cache_creation_input_tokens=200,
                         output_tokens=10)
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    r = session(wire_server).send_message("x")
    assert (r.usage.input_tokens, r.usage.cached_tokens, r.usage.cache_creation_tokens) == (1300, 1000, 200)
    assert r.cost == pytest.approx((100 * 0.80 + 1000 * 0.08 + 200 * 0.80 * 1.25 + 10 * 4.0) / 1e6)


def test_json_schema_is_a_forced_tool_whose_input_is_the_reply(wire_server):
    # Messages has no response_format: the schema goes out as a tool the model must call, and the
    # tool's input (which the schema constrains) comes back as the reply's JSON text, not as a tool call.
    body = json.loads(cassette("anthropic/messages_nonstream_basic.yaml")[0].body)
    body["content"] = [{"type": "tool_use", "id": "toolu_01", "name": "record",
                        "input": {"company": "Tesla", "year": 2023, "emissions": 1200000}}]
    body["stop_reason"] = "tool_use"
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    schema = {"type": "object", "properties": {"emissions": {"type": "integer"}}, "required": ["emissions"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "record", "schema": schema}}
    s = session(wire_server, response_format=fmt)
    r = s.send_message("Extract: Company: Tesla, Year: 2023, Emissions: 1.2M tons")
    assert json.loads(r) == {"company": "Tesla", "year": 2023, "emissions": 1200000}
    assert r.tool_calls == [] and r.function_call is None and r.finish_reason == "stop"
    req = wire_server.requests[0].json
    assert req["tools"] == [{"name": "record", "description": "Give the answer as this tool's input.",
                             "input_schema": schema}]
    assert req["tool_choice"] == {"type": "tool", "name": "record"}
    assert req["messages"] == [{"role": "user", "content": "Extract: Company: Tesla, Year: 2023, Emissions: 1.2M tons"}]
    assert s.get_conversation_history()[-1]["content"] == str(r)   # the next turn sees the JSON it gave
