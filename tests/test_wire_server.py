"""The wire fixture serves recorded provider traffic to the REAL SDKs.

Success and 4xx bodies come from public cassettes (tests/fixtures/wire/).
The 429 / 5xx / 529 responses are NOT recordings: no public cassette has
them, so they are built from the providers' documented error shapes
(see the builders in wire_server.py).
"""

import json

import anthropic
import httpx2
import openai
import pytest

from wire_server import (
    Canned,
    anthropic_overloaded,
    anthropic_prompt_too_long,
    anthropic_rate_limit,
    canned_error,
    cassette,
    load_interactions,
    openai_context_length_exceeded,
    openai_rate_limit,
    openai_server_error,
    sse,
    sse_response,
)

_clients = []


@pytest.fixture(autouse=True)
def _close_clients():
    # Closing the SDK clients avoids ResourceWarnings for pooled sockets.
    yield
    while _clients:
        _clients.pop().close()


def _keep(client):
    _clients.append(client)
    return client


def oai(srv, **kw):
    return _keep(openai.OpenAI(base_url=srv.url + "/v1", api_key="test", max_retries=0, **kw))


def ant(srv, **kw):
    return _keep(anthropic.Anthropic(base_url=srv.url, api_key="test", max_retries=0, **kw))


def test_all_32_cassettes_load():
    from wire_server import WIRE_DIR
    files = sorted(p.relative_to(WIRE_DIR).as_posix() for p in WIRE_DIR.glob("*/*.yaml"))
    assert len(files) == 32
    for f in files:
        for inter in load_interactions(f):
            assert inter.status >= 200 and inter.body
            assert inter.decoded_body is not None  # gzip ones must decompress


def test_openai_chat_nonstream(wire_server):
    wire_server.queue_cassette("openai/chat_nonstream_basic.yaml")
    r = oai(wire_server).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Atlantic Ocean."
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (22, 3, 25)
    req = wire_server.requests[0]
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer test"
    assert req.json["model"] == "gpt-4o-mini"


def test_openai_raw_response_keeps_ratelimit_headers(wire_server):
    # The recording has BOTH Transfer-Encoding: chunked and a content-length
    # (765) that no longer matches the re-indented body (764 bytes).
    wire_server.queue_cassette("openai/chat_nonstream_basic.yaml")
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml", chunked=False))
    c = oai(wire_server)
    raw = c.chat.completions.with_raw_response.create(model="m", messages=[])
    assert raw.headers["x-ratelimit-remaining-tokens"] == "199967"
    assert raw.headers["x-request-id"] == "req_9ffb423d1a2adc1cae1985b014fcdb61"
    assert raw.headers["transfer-encoding"] == "chunked" and "content-length" not in raw.headers
    raw = c.chat.completions.with_raw_response.create(model="m", messages=[])
    assert int(raw.headers["content-length"]) == len(raw.http_response.content) == 764


