"""ProviderHealthMonitor: fed by session events; state transitions over a rolling window (fake clock)."""
import pytest

from glwork.llm import ChatSession, LLMError
from glwork.monitoring import health
from glwork.monitoring.health import HealthCollector, ProviderHealthMonitor
from glwork.resilience.clock import FakeClock
from glwork.resilience.retry import RetryPolicy
from glwork.response import Usage
from glwork.session import CallRecord
from wire_server import cassette, openai_rate_limit, openai_server_error

KEY = "sk-test-health-0123456789abcdef"


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


class Feed:
    """Events as sessions emit them, at fake times, into a private collector."""

    def __init__(self):
        self.clock = FakeClock(1000.0)
        self.collector = HealthCollector()
        self.monitor = ProviderHealthMonitor(window=60, clock=self.clock, collector=self.collector)

    def ok(self, latency=100.0, provider="openai"):
        rec = CallRecord(provider, "gpt-4", "gpt-4", Usage(10, 5), 0.001, False, latency, time=self.clock())
        self.collector.observe({"kind": "llm_call", "record": rec, "attempt_latency_ms": latency})

    def fail(self, code="server_error", retried=False, retryable=True, provider="openai"):
        self.collector.observe({"kind": "llm_retry" if retried else "llm_error", "provider": provider,
                                "time": self.clock(), "error_code": code, "retryable": retryable, "latency_ms": 5.0})

    def state(self, provider="openai"):
        return self.monitor.get_status(provider)["state"]


def test_state_transitions_healthy_degraded_down_and_back():
    f = Feed()
    assert f.state() == "unknown" and f.monitor.get_status("openai")["avg_latency"] is None
    for _ in range(10):
        f.ok()
        f.clock.advance(1)
    assert f.state() == "healthy"
    f.fail()                                   # 1 of 11 failed, and it is the latest
    assert f.state() == "degraded"
    f.ok()
    assert f.state() == "healthy"              # 1/12 = 8.3% < 10%
    f.fail(retried=True), f.fail(retried=True), f.fail()
    st = f.monitor.get_status("openai")
    assert st["state"] == "down" and st["retries"] == 2 and st["errors"] == 4
    f.ok(), f.ok(), f.ok()
    assert f.state() == "degraded"             # 4 of 15 in the window still failed
    f.clock.advance(61)                        # the window rolls past all of it
    assert f.state() == "unknown"
    f.ok()
    assert f.state() == "healthy"


def test_latency_figures_and_slow_provider_is_degraded():
    f = Feed()
    for ms in range(100, 2100, 100):           # 100 .. 2000 ms
        f.ok(latency=ms)
    st = f.monitor.get_status("openai")
    assert st["avg_latency"] == 1050.0 and st["p95_latency"] == 1900.0 and st["requests"] == 20
    assert st["state"] == "healthy" and st["error_rate"] == 0.0
    f.ok(latency=20_000), f.ok(latency=30_000)
    assert f.state() == "degraded"             # p95 over 10 s


def test_client_errors_do_not_count_against_the_provider():
    f = Feed()
    f.ok()
    for _ in range(5):
        f.fail(code="invalid_request", retryable=False)
    st = f.monitor.get_status("openai")
    assert st["client_errors"] == 5 and st["errors"] == 0 and st["error_rate"] == 0.0 and st["state"] == "healthy"


def test_providers_are_separate():
    f = Feed()
    f.fail(provider="openai"), f.fail(provider="openai"), f.fail(provider="openai")
    f.ok(provider="anthropic")
    assert f.state("openai") == "down" and f.state("anthropic") == "healthy"
    assert set(f.monitor.get_all_status()) == {"openai", "anthropic"}


def test_sessions_feed_the_default_monitor_without_wiring(wire_server):
    health._default.clear()                          # samples of earlier tests in this process
    wire_server.queue(openai_rate_limit("1"), *cassette("openai/chat_nonstream_basic.yaml"),
                      openai_server_error(500), openai_server_error(500))
    s = ChatSession(provider="azure", model="gpt-4", azure_endpoint=wire_server.url, api_key=KEY,
                    retry_policy=RetryPolicy(max_retries=1, jitter=0, sleep=lambda s: None))
    s.send_message("Hi")
    with pytest.raises(LLMError):
        s.send_message("Hi again")
    st = ProviderHealthMonitor().get_status("azure")     # created after the calls: still sees them
    assert st["requests"] == 4 and st["retries"] == 2
    assert st["avg_latency"] > 0 and st["error_rate"] > 0 and st["state"] == "down"
    assert st["last_error"]["error_code"] == "server_error"
