"""Issue 15, item 6: free local and replayed calls are not spend. They are recorded with the price
they would have had, but CostTracker totals and cost alerts count money only, unless asked to count
them (include_free=True). A local call against the kit's own local backend, a live one against the
real local server standing in for a provider."""
import sqlite3
import time

import pytest

import glwork.local
from fault_helpers import ASK, ledger_path, server, session  # noqa: F401
from glwork.llm import ChatSession, CostAlertManager, CostTracker
from glwork.monitoring.ledger import flush, store


@pytest.fixture
def local_call(monkeypatch, ledger_path):
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")
    glwork.local.clear_faults()

    def call(name="free-local"):
        reply = ChatSession("openai", model="gpt-4", mode="local", name=name).send_message(ASK)
        flush()
        return reply
    return call


def test_a_local_call_is_recorded_but_is_not_spend(local_call):
    reply = local_call()
    assert reply.source == "local" and reply.cost > 0                 # priced as if, and said so
    [row] = CostTracker().to_dataframe().to_dict("records")
    assert row["source"] == "local" and not row["billed"]
    assert CostTracker().get_total_cost() == 0 and CostTracker().get_daily_cost() == 0   # was the as-if price
    assert CostTracker().get_cost_breakdown() == {}
    assert CostTracker(include_free=True).get_total_cost() == pytest.approx(float(reply.cost))
    summary = CostTracker().get_cost_summary()
    assert summary["spent"] == 0 and summary["free_as_if"] == pytest.approx(float(reply.cost))


def test_live_spend_is_counted_apart_from_free_calls(local_call, server):
    free = local_call()
    live = session(server, "paid").send_message(ASK)
    flush()
    tracker = CostTracker()
    assert tracker.get_total_cost() == pytest.approx(float(live.cost))
    assert tracker.get_cost_breakdown(by="source") == {"live": pytest.approx(float(live.cost))}
    assert CostTracker(include_free=True).get_cost_breakdown(by="source") == {
        "live": pytest.approx(float(live.cost)), "local": pytest.approx(float(free.cost))}
    assert tracker.get_call_count() == 2                               # a count is not spend


@pytest.mark.parametrize("period", ["day", "session"])
def test_a_learner_gets_no_cost_alert_for_calls_that_cost_nothing(local_call, period):
    fired, as_if = [], []
    alerts = CostAlertManager()
    alerts.set_alert(threshold=0.000001, period=period, notification=fired.append)
    trying = CostAlertManager(CostTracker(include_free=True))       # alerts tried without a key
    trying.set_alert(threshold=0.000001, period=period, notification=as_if.append)
    try:
        local_call(f"alert-{period}")
    finally:
        alerts.close()
        trying.close()
    assert fired == [] and len(as_if) == 1


def test_an_older_ledger_learns_which_rows_were_free(ledger_path):
    old = store.SCHEMA.replace("    source TEXT                    -- \"live\" (billed), \"recorded\" or \"local\" "
                               "(free), schema 3\n", "").replace("attendee TEXT,", "attendee TEXT")
    assert "source" not in old
    con = sqlite3.connect(ledger_path)
    con.executescript(old)
    for mode, cost in (("live", 0.5), ("replay", 0.25), ("local", 0.125)):
        con.execute("INSERT INTO calls (ts, provider, cost, status, mode) VALUES (?, 'openai', ?, 'ok', ?)",
                    (time.time(), cost, mode))
    con.execute("PRAGMA user_version=2")
    con.commit()
    con.close()
    store.forget_stores()
    assert CostTracker().get_total_cost() == pytest.approx(0.5)
    assert CostTracker().get_cost_summary()["free_as_if"] == pytest.approx(0.375)
