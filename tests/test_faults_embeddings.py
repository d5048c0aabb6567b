"""Issue 15, item 14: OpenAI embedding calls are tracked like chat calls: ledger, class budget and
rate limiter, with the kit's retries. Against the kit's real local server (its /v1/embeddings) as the
live provider."""
import pytest

from fault_helpers import ledger_path, ledger_rows, server  # noqa: F401
from glwork.embeddings import OpenAIEmbedder, make_embedder
from glwork.errors import BudgetExceededError
from glwork.resilience import class_budget as class_budget_module
from glwork.resilience.class_budget import ClassBudget
from glwork.resilience.clock import FakeClock
from glwork.resilience.limiter import RateLimiter
from glwork.resilience.retry import RetryPolicy

TEXTS = ["Scope 1 covers direct emissions.", "Scope 2 covers purchased electricity."]


@pytest.fixture(autouse=True)
def live_on_the_local_server(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-embeddings-0123456789abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    yield
    ClassBudget(backend="local").set_limits(day=None, month=None)
    class_budget_module._local["spent"].clear()
    class_budget_module._local["reserved"].clear()
    class_budget_module._class_budgets.clear()


def test_an_embedding_request_lands_in_the_ledger_and_the_class_budget(ledger_path):
    ClassBudget().set_limits(day=1.0)
    emb = OpenAIEmbedder("text-embedding-3-small")
    assert emb.encode(TEXTS).shape == (2, 384)
    [row] = ledger_rows()
    assert (row["provider"], row["requested_model"], row["status"], row["session"]) == (
        "openai", "text-embedding-3-small", "ok", "embeddings")
    assert row["input_tokens"] == emb.tokens > 0 and row["cost"] == pytest.approx(emb.tokens * 0.02 / 1e6)
    assert ClassBudget().get_status()["day"]["spent"] == pytest.approx(row["cost"])   # was never booked


def test_the_class_budget_refuses_an_embedding_request_before_it_is_sent(ledger_path):
    ClassBudget().set_limits(day=1e-9)
    with pytest.raises(BudgetExceededError, match="class's day budget"):
        OpenAIEmbedder("text-embedding-3-small").encode(TEXTS)
    assert ledger_rows() == []


def test_the_rate_limiter_admits_embedding_requests(ledger_path):
    limiter = RateLimiter(60, max_tokens_per_minute=10_000, notify=None, backend="local", name="embeddings")
    emb = make_embedder(OpenAIEmbedder("text-embedding-3-small", rate_limiter=limiter, batch_size=1))
    emb.encode(TEXTS)
    stats = limiter.get_stats()
    assert stats["requests_in_window"] == 2 and stats["tokens_in_window"] == emb.tokens   # settled to real use


def test_embedding_requests_are_retried_by_the_kits_policy(server, ledger_path):
    clock = FakeClock()
    server.faults.set([503])
    try:
        emb = OpenAIEmbedder("text-embedding-3-small", retry_policy=RetryPolicy(jitter=0, sleep=clock.sleep))
        emb.encode(TEXTS)
    finally:
        server.faults.clear()
    assert clock.sleeps == [1.0] and [r["status"] for r in ledger_rows()] == ["ok"]
