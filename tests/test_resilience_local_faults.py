"""Retries against the local backend's fault script, aimed at one session by its name
(header x-glwork-session). Uses the extractive engine: no LLM, a few seconds."""
import pytest

from glwork.llm import ChatSession, LLMError
from glwork.local.extractive import ExtractiveEngine
from glwork.local.faults import FaultPlan
from glwork.local.server import LocalServer
from glwork.resilience.clock import FakeClock
from glwork.resilience.retry import RetryPolicy

ASK = "Context: Paris is the capital of France.\nQuestion: What is the capital of France?"


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


@pytest.fixture(scope="module")
def server():
    srv = LocalServer(engine=ExtractiveEngine(why="test"), faults=FaultPlan()).start()
    yield srv
    srv.stop()


def session(server, provider, name, clock, retries=2):
    base = server.url + ("/v1" if provider == "openai" else "")
    model = "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku-latest"
    return ChatSession(provider=provider, model=model, base_url=base, api_key="local-key-0000", name=name,
                       timeout=0.5, retry_policy=RetryPolicy(max_retries=retries, jitter=0, sleep=clock.sleep))


FAULTS = [
    ({"status": 429, "retry_after": 4}, "rate_limit", [4.0]),
    (500, "server_error", [1.0]),
    (503, "server_error", [1.0]),
    ({"fault": "timeout", "seconds": 1}, "timeout", [1.0]),
    ("malformed_json", "server_error", [1.0]),
    ({"fault": "cut_stream", "after": 1}, "connection_error", [1.0]),
]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("fault,code,waits", FAULTS, ids=[str(f[1]) + "-" + str(i) for i, f in enumerate(FAULTS)])
def test_scripted_fault_is_retried_for_that_session_only(server, provider, fault, code, waits):
    clock = FakeClock()
    name = f"faulty-{provider}-{code}"
    server.faults.set([fault], session=name)
    bystander = session(server, provider, "bystander", FakeClock())
    assert "Paris" in bystander.send_message(ASK)            # other sessions see no fault
    s = session(server, provider, name, clock)
    r = s.send_message(ASK)
    assert "Paris" in r and r.attempts == 2 and clock.sleeps == waits
    assert [e["error_code"] for e in s.get_retry_events()] == [code]
    assert bystander.get_retry_events() == []


def test_stream_cut_after_first_chunk_raises_and_before_it_retries(server):
    clock = FakeClock()
    server.faults.set([{"fault": "cut_stream", "after": 3}], session="streamer")
    s = session(server, "openai", "streamer", clock)
    with pytest.raises(LLMError) as e:
        list(s.stream_message(ASK))
    assert e.value.error_code == "stream_interrupted" and clock.sleeps == []
    server.faults.set([{"fault": "cut_stream", "after": 1}], session="streamer")   # anthropic: before any text
    s = session(server, "anthropic", "streamer", clock)
    assert "Paris" in "".join(s.stream_message(ASK)) and clock.sleeps == [1.0]


def test_exhausted_retries_raise_the_last_error(server):
    clock = FakeClock()
    server.faults.set([529, 529, 529], session="overloaded")
    s = session(server, "anthropic", "overloaded", clock)
    with pytest.raises(LLMError) as e:
        s.send_message(ASK)
    assert e.value.error_code == "overloaded" and clock.sleeps == [1.0, 2.0]
    assert [ev["action"] for ev in s.get_retry_events()] == ["retry", "retry", "raise"]
