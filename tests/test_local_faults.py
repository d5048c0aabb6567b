"""Scripted faults reach the real SDKs as the exceptions a real outage would raise.

No public cassette holds a 429, a 5xx or Anthropic's 529 (see fixtures/wire/README.md): the error
bodies are built from the providers' documented shapes. These tests use the extractive engine,
so they need no LLM and run in a few seconds.
"""
import http.client
import json
import time

import anthropic
import httpx2
import openai
import pytest

import glwork.local as local
from glwork.local.extractive import ExtractiveEngine
from glwork.local.faults import FaultPlan, normalize
from glwork.local.server import LocalServer

ASK = [{"role": "user",
        "content": "Context: Paris is the capital of France.\nQuestion: What is the capital of France?"}]
CLAUDE = "claude-haiku-4-5"


@pytest.fixture()
def server():
    srv = LocalServer(engine=ExtractiveEngine(why="test"), faults=FaultPlan()).start()
    yield srv
    srv.stop()


def clients(srv, retries=0, session=None):
    headers = {"x-glwork-session": session} if session else None
    return (openai.OpenAI(base_url=srv.url + "/v1", api_key="local", max_retries=retries,
                          default_headers=headers),
            anthropic.Anthropic(base_url=srv.url, api_key="local", max_retries=retries,
                                default_headers=headers))


def chat(oai):
    return oai.chat.completions.create(model="gpt-4o-mini", messages=ASK)


def message(claude):
    return claude.messages.create(model=CLAUDE, max_tokens=50, messages=ASK)


def test_rate_limit_has_retry_after(server):
    oai, claude = clients(server)
    server.faults.set([{"status": 429, "retry_after": 2}, {"status": 429, "retry_after": 2}])
    with pytest.raises(openai.RateLimitError) as e:
        chat(oai)
    assert e.value.response.headers["retry-after"] == "2"
    assert e.value.response.headers["retry-after-ms"] == "2000"
    assert e.value.code == "rate_limit_exceeded"
    with pytest.raises(anthropic.RateLimitError) as e:
        message(claude)
    assert e.value.response.headers["retry-after"] == "2"
    assert e.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(server, status):
    oai, claude = clients(server)
    server.faults.set([status, status])
    with pytest.raises(openai.InternalServerError) as e:
        chat(oai)
    assert e.value.status_code == status and e.value.type
    with pytest.raises(anthropic.InternalServerError) as e:
        message(claude)
    assert e.value.status_code == status and e.value.body["type"] == "error"


def test_overloaded_529(server):
    oai, claude = clients(server)
    server.faults.set([529, 529])
    with pytest.raises(anthropic.OverloadedError) as e:
        message(claude)
    assert e.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(openai.InternalServerError) as e:   # OpenAI paths say 503 instead
        chat(oai)
    assert e.value.status_code == 503


def test_timeout(server):
    oai, claude = clients(server)
    server.faults.set([{"fault": "timeout", "seconds": 3}] * 2)
    t = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        oai.chat.completions.create(model="m", messages=ASK, timeout=1.0)
    with pytest.raises(anthropic.APITimeoutError):
        claude.messages.create(model=CLAUDE, max_tokens=50, messages=ASK, timeout=1.0)
    assert time.perf_counter() - t < 4


def test_stop_is_not_blocked_by_a_held_request(server):
    oai, _ = clients(server)
    server.faults.set([{"fault": "timeout", "seconds": 60}])
    with pytest.raises(openai.APITimeoutError):
        oai.chat.completions.create(model="m", messages=ASK, timeout=0.5)
    t = time.perf_counter()
    server.stop()
    assert time.perf_counter() - t < 3


def test_cut_stream(server):
    oai, claude = clients(server)
    server.faults.set(["cut_stream", {"fault": "cut_stream", "after": 2}, "cut_stream"])
    got = []
    with pytest.raises((openai.APIConnectionError, httpx2.HTTPError)):
        for c in oai.chat.completions.create(model="m", messages=ASK, stream=True):
            got.append(c)
    assert got and not any(c.choices and c.choices[0].finish_reason for c in got)
    with pytest.raises((anthropic.APIConnectionError, httpx2.HTTPError)):
        with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=ASK) as s:
            list(s)
    # Not streaming: the JSON body is cut in half.
    with pytest.raises(openai.APIConnectionError):
        chat(oai)


def test_malformed_json(server):
    oai, claude = clients(server)
    server.faults.set(["malformed_json"] * 3)
    # Both SDKs let the decoder's error through (json.JSONDecodeError is a ValueError).
    with pytest.raises((ValueError, openai.APIResponseValidationError)):
        chat(oai)
    with pytest.raises((ValueError, anthropic.APIResponseValidationError)):
        message(claude)
    with pytest.raises(ValueError):
        list(oai.chat.completions.create(model="m", messages=ASK, stream=True))


