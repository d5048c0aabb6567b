"""Every SDK error becomes an `LLMError` with the fields the workshop reads; keys never leak.

401/404/400 come from real recordings. No public recording of a 429, 5xx, Anthropic 529 or
OpenAI context_length_exceeded exists: those are built from the providers' documented error shapes
(tests/wire_server.py says so where they are built).
"""
import logging

import pytest

from glwork import errors
from glwork.llm import ChatSession, LLMError
from wire_server import (
    anthropic_api_error,
    anthropic_overloaded,
    anthropic_prompt_too_long,
    anthropic_rate_limit,
    cassette,
    openai_context_length_exceeded,
    openai_rate_limit,
    openai_server_error,
)

SECRET = "sk-proj-THISISAFAKEKEYFORTESTS1234567890abcdef"


def oa(srv, **kw):
    # max_retries=0: these tests look at one error as mapped; retries are tested in test_resilience_retry.py
    return ChatSession(provider="openai", model="gpt-4", base_url=srv.url + "/v1", api_key=SECRET, max_retries=0, **kw)


def an(srv, **kw):
    return ChatSession(provider="anthropic", model="claude-3-opus", base_url=srv.url, api_key=SECRET, max_retries=0,
                       **kw)


CASES = [
    # (session factory, canned response(s), exception class, error_code, retryable, status)
    (oa, lambda: cassette("openai/error_401_invalid_api_key.yaml"), errors.AuthenticationError, "authentication",
     False, 401),
    (oa, lambda: cassette("openai/error_404_model_not_found_chat.yaml"), errors.ModelNotFoundError, "model_not_found",
     False, 404),
    (oa, lambda: [openai_rate_limit("7")], errors.RateLimitError, "rate_limit", True, 429),
    (oa, lambda: [openai_server_error(500)], errors.ServerError, "server_error", True, 500),
    (oa, lambda: [openai_server_error(502)], errors.ServerError, "server_error", True, 502),
    (oa, lambda: [openai_server_error(503)], errors.ServerError, "server_error", True, 503),
    (oa, lambda: [openai_context_length_exceeded()], errors.ContextLengthExceededError, "context_length_exceeded",
     False, 400),
    (an, lambda: cassette("anthropic/error_401_authentication.yaml"), errors.AuthenticationError, "authentication",
     False, 401),
    (an, lambda: cassette("anthropic/error_400_invalid_request.yaml"), errors.InvalidRequestError, "invalid_request",
     False, 400),
    (an, lambda: cassette("anthropic/error_404_not_found_model_gzip.yaml")[:1], errors.ModelNotFoundError,
     "model_not_found", False, 404),
    (an, lambda: [anthropic_rate_limit("3")], errors.RateLimitError, "rate_limit", True, 429),
    (an, lambda: [anthropic_api_error(500)], errors.ServerError, "server_error", True, 500),
    (an, lambda: [anthropic_overloaded()], errors.OverloadedError, "overloaded", True, 529),
    (an, lambda: [anthropic_prompt_too_long()], errors.ContextLengthExceededError, "context_length_exceeded", False,
     400),
]


@pytest.mark.parametrize("make,responses,cls,code,retryable,status", CASES,
                         ids=[f"{c[0].__name__}-{c[5]}-{c[3]}" for c in CASES])
def test_error_mapping(wire_server, make, responses, cls, code, retryable, status):
    wire_server.queue(*responses())
    s = make(wire_server)
    with pytest.raises(LLMError) as info:
        s.send_message("Hello")
    e = info.value
    assert type(e) is cls and e.error_code == code and e.retryable is retryable and e.status_code == status
    assert e.provider == s.provider and e.message
    assert len(wire_server.requests) == 1  # the SDK's hidden retries are off
    assert s.get_conversation_history() == []  # nothing half-stored
    for text in (str(e), repr(e), e.message, str(e.to_dict())):
        assert SECRET not in text


def test_retry_after_is_read_from_headers(wire_server):
    wire_server.queue(openai_rate_limit("7"))
    with pytest.raises(errors.RateLimitError) as e:
        oa(wire_server).send_message("x")
    assert e.value.retry_after == 7.0
    wire_server.queue(anthropic_rate_limit("3"))
    with pytest.raises(errors.RateLimitError) as e:
        an(wire_server).send_message("x")
    assert e.value.retry_after == 3.0


def test_stream_errors_before_first_chunk_are_mapped(wire_server):
    wire_server.queue(*cassette("anthropic/error_401_authentication_stream.yaml"))
    with pytest.raises(errors.AuthenticationError):
        list(an(wire_server).stream_message("x"))
    wire_server.queue(openai_rate_limit("1"))
    with pytest.raises(errors.RateLimitError):
        list(oa(wire_server).stream_message("x"))


def test_timeout_and_connection_errors():
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts the connection but never answers
    port = sock.getsockname()[1]
    s = ChatSession(provider="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key=SECRET, timeout=0.5,
                    max_retries=0)
    with pytest.raises(errors.LLMTimeoutError) as e:
        s.send_message("x")
    assert e.value.retryable and e.value.error_code == "timeout"
    sock.close()
    s = ChatSession(provider="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key=SECRET, timeout=2, max_retries=0)
    with pytest.raises(errors.LLMConnectionError) as e:
        s.send_message("x")
    assert e.value.retryable and e.value.error_code == "connection_error"


def test_key_in_a_provider_message_is_redacted(wire_server, caplog):
    from wire_server import canned_error
    wire_server.queue(canned_error(401, {"error": {"message": f"Incorrect API key provided: {SECRET}",
                                                   "type": "invalid_request_error", "code": "invalid_api_key"}}))
    logging.getLogger("glwork").warning("about to fail with %s", SECRET)
    with pytest.raises(LLMError) as e:
        oa(wire_server).send_message("x")
    assert SECRET not in str(e.value) and "[REDACTED]" in e.value.message
    assert SECRET not in caplog.text