def test_openai_chat_stream_with_usage(wire_server):
    wire_server.queue_cassette("openai/chat_stream_include_usage.yaml")
    chunks = list(oai(wire_server).chat.completions.create(
        model="gpt-4o-mini", messages=[], stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Southern")
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens > 0
    assert wire_server.requests[0].json["stream"] is True


def test_anthropic_messages_nonstream(wire_server):
    wire_server.queue_cassette("anthropic/messages_nonstream_basic.yaml")
    c = ant(wire_server)
    r1 = c.messages.create(model="claude-3-5-haiku-latest", max_tokens=10, messages=[])
    r2 = c.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[])
    assert r1.content[0].text == "foo" and r1.model == "claude-3-5-haiku-20241022"
    assert (r1.usage.input_tokens, r1.usage.output_tokens) == (12, 4)
    assert r2.model == "claude-haiku-4-5-20251001"
    assert [r.path for r in wire_server.requests] == ["/v1/messages"] * 2
    # anthropic 2.x sends api_key as a Bearer token, not x-api-key like the recordings.
    req = wire_server.requests[0]
    assert req.headers["authorization"] == "Bearer test" and "x-api-key" not in req.headers


def test_anthropic_stream_event_by_event(wire_server):
    wire_server.queue_cassette("anthropic/messages_stream_text.yaml")
    events = list(ant(wire_server).messages.create(
        model="m", max_tokens=100, messages=[], stream=True))
    types = [e.type for e in events]
    assert types[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "ping" not in types  # the SDK swallows ping events
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert "Captain" in text
    assert events[-2].usage.output_tokens > 0


def test_anthropic_stream_helper(wire_server):
    wire_server.queue_cassette("anthropic/messages_stream_text.yaml")
    with ant(wire_server).messages.stream(model="m", max_tokens=100, messages=[]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert final.content[0].text == text and final.stop_reason == "end_turn"


def test_anthropic_gzip_roundtrip(wire_server):
    inters = load_interactions("anthropic/messages_tool_use_nonstream_roundtrip_gzip.yaml")
    assert inters[0].header("Content-Encoding") == "gzip" and inters[0].body[:2] == b"\x1f\x8b"
    wire_server.queue_cassette("anthropic/messages_tool_use_nonstream_roundtrip_gzip.yaml")
    c = ant(wire_server)
    r = c.messages.create(model="claude-sonnet-4-0", max_tokens=100, messages=[])
    assert r.stop_reason == "tool_use"
    tools = [b for b in r.content if b.type == "tool_use"]
    assert [t.input["password"] for t in tools] == ["mellon", "radiance"]
    r2 = c.messages.create(model="claude-sonnet-4-0", max_tokens=100, messages=[])
    assert "Welcome to Moria!" in r2.content[0].text


def test_anthropic_gzip_sse_stream(wire_server):
    wire_server.queue_cassette("anthropic/messages_structured_output_config_stream_gzip.yaml")
    events = list(ant(wire_server).messages.create(model="m", max_tokens=100, messages=[],
                                                   stream=True))
    assert events[0].type == "message_start" and events[-1].type == "message_stop"


def test_azure_deployments(wire_server):
    wire_server.queue_cassette("azure/chat_nonstream_deployments.yaml")
    c = _keep(openai.AzureOpenAI(azure_endpoint=wire_server.url, api_key="test",
                                 api_version="2024-08-01-preview", max_retries=0))
    r = c.chat.completions.create(model="test-azure-deployment", messages=[])
    assert r.choices[0].message.content == "Atlantic Ocean"
    assert r.usage.total_tokens == 26
    req = wire_server.requests[0]
    assert req.path == ("/openai/deployments/test-azure-deployment/chat/completions"
                        "?api-version=2024-08-01-preview")
    assert req.headers["api-key"] == "test"


def test_openai_429_builder(wire_server):
    wire_server.queue(openai_rate_limit(retry_after="7"))
    with pytest.raises(openai.RateLimitError) as ei:
        oai(wire_server).chat.completions.create(model="m", messages=[])
    e = ei.value
    assert e.status_code == 429 and e.code == "rate_limit_exceeded" and e.type == "requests"
    assert e.response.headers["retry-after"] == "7"
    assert e.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_openai_context_length_and_recorded_404(wire_server):
    wire_server.queue(openai_context_length_exceeded(),
                      *cassette("openai/error_404_model_not_found_chat.yaml"))
    c = oai(wire_server)
    with pytest.raises(openai.BadRequestError) as ei:
        c.chat.completions.create(model="m", messages=[])
    assert ei.value.code == "context_length_exceeded" and ei.value.param == "messages"
    with pytest.raises(openai.NotFoundError) as ei:
        c.chat.completions.create(model="m", messages=[])
    assert ei.value.code == "model_not_found"


def test_anthropic_429_and_prompt_too_long(wire_server):
    wire_server.queue(anthropic_rate_limit(retry_after="3"), anthropic_prompt_too_long())
    c = ant(wire_server)
    with pytest.raises(anthropic.RateLimitError) as ei:
        c.messages.create(model="m", max_tokens=1, messages=[])
    assert ei.value.response.headers["retry-after"] == "3"
    # Anthropic's SDK keeps the whole body; OpenAI's unwraps body["error"].
    assert ei.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.BadRequestError) as ei:
        c.messages.create(model="m", max_tokens=1, messages=[])
    assert "prompt is too long" in ei.value.body["error"]["message"]


@pytest.mark.parametrize("status, oai_cls, ant_cls", [
    (500, openai.InternalServerError, anthropic.InternalServerError),
    (502, openai.InternalServerError, anthropic.InternalServerError),
    (503, openai.InternalServerError, anthropic.ServiceUnavailableError),
    (529, openai.InternalServerError, anthropic.OverloadedError),
])
def test_5xx_exception_classes(wire_server, status, oai_cls, ant_cls):
    resp = anthropic_overloaded() if status == 529 else openai_server_error(status)
    wire_server.queue(resp, resp)
    with pytest.raises(oai_cls) as e1:
        oai(wire_server).chat.completions.create(model="m", messages=[])
    with pytest.raises(ant_cls) as e2:
        ant(wire_server).messages.create(model="m", max_tokens=1, messages=[])
    assert type(e1.value) is oai_cls and type(e2.value) is ant_cls
    assert e1.value.status_code == e2.value.status_code == status


def test_sdk_retries_consume_queue(wire_server):
    wire_server.queue(anthropic_overloaded(), *cassette("anthropic/messages_nonstream_basic.yaml"))
    c = ant(wire_server).with_options(max_retries=1)
    # retry-after is absent on 529, so the SDK backs off ~0.5s before retrying.
    assert c.messages.create(model="m", max_tokens=1, messages=[]).content[0].text == "foo"
    assert [r.headers["x-stainless-retry-count"] for r in wire_server.requests] == ["0", "1"]


def test_empty_queue_fails_loudly(wire_server):
    with pytest.raises(openai.InternalServerError, match="no response queued"):
        oai(wire_server).chat.completions.create(model="m", messages=[])


def test_handmade_sse(wire_server):
    body = sse([(None, json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 0,
                                   "model": "m", "choices": [{"index": 0, "delta":
                                   {"content": "hi"}, "finish_reason": None}]})),
                (None, "[DONE]")])
    assert body.endswith(b"data: [DONE]\n\n")
    wire_server.queue(sse_response([]), Canned(200, {"content-type": "text/event-stream"}, body))
    c = oai(wire_server)
    assert list(c.chat.completions.create(model="m", messages=[], stream=True)) == []
    chunks = list(c.chat.completions.create(model="m", messages=[], stream=True))
    assert chunks[0].choices[0].delta.content == "hi"


