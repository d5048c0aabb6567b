"""Retries: which errors, how long (fake clock, no real sleeps), events, streams before/after the first chunk.

429/5xx/529 bodies are the documented shapes built in wire_server.py (no public recording exists).
"""
import socket

import pytest

from glwork import errors, events
from glwork.llm import ChatSession, LLMError
from glwork.resilience.clock import FakeClock
from glwork.resilience.retry import MAX_DELAY, RetryPolicy
from wire_server import (
    Canned,
    anthropic_api_error,
    anthropic_overloaded,
    anthropic_prompt_too_long,
    anthropic_rate_limit,
    canned_error,
    cassette,
    openai_context_length_exceeded,
    openai_rate_limit,
    openai_server_error,
)

KEY = "sk-test-resilience-0123456789abcdef"
OK_OPENAI = "openai/chat_nonstream_basic.yaml"
OK_ANTHROPIC = "anthropic/messages_nonstream_basic.yaml"


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


@pytest.fixture
def clock():
    return FakeClock()


def oa(srv, clock, retries=3, **kw):
    return ChatSession(provider="openai", model="gpt-4", base_url=srv.url + "/v1", api_key=KEY,
                       retry_policy=RetryPolicy(max_retries=retries, retry_delay=1.0, jitter=0, sleep=clock.sleep),
                       **kw)


def an(srv, clock, retries=3, **kw):
    return ChatSession(provider="anthropic", model="claude-3-opus", base_url=srv.url, api_key=KEY,
                       retry_policy=RetryPolicy(max_retries=retries, retry_delay=1.0, jitter=0, sleep=clock.sleep),
                       **kw)


RETRYABLE = [
    (oa, lambda: openai_rate_limit("2"), "rate_limit", [2.0]),
    (oa, lambda: openai_server_error(500), "server_error", [1.0]),
    (oa, lambda: openai_server_error(502), "server_error", [1.0]),
    (oa, lambda: openai_server_error(503), "server_error", [1.0]),
    (an, lambda: anthropic_rate_limit("3"), "rate_limit", [3.0]),
    (an, lambda: anthropic_api_error(500), "server_error", [1.0]),
    (an, lambda: anthropic_overloaded(), "overloaded", [1.0]),
]


@pytest.mark.parametrize("make,error,code,waits", RETRYABLE,
                         ids=[f"{r[0].__name__}-{r[2]}-{i}" for i, r in enumerate(RETRYABLE)])
def test_retryable_error_is_retried_then_succeeds(wire_server, clock, make, error, code, waits):
    ok = OK_OPENAI if make is oa else OK_ANTHROPIC
    wire_server.queue(error(), *cassette(ok))
    s = make(wire_server, clock)
    r = s.send_message("Hello")
    assert len(wire_server.requests) == 2 and r.attempts == 2 and len(r) > 0
    assert clock.sleeps == waits
    [ev] = s.get_retry_events()
    assert ev["error_code"] == code and ev["action"] == "retry" and ev["wait"] == waits[0] and ev["attempt"] == 1
    assert s.get_conversation_history()[-1]["content"] == str(r)


NOT_RETRYABLE = [
    (oa, lambda: cassette("openai/error_401_invalid_api_key.yaml"), "authentication"),
    (oa, lambda: cassette("openai/error_404_model_not_found_chat.yaml"), "model_not_found"),
    (oa, lambda: [openai_context_length_exceeded()], "context_length_exceeded"),
    (oa, lambda: [canned_error(400, {"error": {"message": "bad", "type": "invalid_request_error"}})],
     "invalid_request"),
    (an, lambda: cassette("anthropic/error_400_invalid_request.yaml"), "invalid_request"),
    (an, lambda: cassette("anthropic/error_401_authentication.yaml"), "authentication"),
    (an, lambda: cassette("anthropic/error_404_not_found_model_gzip.yaml")[:1], "model_not_found"),
    (an, lambda: [anthropic_prompt_too_long()], "context_length_exceeded"),
]


@pytest.mark.parametrize("make,responses,code", NOT_RETRYABLE, ids=[f"{r[0].__name__}-{r[2]}" for r in NOT_RETRYABLE])
def test_client_errors_are_never_retried(wire_server, clock, make, responses, code):
    wire_server.queue(*responses())
    s = make(wire_server, clock)
    with pytest.raises(LLMError) as e:
        s.send_message("Hello")
    assert e.value.error_code == code and not e.value.retryable
    assert len(wire_server.requests) == 1 and clock.sleeps == []
    [ev] = s.get_retry_events()
    assert ev["action"] == "raise" and ev["wait"] is None


def test_exponential_backoff_doubles_and_gives_up_after_max_retries(wire_server, clock):
    wire_server.queue(*[openai_server_error(500)] * 4)
    s = oa(wire_server, clock, retries=3)
    with pytest.raises(errors.ServerError):
        s.send_message("Hello")
    assert len(wire_server.requests) == 4 and clock.sleeps == [1.0, 2.0, 4.0]
    evs = s.get_retry_events()
    assert [e["action"] for e in evs] == ["retry", "retry", "retry", "raise"]
    assert [e["attempt"] for e in evs] == [1, 2, 3, 4]


def test_backoff_jitter_and_cap():
    p = RetryPolicy(retry_delay=1.0, jitter=0.25)
    for attempt in range(1, 12):
        base = min(2 ** (attempt - 1), MAX_DELAY)
        w = p.backoff(attempt)
        assert base <= w <= min(base * 1.25, MAX_DELAY)
    assert p.backoff(20) == MAX_DELAY
    flat = RetryPolicy(retry_delay=0.5, exponential_backoff=False, jitter=0)
    assert [flat.backoff(n) for n in (1, 2, 5)] == [0.5, 0.5, 0.5]


