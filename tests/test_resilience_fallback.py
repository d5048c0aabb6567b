"""Fallback providers: after retryable failures or an outage, the next route answers; one conversation."""
import socket

import pytest

from glwork import errors
from glwork.llm import ChatSession, LLMError
from glwork.resilience.clock import FakeClock
from glwork.resilience.retry import RetryPolicy
from wire_server import Canned, WireServer, anthropic_overloaded, cassette, openai_rate_limit, openai_server_error

KEY = "sk-test-fallback-0123456789abcdef"


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


@pytest.fixture
def second():
    srv = WireServer()
    yield srv
    srv.close()


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens: connection refused, an outage
    return port


def session(primary_url, fallbacks, retries=1, clock=None, **kw):
    clock = clock or FakeClock()
    return ChatSession(provider="openai", model="gpt-4", base_url=primary_url, api_key=KEY, fallbacks=fallbacks,
                       retry_policy=RetryPolicy(max_retries=retries, jitter=0, sleep=clock.sleep), **kw)


def claude(srv, model="claude-3-opus"):
    return {"provider": "anthropic", "model": model, "base_url": srv.url, "api_key": KEY}


def test_send_falls_back_after_retries_and_says_who_answered(wire_server, second):
    wire_server.queue(openai_server_error(503), openai_server_error(503))
    second.queue(*cassette("anthropic/messages_nonstream_basic.yaml"))
    s = session(wire_server.url + "/v1", [claude(second)])
    r = s.send_message("Hello")
    assert r.provider == "anthropic" and r.fallback_used and r.attempts == 3
    assert len(wire_server.requests) == 2 and len(second.requests) == 1
    assert second.requests[0].json["model"] == "claude-3-opus"
    assert [e["action"] for e in s.get_retry_events()] == ["retry", "fallback"]
    call = s.get_calls()[-1]
    assert call.provider == "anthropic" and call.requested_model == "claude-3-opus" and call.fallback_used


def test_outage_falls_back_and_history_stays_one_conversation(wire_server):
    port = dead_port()
    wire_server.queue(*cassette("anthropic/messages_nonstream_basic.yaml"),
                      *cassette("anthropic/messages_nonstream_basic.yaml"))
    s = session(f"http://127.0.0.1:{port}/v1", [claude(wire_server)], retries=0, system_message="Be brief.")
    first = s.send_message("First question")
    second_reply = s.send_message("Second question")
    assert first.fallback_used and second_reply.fallback_used
    sent = wire_server.requests[1].json
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][0]["content"] == "First question" and sent["system"] == "Be brief."
    assert [m["role"] for m in s.get_conversation_history()] == ["system", "user", "assistant", "user", "assistant"]


def test_workshop_fallback_arguments(wire_server):
    s = ChatSession(provider="openai", model="gpt-4", fallback_provider="anthropic", fallback_model="claude-3-opus",
                    api_key=KEY, base_url=wire_server.url + "/v1")
    assert [(r.provider, r.model) for r in s._runner.routes] == [("openai", "gpt-4"), ("anthropic", "claude-3-opus")]
    s = ChatSession(provider="openai", api_key=KEY, base_url=wire_server.url + "/v1",
                    fallback_provider="anthropic", fallbacks=[("azure", "my-deployment"), "openai"])
    assert [r.provider for r in s._runner.routes] == ["openai", "anthropic", "azure", "openai"]
    with pytest.raises(errors.ConfigurationError):
        ChatSession(api_key=KEY, base_url=wire_server.url + "/v1", fallback_provider="cohere")


def test_ordered_fallbacks_are_tried_in_turn(wire_server, second):
    wire_server.queue(openai_rate_limit("1"))
    second.queue(anthropic_overloaded(), *cassette("openai/chat_nonstream_basic.yaml"))
    s = session(wire_server.url + "/v1", [claude(second),
                                          {"provider": "openai", "model": "gpt-4o-mini", "base_url": second.url + "/v1",
                                           "api_key": KEY}], retries=0)
    r = s.send_message("Hello")
    assert r.provider == "openai" and r.fallback_used and r.attempts == 3
    assert [(e["provider"], e["error_code"], e["action"]) for e in s.get_retry_events()] == [
        ("openai", "rate_limit", "fallback"), ("anthropic", "overloaded", "fallback")]


def test_client_errors_do_not_fall_back(wire_server, second):
    wire_server.queue(*cassette("openai/error_401_invalid_api_key.yaml"))
    s = session(wire_server.url + "/v1", [claude(second)])
    with pytest.raises(errors.AuthenticationError):
        s.send_message("Hello")
    assert second.requests == []


def test_when_every_route_fails_the_last_error_is_raised(wire_server, second):
    wire_server.queue(openai_server_error(500))
    second.queue(anthropic_overloaded())
    s = session(wire_server.url + "/v1", [claude(second)], retries=0)
    with pytest.raises(LLMError) as e:
        s.send_message("Hello")
    assert e.value.provider == "anthropic" and e.value.error_code == "overloaded"
    assert e.value.__cause__ is None or isinstance(e.value.__cause__, LLMError)
    assert s.get_retry_events()[-1]["action"] == "raise" and s.get_conversation_history() == []


def test_stream_falls_back_when_nothing_was_yielded(wire_server, second):
    wire_server.queue(openai_server_error(502), openai_server_error(502))
    second.queue(*cassette("anthropic/messages_stream_text.yaml"))
    s = session(wire_server.url + "/v1", [claude(second)])
    chunks = list(s.stream_message("Hello"))
    assert "".join(chunks) and s.get_calls()[-1].provider == "anthropic" and s.get_calls()[-1].fallback_used


def test_stream_broken_after_first_chunk_does_not_fall_back(wire_server, second):
    full = cassette("openai/chat_stream_include_usage.yaml")[0]
    wire_server.queue(Canned(full.status, full.headers, full.body, cut_after=len(full.body) * 3 // 4))
    s = session(wire_server.url + "/v1", [claude(second)])
    with pytest.raises(LLMError) as e:
        list(s.stream_message("Hello"))
    assert e.value.error_code == "stream_interrupted" and second.requests == []


def test_a_fallback_without_a_key_is_skipped_and_the_real_error_raised(wire_server):
    wire_server.queue(openai_server_error(500))
    s = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                    fallback_provider="anthropic", fallback_model="claude-3-opus",
                    retry_policy=RetryPolicy(max_retries=0))
    with pytest.raises(errors.ServerError):   # GLWORK_MODE=live and no ANTHROPIC_API_KEY in tests
        s.send_message("Hello")
    assert s.get_retry_events()[-1]["action"] == "raise"