def test_canned_error_custom_headers(wire_server):
    wire_server.queue(canned_error(403, {"error": {"message": "nope", "type": "x"}},
                                   [("set-cookie", "a=1"), ("set-cookie", "b=2")]))
    with pytest.raises(openai.PermissionDeniedError) as ei:
        oai(wire_server).chat.completions.create(model="m", messages=[])
    assert ei.value.response.headers.get_list("set-cookie") == ["a=1", "b=2"]


# --- cut streams: see Canned.cut_after docstring -------------------------

@pytest.mark.parametrize("chunked", [False, True])
def test_cut_openai_stream_raises_after_partial_chunks(wire_server, chunked):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml",
                                cut_after=700, chunked=chunked))
    got = []
    with pytest.raises(openai.APIConnectionError) as ei:
        for ch in oai(wire_server).chat.completions.create(model="m", messages=[], stream=True):
            got.append(ch)
    assert len(got) >= 1  # what arrived before the cut was delivered
    assert isinstance(ei.value.__cause__, httpx2.RemoteProtocolError)


@pytest.mark.parametrize("chunked", [False, True])
def test_cut_anthropic_stream_raises_a_connection_error(wire_server, chunked):
    # anthropic < 2.17 let the bare httpx2 error escape mid-stream; newer releases wrap it like
    # openai does. ChatSession maps both (test_session_errors), so either is accepted here.
    wire_server.queue(*cassette("anthropic/messages_stream_text.yaml",
                                cut_after=700, chunked=chunked))
    got = []
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)) as ei:
        for ev in ant(wire_server).messages.create(model="m", max_tokens=1, messages=[],
                                                   stream=True):
            got.append(ev.type)
    assert got == ["message_start", "content_block_start"]
    if isinstance(ei.value, anthropic.APIConnectionError):
        assert isinstance(ei.value.__cause__, httpx2.RemoteProtocolError)


def test_cut_nonstream_is_connection_error(wire_server):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml", cut_after=100),
                      *cassette("anthropic/messages_nonstream_basic.yaml", cut_after=100)[:1])
    with pytest.raises(openai.APIConnectionError):
        oai(wire_server).chat.completions.create(model="m", messages=[])
    with pytest.raises(anthropic.APIConnectionError):
        ant(wire_server).messages.create(model="m", max_tokens=1, messages=[])


def test_async_clients(wire_server):
    import asyncio

    async def go():
        async with openai.AsyncOpenAI(base_url=wire_server.url + "/v1", api_key="test",
                                      max_retries=0) as oc, \
                anthropic.AsyncAnthropic(base_url=wire_server.url, api_key="test",
                                         max_retries=0) as ac:
            stream = await oc.chat.completions.create(model="m", messages=[], stream=True)
            chunks = [c async for c in stream]
            msg = await ac.messages.create(model="m", max_tokens=1, messages=[])
            return chunks, msg

    wire_server.queue_cassette("openai/chat_stream_include_usage.yaml")
    wire_server.queue_cassette("anthropic/messages_tool_use_nonstream_roundtrip_gzip.yaml")
    chunks, msg = asyncio.run(go())
    assert chunks[-1].usage.total_tokens > 0 and msg.stop_reason == "tool_use"


def test_provider_env_is_cleaned():
    import os
    assert "OPENAI_API_KEY" not in os.environ and "ANTHROPIC_BASE_URL" not in os.environ
    assert os.environ["GLWORK_MODE"] == "live"
