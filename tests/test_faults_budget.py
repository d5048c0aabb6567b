"""Issue 15, items 1, 2, 3 and 7: every call that may be billed is reserved before it is sent and
recorded afterwards (session totals, ledger, class budget), whatever breaks: a fallback route, a
stream broken off by the reader or the network, a timeout, a broken body. Against the kit's real
local server (faults scripted per session name)."""
import pytest

import glwork.local
from fault_helpers import ASK, ledger_path, ledger_rows, server, session  # noqa: F401
from glwork import errors
from glwork.llm import BudgetExceededError, ChatSession, CostAlertManager, LLMError
from glwork.monitoring import pricing
from glwork.monitoring.ledger import flush
from glwork.resilience import budget as budget_module
from glwork.resilience import class_budget as class_budget_module
from glwork.resilience.class_budget import ClassBudget
from glwork.resilience.retry import RetryPolicy
from glwork.response import Usage


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")
    yield
    ClassBudget(backend="local").set_limits(day=None, month=None)
    class_budget_module._local["spent"].clear()
    class_budget_module._local["reserved"].clear()
    class_budget_module._class_budgets.clear()
    glwork.local.clear_faults()


def class_spent():
    return ClassBudget().get_status()["day"]["spent"]


# ---- item 1: fallback routes keep the budget ----------------------------------------------------------
def local_primary_live_fallback(server, monkeypatch, name, **kw):
    """ChatSession("anthropic", fallback_provider="openai") with only OPENAI_API_KEY set: the primary
    runs in local mode (the kit's own local backend), the fallback live (here: the test server)."""
    monkeypatch.delenv("GLWORK_MODE")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fallback-0123456789abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    glwork.local.inject_faults([503, 503], session=name)          # the primary fails, twice
    s = ChatSession("anthropic", fallback_provider="openai", name=name,
                    retry_policy=RetryPolicy(max_retries=1, jitter=0, sleep=lambda s: None), **kw)
    assert s.mode == "local"
    return s


def test_a_live_fallback_behind_a_local_primary_is_refused_by_the_class_budget(server, monkeypatch, ledger_path):
    ClassBudget().set_limits(day=0.000001)                          # less than any call
    s = local_primary_live_fallback(server, monkeypatch, "fb-refused")
    sent = len(server.engine.requests)
    with pytest.raises(BudgetExceededError, match="class's day budget"):
        s.send_message(ASK)
    assert len(server.engine.requests) == sent                      # the live call was never sent


def test_a_live_fallback_is_booked_on_the_class_budget_and_not_capped(server, monkeypatch, ledger_path):
    ClassBudget().set_limits(day=10.0)
    s = local_primary_live_fallback(server, monkeypatch, "fb-booked")
    reply = s.send_message(ASK)
    assert reply.fallback_used and "Paris" in reply
    assert class_spent() == pytest.approx(float(reply.cost)) and class_spent() > 0
    assert server.engine.requests[-1].max_tokens is None            # no 1,024 cap sent (item 7)


# ---- item 7: a class budget does not cap replies ----------------------------------------------------
def test_with_a_class_budget_a_reply_is_not_capped_and_a_set_max_tokens_is_kept(server, ledger_path):
    ClassBudget().set_limits(day=10.0)
    session(server, "uncapped").send_message(ASK)
    assert server.engine.requests[-1].max_tokens is None            # was 1,024: empty reasoning replies
    session(server, "capped", max_tokens=40).send_message(ASK)
    assert server.engine.requests[-1].max_tokens == 40


def test_the_reservation_covers_the_models_own_output_limit(server, ledger_path):
    # gpt-4o-mini: 16,384 output tokens at $0.60 / 1M = $0.0098 at most; a day limit below it refuses.
    ClassBudget().set_limits(day=0.009)
    with pytest.raises(BudgetExceededError, match=r"up to \$0\.0098"):
        session(server, "bounded").send_message(ASK)
    session(server, "bounded", max_tokens=100).send_message(ASK)   # its own max_tokens fits


# ---- item 2: interrupted streams are recorded ---------------------------------------------------------
def stream_and_break(s, after=2):
    for n, _ in enumerate(s.stream_message(ASK), 1):
        if n == after:
            break


def test_breaking_out_of_a_stream_books_what_was_streamed(server, ledger_path):
    ClassBudget().set_limits(day=10.0)
    s = session(server, "breaker", cost_limit=1.0)
    stream_and_break(s)                         # the generator is dropped here: CPython closes it
    [record] = s.get_calls()
    assert record.status == "interrupted" and record.cost_is_estimate and record.streamed
    assert record.usage.input_tokens > 10 and 1 <= record.usage.output_tokens <= 4
    assert 0 < record.cost < 0.0001                                   # the tokens, not the worst case
    budget = s.get_budget()
    assert budget["spent"] == pytest.approx(float(record.cost)) and budget["reserved"] == 0
    assert class_spent() == pytest.approx(float(record.cost))        # was $0 on the class budget
    [row] = ledger_rows()
    assert row["status"] == "interrupted" and row["cost"] == pytest.approx(float(record.cost))
    assert row["cost_is_estimate"] and row["session"] == "breaker"


