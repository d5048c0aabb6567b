"""Replay mode with a safety net: what the cassette holds replays exactly; a learner's own question (or
an edited prompt) is answered by the local backend, labelled; GLWORK_REPLAY_STRICT=1 keeps a miss an
error. Neither way reaches a network."""
import socket

import pytest

import glwork
from glwork import config, offline
from glwork.llm import ChatSession
from glwork.offline import replay
from glwork.offline.cassettes import CassetteMissError
from wire_server import cassette

KEY = "sk-proj-" + "ReplayFallbackTestKey" + "7" * 20


@pytest.fixture
def cassettes(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_CASSETTE_DIR", str(tmp_path))
    monkeypatch.setenv("GLWORK_RECORD_BACKEND", "local")
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")   # fast; the routing is the point here
    monkeypatch.delenv("GLWORK_REPLAY_STRICT", raising=False)
    monkeypatch.setattr(offline, "_backend_label", lambda: "wire fixture server")
    yield tmp_path
    offline.close_cassette()
    config.configure(None)


@pytest.fixture
def no_network(monkeypatch):
    """Any connection to a host other than loopback fails the test."""
    real = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a replayed notebook tried to reach {host}")
        return real(sock, address)
    monkeypatch.setattr(socket.socket, "connect", connect)


def recorded(srv, name, provider="openai", model=None, calls=()):
    glwork.notebook(name, mode="record", quiet=True)
    base = srv.url + ("/v1" if provider == "openai" else "")
    s = ChatSession(provider=provider, model=model, base_url=base, api_key=KEY)
    out = [c(s) for c in calls]
    offline.close_cassette()
    srv.close()
    return out


def test_recorded_question_replays_exactly_and_says_so(wire_server, cassettes, no_network):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    [rec] = recorded(wire_server, "r1", calls=[lambda s: s.send_message("Which ocean?")])
    glwork.notebook("r1", mode="replay", quiet=True)
    r = ChatSession(provider="openai").send_message("Which ocean?")
    assert r == rec and r.source == "recorded" and r.model == rec.model


@pytest.mark.parametrize("provider,model", [("openai", None), ("anthropic", "claude-3-5-haiku"),
                                            ("azure", "gpt-4o-mini")])
def test_own_question_is_answered_by_the_local_backend_labelled(wire_server, cassettes, no_network, capsys,
                                                                monkeypatch, provider, model):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    recorded(wire_server, "r2", calls=[lambda s: s.send_message("Which ocean?")])
    glwork.notebook("r2", mode="replay", quiet=True)
    monkeypatch.setattr(replay, "_in_notebook", lambda: True)
    s = ChatSession(provider=provider, model=model)
    r = s.send_message("Name one greenhouse gas other than CO2.")
    assert r.strip() and r.source == "local"
    assert r.model == "glwork-extractive-v1" and r.cost_is_estimate
    out = capsys.readouterr().out
    assert "not in this notebook's recording" in out and "extractive" in out
    assert "a small model, often wrong on facts: check them against the corpus]" in out   # told to doubt it
    rec = s.get_calls()[-1]
    assert rec.source == "local" and rec.model == "glwork-extractive-v1"
    # the conversation goes on: history kept, the next turn answered too
    assert len(s.get_conversation_history()) == 2
    assert s.send_message("And another one?").source == "local"


def test_edited_prompt_and_max_tokens_are_answered_not_raised(wire_server, cassettes, no_network):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    recorded(wire_server, "r3", calls=[lambda s: s.send_message("Which ocean?")])
    glwork.notebook("r3", mode="replay", quiet=True)
    assert ChatSession(provider="openai").send_message("Which ocean is largest?").source == "local"
    assert ChatSession(provider="openai", max_tokens=7).send_message("Which ocean?").source == "local"
    # the recorded request itself still replays exactly afterwards
    assert ChatSession(provider="openai").send_message("Which ocean?").source == "recorded"


def test_streams_tools_and_json_take_the_same_way(wire_server, cassettes, no_network):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    recorded(wire_server, "r4", calls=[lambda s: s.send_message("Which ocean?")])
    glwork.notebook("r4", mode="replay", quiet=True)
    s = ChatSession(provider="anthropic", model="claude-3-5-haiku")
    chunks = list(s.stream_message("Explain Scope 2 in one sentence."))
    assert "".join(chunks).strip() and s.get_calls()[-1].source == "local"
    tool = {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    t = ChatSession(provider="openai", functions=[tool], tool_choice="get_weather").send_message("Weather in Paris?")
    assert t.source == "local" and t.function_call is not None and t.function_call.name == "get_weather"
    j = ChatSession(provider="openai", response_format={"type": "json_object"}).send_message(
        "Return JSON with a key answer.")
    assert j.source == "local"
    import json
    assert isinstance(json.loads(j), dict)


def test_strict_replay_keeps_the_miss_an_error_and_reaches_nothing(wire_server, cassettes, no_network, monkeypatch):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    recorded(wire_server, "r5", calls=[lambda s: s.send_message("Which ocean?")])
    monkeypatch.setenv("GLWORK_REPLAY_STRICT", "1")
    glwork.notebook("r5", mode="replay", quiet=True)
    started = []
    monkeypatch.setattr("glwork.local.start", lambda: started.append(1))
    s = ChatSession(provider="openai")
    with pytest.raises(CassetteMissError, match="not in the cassette of r5"):
        s.send_message("A question nobody recorded")
    with pytest.raises(CassetteMissError):
        list(s.stream_message("Nor this one"))
    assert not started   # the local backend was not even started
    assert s.send_message("Which ocean?").source == "recorded"


def test_embeddings_miss_goes_local_in_replay_and_fails_when_strict(cassettes, no_network, monkeypatch):
    from glwork.embeddings import OpenAIEmbedder
    glwork.notebook("r6", mode="record", quiet=True)   # record the corpus embedding from the local backend
    OpenAIEmbedder("text-embedding-3-small").encode(["Scope 1 covers direct emissions."])
    offline.close_cassette()
    glwork.notebook("r6", mode="replay", quiet=True)
    e = OpenAIEmbedder("text-embedding-3-small")
    assert e.encode(["Scope 1 covers direct emissions."]).shape == (1, 384)   # from the cassette
    assert e.encode(["A learner's own query"]).shape == (1, 384)              # from the local backend
    monkeypatch.setenv("GLWORK_REPLAY_STRICT", "1")
    with pytest.raises(CassetteMissError):
        OpenAIEmbedder("text-embedding-3-small").encode(["Another query"])


def test_local_and_recorded_sources_differ_in_the_widget_footer():
    from glwork.response import source_label
    assert "recording" in source_label("recorded", "openai", "gpt-4o-mini")
    assert "local model qwen" in source_label("local", "openai", "qwen2.5-coder-1.5b-instruct")
    assert source_label("live", "anthropic", "claude").startswith("live")


def test_replay_reports_the_recorded_latency_not_its_own(wire_server, cassettes, monkeypatch):
    import time
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"), *cassette("openai/chat_stream_include_usage.yaml"))
    real_create = None

    glwork.notebook("r7", mode="record", quiet=True)
    s = ChatSession(provider="openai", base_url=wire_server.url + "/v1", api_key=KEY)
    adapter = s._adapter
    real_create = adapter.create
    monkeypatch.setattr(adapter, "create", lambda req: (time.sleep(0.3), real_create(req))[1])
    rec = s.send_message("Which ocean?")
    "".join(s.stream_message("One word"))
    offline.close_cassette()
    wire_server.close()
    assert rec.latency_ms >= 300
    assert "x-glwork-latency-ms" in (cassettes / "r7.yaml").read_text()

    glwork.notebook("r7", mode="replay", quiet=True)
    s = ChatSession(provider="openai")
    r = s.send_message("Which ocean?")
    assert r.source == "recorded" and abs(r.latency_ms - rec.latency_ms) <= 1
    assert s.get_response_time() == r.latency_ms
    "".join(s.stream_message("One word"))
    assert s.get_calls()[-1].latency_ms < 300 and s.get_calls()[-1].source == "recorded"


def test_a_cache_hit_says_where_its_reply_first_came_from_never_answered_now():
    from glwork.response import source_label
    label = source_label("local", "openai", "qwen2.5-coder-0.5b", cached=True)
    assert label == "from the semantic cache; first answered by the local model qwen2.5-coder-0.5b (not openai)"
    assert source_label("recorded", "openai", "m", cached=True).startswith("from the semantic cache; first replayed")