def test_script_is_consumed_in_order_then_passes(server):
    oai, _ = clients(server)
    server.faults.set([429, "ok", 500])
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(chat(oai).model)
        except openai.APIStatusError as e:
            outcomes.append(e.status_code)
    assert outcomes == [429, "glwork-extractive-v1", 500, "glwork-extractive-v1"]
    stats = server.faults.snapshot()
    assert stats["injected"]["by_kind"] == {"429": 1, "ok": 1, "500": 1}
    assert stats["injected"]["total"] == 2 and [e["fault"] for e in stats["log"]] == ["429", "ok", "500"]


def test_sessions_are_isolated(server):
    a, _ = clients(server, session="alice")
    b, _ = clients(server, session="bob")
    plain, _ = clients(server)
    server.faults.set([503], session="alice")
    server.faults.set([429])                    # global: untagged and unscripted sessions
    with pytest.raises(openai.InternalServerError):
        chat(a)                                 # alice's own script
    assert chat(a).model == "glwork-extractive-v1"   # alice's script is spent: no global fault
    with pytest.raises(openai.RateLimitError):
        chat(b)                                 # bob has no script: the global one applies
    assert chat(plain).model == "glwork-extractive-v1"
    assert server.faults.snapshot()["injected"]["by_session"] == {"alice": 1, "bob": 1}


def test_retrying_sdks_recover(server):
    oai, claude = clients(server, retries=2)
    server.faults.set([{"status": 429, "retry_after": 0.1}, 503])
    assert chat(oai).choices[0].message.content
    server.faults.set([529, {"status": 429, "retry_after": 0.1}])
    assert message(claude).content[0].text
    assert server.faults.snapshot()["pending"]["global"] == []


def test_admin_route(server):
    def call(method, body=None, query=""):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request(method, "/_glwork/faults" + query, json.dumps(body) if body else None,
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        out = r.status, json.loads(r.read())
        conn.close()
        return out
    status, state = call("POST", {"faults": [503, "timeout"], "session": "s1"})
    assert status == 200 and state["pending"]["sessions"] == {"s1": ["503", "timeout"]}
    assert call("POST", {"faults": ["nonsense"]})[0] == 400
    call("DELETE", query="?session=s1")
    assert call("GET")[1]["pending"]["sessions"] == {}
    call("POST", {"faults": [502]})
    oai, _ = clients(server)
    with pytest.raises(openai.InternalServerError):
        chat(oai)
    assert call("GET")[1]["injected"]["by_kind"] == {"502": 1}
    assert call("POST", {"clear": True})[1]["injected"]["total"] == 0


def test_fault_specs_are_validated():
    assert normalize(429)["retry_after"] == 1 and normalize("503")["status"] == 503
    assert normalize("timeout")["seconds"] > 1
    assert normalize({"fault": "cut_stream", "after": 2})["after"] == 2
    for bad in ["bogus", 200, True, None, {"fault": "nope"}]:
        with pytest.raises(ValueError):
            normalize(bad)


def test_public_api_uses_the_shared_server():
    try:
        local.clear_faults()
        local.inject_faults([{"status": 429, "retry_after": 3}])
        assert local.fault_stats()["pending"]["global"] == ["429"]
        srv = local.start()
        assert srv is local.start() and local.url() == srv.url.rstrip("/")
        oai = openai.OpenAI(base_url=local.url() + "/v1", api_key="local", max_retries=0)
        with pytest.raises(openai.RateLimitError) as e:
            chat(oai)
        assert e.value.response.headers["retry-after"] == "3"
        assert local.fault_stats()["injected"]["total"] == 1
    finally:
        local.clear_faults()
        local.stop()
    local.stop()   # idempotent


class _BreaksMidStream(ExtractiveEngine):
    def chat(self, req):
        yield "start", 5
        yield "text", "Hello"
        raise RuntimeError("engine fell over")


def test_engine_failure_mid_stream_is_an_error_event():
    srv = LocalServer(engine=_BreaksMidStream(), faults=FaultPlan()).start()
    try:
        oai, claude = clients(srv)
        with pytest.raises(openai.APIError, match="engine fell over"):
            list(oai.chat.completions.create(model="m", messages=ASK, stream=True))
        with pytest.raises(anthropic.APIStatusError, match="engine fell over"):
            list(claude.messages.create(model=CLAUDE, max_tokens=9, messages=ASK, stream=True))
    finally:
        srv.stop()
