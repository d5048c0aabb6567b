"""What the fault suite (tests/test_faults_*.py) shares: the kit's real local server, with the
extractive engine (no LLM, fast), answering as "the provider" of sessions in live mode; its engine
keeps every request it generated for, so a test can read what was sent (e.g. max_tokens)."""
import pytest

from glwork.llm import ChatSession
from glwork.local.extractive import ExtractiveEngine
from glwork.local.faults import FaultPlan
from glwork.local.server import LocalServer
from glwork.monitoring.ledger import CostTracker
from glwork.resilience.clock import FakeClock
from glwork.resilience.retry import RetryPolicy

ASK = ("Context: Paris is the capital of France. It has about two million inhabitants and many museums.\n"
       "Question: What is the capital of France?")
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}


class RecordingEngine(ExtractiveEngine):
    """The extractive engine, keeping each request it answered (GenRequest: max_tokens, messages...)."""

    def __init__(self):
        super().__init__(why="fault suite")
        self.requests = []

    def chat(self, req):
        self.requests.append(req)
        return super().chat(req)


@pytest.fixture(scope="module")
def server():
    srv = LocalServer(engine=RecordingEngine(), faults=FaultPlan()).start()
    yield srv
    srv.stop()


@pytest.fixture
def ledger_path(tmp_path, monkeypatch):
    """This test's own ledger file (every call of every session lands there)."""
    path = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("GLWORK_LEDGER", str(path))
    return path


def session(server, name, provider="openai", retries=1, clock=None, **kw):
    """A live-mode session whose provider is the local server; scripted faults target `name`."""
    base = server.url + ("/v1" if provider == "openai" else "")
    clock = clock or FakeClock()
    return ChatSession(provider=provider, model=kw.pop("model", MODELS[provider]), base_url=base,
                       api_key="sk-test-faults-0123456789abcdef", name=name, timeout=kw.pop("timeout", 2.0),
                       retry_policy=RetryPolicy(max_retries=retries, jitter=0, sleep=clock.sleep), **kw)


def ledger_rows():
    """Every row of the default ledger (this test's, see ledger_path), oldest first, as dicts."""
    return CostTracker().to_dataframe().to_dict("records")
