"""Record provider traffic to a cassette, then replay it with no server and no key."""
import json

import pytest
import yaml

import glwork
from glwork import config, offline
from glwork.llm import ChatSession, LLMError
from glwork.offline.cassettes import CassetteMissError, normalized_body
from wire_server import Canned, cassette

KEY = "sk-proj-" + "RealLookingKeyForRecordTest" + "9" * 20


@pytest.fixture
def cassettes(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_CASSETTE_DIR", str(tmp_path))
    monkeypatch.setenv("GLWORK_RECORD_BACKEND", "local")
    monkeypatch.setenv("GLWORK_RECORD_BACKEND_LABEL", "wire-fixture")
    monkeypatch.setattr(offline, "_backend_label", lambda: "wire fixture server")
    monkeypatch.setenv("GLWORK_REPLAY_STRICT", "1")   # misses are errors here (see test_replay_fallback.py)
    yield tmp_path
    offline.close_cassette()
    config.configure(None)


def record(srv, name, calls, provider="openai", **kw):
    glwork.notebook(name, mode="record", quiet=True)
    base = srv.url + ("/v1" if provider == "openai" else "")
    s = ChatSession(provider=provider, base_url=base, api_key=KEY, **kw)
    out = [call(s) for call in calls]
    offline.close_cassette()
    return out


def replay_session(name, provider="openai", **kw):
    glwork.notebook(name, mode="replay", quiet=True)
    return ChatSession(provider=provider, **kw)


def test_record_then_replay_without_server_or_key(wire_server, cassettes):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"), *cassette("openai/chat_stream_include_usage.yaml"))
    rec = record(wire_server, "t1", [lambda s: s.send_message("Which ocean?"),
                                     lambda s: "".join(s.stream_message("One word"))])
    wire_server.close()
    path = cassettes / "t1.yaml"
    text = path.read_text()
    assert KEY not in text and "authorization" not in text.lower() and "set-cookie" not in text.lower()
    meta = yaml.safe_load(text)["metadata"]["provenance"]
    assert meta["backend"] == "wire fixture server" and meta["models"] == ["gpt-4o-mini-2024-07-18"]
    assert meta["interactions"] == 2 and meta["recorded_on"][:2] == "20"

    s = replay_session("t1")
    assert s.mode == "replay"
    r = s.send_message("Which ocean?")
    assert r == rec[0] and r.usage.total_tokens == 25
    chunks = list(s.stream_message("One word"))
    assert len(chunks) > 1 and "".join(chunks) == rec[1]


def test_replay_miss_is_a_clear_error_and_no_network(wire_server, cassettes):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    record(wire_server, "t2", [lambda s: s.send_message("Which ocean?")])
    s = replay_session("t2")
    with pytest.raises(CassetteMissError) as e:
        s.send_message("A question nobody recorded")
    msg = str(e.value)
    assert "t2" in msg and "glwork record t2" in msg and "A question nobody recorded" in msg
    assert "GLWORK_MODE=local" in msg and e.value.error_code == "not_in_cassette"
    assert len(wire_server.requests) == 1  # only the recording call


def test_identical_requests_replay_in_recorded_order(wire_server, cassettes):
    def reply(text):
        body = json.loads(cassette("openai/chat_nonstream_basic.yaml")[0].body)
        body["choices"][0]["message"]["content"] = text
        return Canned(200, {"content-type": "application/json"}, json.dumps(body).encode())
    wire_server.queue(reply("first"), reply("second"))
    ask = lambda s: (s.send_message("Same?"), s.reset())[0]  # noqa: E731
    record(wire_server, "t3", [ask, ask])
    s = replay_session("t3")
    assert [ask(s), ask(s)] == ["first", "second"]
    with pytest.raises(CassetteMissError):
        ask(s)  # a third identical request was never recorded


def test_anthropic_and_azure_replay_host_independent(wire_server, cassettes):
    wire_server.queue(cassette("anthropic/messages_nonstream_basic.yaml")[0])
    record(wire_server, "t4", [lambda s: s.send_message("Say foo")], provider="anthropic", model="claude-3-5-haiku")
    assert replay_session("t4", provider="anthropic", model="claude-3-5-haiku").send_message("Say foo") == "foo"
    wire_server.queue(*cassette("azure/chat_nonstream_deployments.yaml"))
    glwork.notebook("t5", mode="record", quiet=True)
    ChatSession(provider="azure", model="dep", azure_endpoint=wire_server.url, api_key=KEY).send_message("Hi")
    offline.close_cassette()
    assert replay_session("t5", provider="azure", model="dep").send_message("Hi") == "Atlantic Ocean"


def test_body_normalisation_ignores_key_order_and_volatile_fields():
    class R:
        def __init__(self, body):
            self.body = body
    a = R(b'{"model": "gpt-4", "messages": [], "user": "alice", "seed": 1}')
    b = R(b'{"messages": [], "model": "gpt-4"}')
    assert normalized_body(a) == normalized_body(b)
    assert normalized_body(R(b'{"model": "gpt-4o"}')) != normalized_body(b)


def test_replay_needs_the_cassette(cassettes):
    with pytest.raises(CassetteMissError, match="glwork record nope"):
        glwork.notebook("nope", mode="replay", quiet=True)


def test_replay_mode_without_an_open_cassette_says_what_to_do(monkeypatch):
    monkeypatch.setenv("GLWORK_MODE", "replay")
    with pytest.raises(LLMError, match="glwork.notebook"):
        ChatSession(provider="openai")


def test_secrets_in_bodies_are_redacted_before_writing(wire_server, cassettes):
    body = json.loads(cassette("openai/chat_nonstream_basic.yaml")[0].body)
    body["choices"][0]["message"]["content"] = "the key is sk-ant-api03-" + "x" * 40
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    glwork.notebook("t6", mode="record", quiet=True)
    ChatSession(provider="openai", base_url=wire_server.url + "/v1", api_key=KEY).send_message("leak?")
    # the response body is redacted before it is written, so the cassette stays clean
    offline.close_cassette()
    assert "sk-ant-api03-xxxx" not in (cassettes / "t6.yaml").read_text()


def test_a_cassette_with_a_secret_is_deleted(wire_server, cassettes, monkeypatch):
    from glwork.offline import cassettes as cas
    monkeypatch.setattr(cas, "redact", lambda text: text)  # simulate a scrubber that missed one
    body = json.loads(cassette("openai/chat_nonstream_basic.yaml")[0].body)
    body["choices"][0]["message"]["content"] = "the key is sk-ant-api03-" + "y" * 40
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    glwork.notebook("t7", mode="record", quiet=True)
    ChatSession(provider="openai", base_url=wire_server.url + "/v1", api_key=KEY).send_message("leak?")
    with pytest.raises(LLMError, match="deleted") as e:
        offline.close_cassette()
    assert e.value.error_code == "secret_in_cassette" and not (cassettes / "t7.yaml").exists()
