"""Issue 15, items 10, 11 and 13: the local server answers a bad request with a 4xx at once (never a
hung thread or a 500 the SDKs would retry) and only requests addressed to loopback; an absurd
Retry-After is clamped; no key reaches a repr or a message. Against the kit's real local server."""
import json
import socket
import time

import pytest

from fault_helpers import ASK, ledger_path, server, session  # noqa: F401
from glwork.errors import ConfigurationError
from glwork.providers.base import parse_retry_after
from glwork.resilience.fallback import parse_fallbacks
from glwork.security import redact

AZURE_KEY = "0123456789abcdef0123456789abcdef"


def raw(server, head, body=b"", timeout=5.0):
    """Send raw request bytes; (status, response bytes). A hung server fails the test in `timeout` s."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(head.encode() + body)
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < _expected(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pytest.fail(f"no complete answer within {timeout} s: a hung request thread ({data[:80]!r})")
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None
    return status, data


def _expected(data):
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return len(data) + 1


def post(server, body, host=None, path="/v1/chat/completions", length=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    host = host or f"127.0.0.1:{server.port}"
    length = len(data) if length is None else length
    return raw(server, f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {length}\r\n\r\n", data)


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ASK}]}


# ---- item 10: bad requests get a 4xx, never a hung thread -----------------------------------------
@pytest.mark.parametrize("length", ["-5", "abc", "1e3"])
def test_a_content_length_that_is_not_a_byte_count_is_a_400(server, length):
    status, data = raw(server, f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                               f"Content-Length: {length}\r\n\r\n")
    assert status == 400 and b"Content-Length" in data


def test_a_body_over_the_cap_is_refused_before_it_is_read(server):
    t0 = time.monotonic()
    status, data = post(server, b"{}", length=20 * 1024 * 1024)
    assert status == 413 and b"at most" in data and time.monotonic() - t0 < 2


def test_a_body_shorter_than_its_content_length_frees_the_thread(server, monkeypatch):
    from glwork.local import server as server_module
    monkeypatch.setattr(server_module, "BODY_TIMEOUT_S", 0.3)
    status, data = post(server, b'{"model": "x"', length=100)
    assert status == 400 and b"ended after" in data


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json"])
def test_a_body_that_is_not_a_json_object_is_a_400(server, body):
    assert post(server, body)[0] == 400


@pytest.mark.parametrize("field,value", [("response_format", "json_object"), ("response_format", ["x"]),
                                         ("stream_options", True), ("messages", {"role": "user"}),
                                         ("response_format", {"type": "json_schema", "json_schema": "x"})])
def test_a_field_of_the_wrong_type_is_a_400_not_a_500(server, field, value):
    status, data = post(server, {**CHAT, field: value})
    assert status == 400 and field.encode() in data       # was a 500, which the SDKs retry


def test_a_tool_call_that_is_not_an_object_is_a_400(server):
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": ["x"]},
                {"role": "tool", "tool_call_id": "1", "content": "2"}]
    assert post(server, {**CHAT, "messages": messages})[0] == 400


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "10.0.0.1:{port}", ""])
def test_a_request_not_addressed_to_loopback_is_refused(server, host):
    host = host.format(port=server.port)
    status, data = post(server, CHAT, host=host or " ")
    assert status == 403 and b"127.0.0.1" in data
    # the fault injector too: a web page rebinding its name to 127.0.0.1 must not script faults
    status, _ = raw(server, f"GET /_glwork/faults HTTP/1.1\r\nHost: {host or ' '}\r\n\r\n")
    assert status == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}"])
def test_loopback_names_are_served(server, host):
    status, data = raw(server, f"GET /_glwork/faults HTTP/1.1\r\nHost: {host.format(port=server.port)}\r\n\r\n")
    assert status == 200 and b"pending" in data


def test_token_counting_runs_on_the_engine_thread_like_generation():
    # The model is not loaded here: the engine's worker is started by hand, its tokenizer stubbed.
    import queue
    import threading

    from glwork.local.engine import GenRequest, LlamaEngine
    engine = object.__new__(LlamaEngine)
    engine._jobs = queue.Queue()
    threading.Thread(target=engine._work, name="glwork-llama", daemon=True).start()
    seen = []
    engine.prompt_text = lambda req, with_tools=True: "Hello there"
    engine.count_tokens = lambda text: seen.append(threading.current_thread().name) or 2
    try:
        assert engine.prompt_tokens(GenRequest(messages=[{"role": "user", "content": "Hello"}])) == 2
    finally:
        engine._jobs.put(None)
    assert seen == ["glwork-llama"]                 # was the calling (HTTP) thread, racing a generation


# ---- item 11: an absurd Retry-After is clamped ----------------------------------------------------
@pytest.mark.parametrize("headers,seconds", [({"retry-after-ms": "-1000"}, 0.0), ({"retry-after": "-5"}, 0.0),
                                             ({"retry-after-ms": "nan"}, None), ({"retry-after": "1e20"}, 86400.0),
                                             ({"retry-after-ms": "junk", "retry-after": "2"}, 2.0),
                                             ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0)])
def test_retry_after_is_clamped_to_a_sleepable_wait(headers, seconds):
    assert parse_retry_after(headers) == seconds


def test_a_negative_retry_after_from_the_fault_injector_is_retried_at_once(server, ledger_path):
    server.faults.set([{"status": 429, "retry_after": -1}], session="negative-wait")
    slept = []

    def real_sleep(seconds):            # time.sleep itself: a negative wait raised ValueError here
        slept.append(seconds)
        time.sleep(seconds)
    s = session(server, "negative-wait")
    s._runner.retry.sleep = real_sleep
    reply = s.send_message(ASK)
    assert "Paris" in reply and reply.attempts == 2 and slept == [0.0]


# ---- item 13: no key in a repr or a message --------------------------------------------------------
def test_a_routes_repr_masks_its_api_key():
    [route] = parse_fallbacks(fallbacks=[{"provider": "azure", "model": "gpt-4o", "api_key": AZURE_KEY,
                                          "azure_endpoint": "https://x.openai.azure.com"}])
    assert AZURE_KEY not in repr(route) and "[REDACTED]" in repr(route) and "azure" in repr(route)


@pytest.mark.parametrize("item", [("openai", "gpt-4o", "sk-proj-abcdefghijklmnopqrstuvwxyz012345"),
                                  ("azure", "gpt-4o", AZURE_KEY), {"provider", AZURE_KEY}])
def test_a_malformed_fallback_is_not_echoed(item):
    with pytest.raises(ConfigurationError) as err:
        parse_fallbacks(fallbacks=[item])
    text = f"{err.value} {err.value!r} {err.value.to_dict()}"
    assert "sk-proj" not in text and AZURE_KEY not in text and "(provider, model) pair" in text


def test_an_azure_key_is_redacted_wherever_it_shows():
    key = "fedcba9876543210fedcba9876543210"     # never registered: only its shape gives it away
    assert key not in redact(f"api_key={key} failed") and key.upper() not in redact(key.upper())
    assert redact("req_" + key) == "req_" + key                    # a request id is not a key
    from glwork.llm import ChatSession
    with pytest.raises(ConfigurationError) as err:
        ChatSession(provider=key)                                  # a key pasted where the provider goes
    assert key not in f"{err.value} {err.value!r} {err.value.to_dict()}"