def test_retry_after_header_wins_over_backoff(wire_server, clock):
    # seconds form (retry-after) and milliseconds form (retry-after-ms, which wins when both are sent)
    wire_server.queue(openai_rate_limit("7"),
                      canned_error(429, {"error": {"message": "slow down", "type": "requests",
                                                   "code": "rate_limit_exceeded"}},
                                   {"retry-after": "9", "retry-after-ms": "1500"}),
                      *cassette(OK_OPENAI))
    s = oa(wire_server, clock)
    s.send_message("Hello")
    assert clock.sleeps == [7.0, 1.5]
    assert [e["retry_after"] for e in s.get_retry_events()] == [7.0, 1.5]


def test_retry_after_longer_than_cap_is_not_waited_for(wire_server, clock):
    wire_server.queue(openai_rate_limit("3600"))
    with pytest.raises(errors.RateLimitError) as e:
        oa(wire_server, clock).send_message("Hello")
    assert clock.sleeps == [] and e.value.retry_after == 3600.0 and len(wire_server.requests) == 1


def test_rate_limit_error_always_carries_retry_after(wire_server, clock):
    # Part 7: `time.sleep(e.retry_after)` must work even when the server sent no Retry-After.
    no_header = canned_error(429, {"error": {"message": "Rate limit", "type": "requests",
                                             "code": "rate_limit_exceeded"}})
    wire_server.queue(no_header, no_header)
    with pytest.raises(LLMError) as e:
        oa(wire_server, clock, retries=1).send_message("Hello")
    assert e.value.error_code == "rate_limit" and e.value.retry_after == 2.0
    assert clock.sleeps == [1.0]


def test_retry_events_reach_the_event_bus(wire_server, clock):
    seen = []
    unsubscribe = events.subscribe(seen.append)
    try:
        wire_server.queue(openai_rate_limit("1"), *cassette(OK_OPENAI))
        s = oa(wire_server, clock, name="bus-test")
        s.send_message("Hello")
    finally:
        unsubscribe()
    kinds = [e["kind"] for e in seen if e.get("session") == "bus-test"]
    assert kinds == ["llm_retry", "llm_call"]
    retry = next(e for e in seen if e["kind"] == "llm_retry")
    assert {"time", "provider", "model", "attempt", "error_code", "status_code", "wait", "latency_ms"} <= set(retry)
    call = next(e for e in seen if e["kind"] == "llm_call")
    assert call["attempts"] == 2 and call["record"].attempts == 2


def test_workshop_arguments_and_default():
    s = ChatSession(provider="openai", model="gpt-4", max_retries=3, retry_delay=1.0, exponential_backoff=True,
                    api_key=KEY, base_url="http://127.0.0.1:9/v1")
    policy = s.retry_policy
    assert (policy.max_retries, policy.retry_delay, policy.exponential_backoff) == (3, 1.0, True)
    assert ChatSession(api_key=KEY, base_url="http://127.0.0.1:9/v1").retry_policy.max_retries == 2
    with pytest.raises(errors.ConfigurationError):
        ChatSession(api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=-1)


def test_timeouts_and_connection_errors_are_retried(clock):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)   # accepts, never answers
    port = silent.getsockname()[1]
    try:
        s = ChatSession(provider="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=0.2,
                        retry_policy=RetryPolicy(max_retries=1, jitter=0, sleep=clock.sleep))
        with pytest.raises(errors.LLMTimeoutError):
            s.send_message("x")
        assert [e["error_code"] for e in s.get_retry_events()] == ["timeout", "timeout"] and clock.sleeps == [1.0]
    finally:
        silent.close()
    s = ChatSession(provider="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=2,
                    retry_policy=RetryPolicy(max_retries=2, jitter=0, sleep=clock.sleep))
    with pytest.raises(errors.LLMConnectionError):
        s.send_message("x")
    assert [e["action"] for e in s.get_retry_events()] == ["retry", "retry", "raise"]


# ---- streams -------------------------------------------------------------------------------------
def test_stream_error_before_first_chunk_is_retried(wire_server, clock):
    wire_server.queue(openai_rate_limit("1"), *cassette("openai/chat_stream_include_usage.yaml"))
    s = oa(wire_server, clock)
    chunks = list(s.stream_message("Hello"))
    assert chunks and clock.sleeps == [1.0] and len(wire_server.requests) == 2
    assert s.get_conversation_history()[-1]["content"] == "".join(chunks)


def test_stream_cut_before_first_chunk_is_retried(wire_server, clock):
    full = cassette("anthropic/messages_stream_text.yaml")[0]
    first_text = full.body.index(b'"text_delta"')        # cut inside the first text event
    wire_server.queue(Canned(full.status, full.headers, full.body, cut_after=first_text),
                      *cassette("anthropic/messages_stream_text.yaml"))
    s = an(wire_server, clock)
    chunks = list(s.stream_message("Hello"))
    assert "".join(chunks) and [e["error_code"] for e in s.get_retry_events()] == ["stream_interrupted"]


def test_stream_cut_after_first_chunk_raises_and_is_not_retried(wire_server, clock):
    full = cassette("openai/chat_stream_include_usage.yaml")[0]
    wire_server.queue(Canned(full.status, full.headers, full.body, cut_after=len(full.body) * 3 // 4),
                      *cassette("openai/chat_stream_include_usage.yaml"))
    s = oa(wire_server, clock)
    got = []
    with pytest.raises(LLMError) as e:
        for chunk in s.stream_message("Hello"):
            got.append(chunk)
    assert got and e.value.error_code == "stream_interrupted"
    assert len(wire_server.requests) == 1 and clock.sleeps == []
    assert s.get_conversation_history() == []
    assert s.get_retry_events()[-1]["action"] == "raise"