def test_a_broken_off_stream_settles_its_rate_limiter_grant_with_what_it_used(server, ledger_path):
    from glwork.resilience.limiter import RateLimiter
    limiter = RateLimiter(60, max_tokens_per_minute=100_000, notify=None, backend="local")
    s = session(server, "limited", rate_limiter=limiter)
    stream_and_break(s)
    [record] = s.get_calls()
    assert limiter.get_stats()["tokens_in_window"] == record.usage.total_tokens    # not the reservation


def test_ctrl_c_in_the_middle_of_a_stream_is_booked(server, ledger_path):
    s = session(server, "ctrl-c")
    gen = s.stream_message(ASK)
    next(gen)
    with pytest.raises(KeyboardInterrupt):
        gen.throw(KeyboardInterrupt)
    [record] = s.get_calls()
    assert record.status == "interrupted" and record.cost > 0
    assert [r["status"] for r in ledger_rows()] == ["interrupted"]


def test_a_stream_cut_midway_is_booked_once_with_its_estimate(server, ledger_path):
    server.faults.set([{"fault": "cut_stream", "after": 4}], session="cut")
    s = session(server, "cut")
    with pytest.raises(LLMError) as err:
        list(s.stream_message(ASK))
    assert err.value.error_code == "stream_interrupted"
    [record] = s.get_calls()
    assert record.status == "stream_interrupted" and record.cost_is_estimate and record.cost > 0
    rows = ledger_rows()
    assert [(r["status"], r["cost"] > 0) for r in rows] == [("stream_interrupted", True)]   # was one row at $0


def test_an_interrupted_stream_reaches_the_alerts(server, ledger_path):
    fired = []
    alerts = CostAlertManager()
    alerts.set_alert(threshold=0.000001, period="session", notification=fired.append)
    try:
        stream_and_break(session(server, "alerted"))
        flush()                                  # alerts are checked as the ledger writes the row
    finally:
        alerts.close()
    assert [a["period_key"] for a in fired] == ["session alerted"]


def test_an_unknown_cost_books_the_worst_case_on_the_class_budget_too():
    ClassBudget().set_limits(day=1.0)
    ClassBudget().reserve(0.3).settle(None)            # a partial reply with no price: was $0 here
    assert class_spent() == pytest.approx(0.3)


# ---- item 3: failed attempts that may be billed are booked --------------------------------------------
@pytest.mark.parametrize("fault,status", [({"fault": "timeout", "seconds": 2}, "timeout"),
                                          ("malformed_json", "server_error")])
def test_a_failed_attempt_the_provider_may_have_billed_is_booked_as_an_estimate(server, ledger_path, fault, status):
    ClassBudget().set_limits(day=10.0)
    server.faults.set([fault], session=f"billed-{status}")
    s = session(server, f"billed-{status}", timeout=0.5)
    reply = s.send_message(ASK)
    failed, ok = s.get_calls()
    assert (failed.status, failed.cost_is_estimate, ok.status) == (status, True, "ok")
    assert failed.usage.input_tokens > 10 and failed.cost > 0
    assert s.get_cost() == pytest.approx(float(failed.cost) + float(reply.cost))
    assert class_spent() == pytest.approx(float(failed.cost) + float(reply.cost))
    rows = ledger_rows()
    assert [(r["status"], bool(r["cost_is_estimate"])) for r in rows] == [(status, True), ("ok", ok.cost_is_estimate)]


def test_an_attempt_refused_with_an_http_status_costs_nothing(server, ledger_path):
    server.faults.set([500], session="refused")
    s = session(server, "refused", cost_limit=1.0)
    s.send_message(ASK)
    assert [c.status for c in s.get_calls()] == ["ok"]
    assert [r["status"] for r in ledger_rows()] == ["ok"]


def test_a_call_that_fails_for_good_after_billable_attempts_is_booked_once_per_attempt(server, ledger_path):
    server.faults.set(["malformed_json", "malformed_json"], session="hopeless")
    s = session(server, "hopeless", cost_limit=1.0)
    with pytest.raises(errors.ServerError):
        s.send_message(ASK)
    rows = ledger_rows()
    assert [r["status"] for r in rows] == ["server_error", "server_error"]   # no extra $0 failure row
    assert all(r["cost"] > 0 and r["cost_is_estimate"] for r in rows)
    assert s.get_budget()["spent"] == pytest.approx(sum(r["cost"] for r in rows)) and s.get_budget()["reserved"] == 0


def test_each_attempt_is_reserved_before_it_is_sent(server, ledger_path):
    # Room for one worst case plus half the booked estimate of a timed-out attempt: the retry after
    # it no longer fits, so it is refused before it is sent (one hold no longer covers every retry).
    probe = session(server, "one-try")
    prompt = probe.estimate_tokens(ASK)
    worst = budget_module.worst_case_cost("gpt-4o-mini", prompt, 2000)
    estimate = pricing.cost_of(Usage(prompt, 0), "gpt-4o-mini")
    s = session(server, "one-try", max_tokens=2000, timeout=0.5, cost_limit=worst + estimate / 2)
    server.faults.set([{"fault": "timeout", "seconds": 2}], session="one-try")
    sent = len(server.engine.requests)
    with pytest.raises(BudgetExceededError):
        s.send_message(ASK)
    assert len(server.engine.requests) == sent                   # the retry was never sent
    assert [c.status for c in s.get_calls()] == ["timeout"]
    assert s.get_budget()["spent"] == pytest.approx(estimate) and s.get_budget()["reserved"] == 0
