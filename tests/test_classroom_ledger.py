"""CostTracker on the shared backend: one class-wide ledger (a Redis stream), per-attendee views,
no row lost or counted twice, rows kept while Redis is away. Against a real redis-server."""
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glwork import config, events
from glwork.monitoring import ledger
from glwork.monitoring.alerts import CostAlertManager
from glwork.monitoring.ledger import CostTracker, store
from redis_server import StartLine, free_port, redis_server, redis_url, run_processes  # noqa: F401
from wire_server import Canned

KEY = "sk-test-classledger-0123456789abcdef"
ROOT = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def _reset():
    yield
    config.configure(backend_url=None)


def ledger_worker(k, rows, line):
    """One 'kernel' of attendee student-k: half its rows through the event bus (the background
    writer, as ChatSession calls are recorded), half with add_row; returns its costs."""
    os.environ["GLWORK_ATTENDEE"] = f"student-{k}"
    tracker = CostTracker()
    line.arrive()
    costs = []
    for i in range(rows):
        cost = round(0.001 * (k + 1) + 0.0001 * i, 6)
        if i % 2:
            tracker.add_row(provider="openai", model="gpt-4", session=f"s{k}", cost=cost, input_tokens=10)
        else:
            ledger.ensure_default()
            events.emit("llm_error", action="raise", provider="anthropic", model="claude-3-opus",
                        session=f"s{k}", error_code="rate_limit", attempts=3, time=time.time())
            cost = 0.0
        costs.append(cost)
    assert ledger.flush(30)
    return costs


def test_eight_processes_lose_no_row_and_count_none_twice(redis_url, tmp_path):
    rows = 40
    line = StartLine(tmp_path / "start")
    results = run_processes(ledger_worker, [(k, rows, line) for k in range(8)], start_line=line)
    tracker = CostTracker()
    assert tracker.shared and tracker.get_call_count() == 8 * rows
    assert tracker._shared.count() == 8 * rows                     # in Redis itself
    assert tracker.get_daily_cost() == pytest.approx(sum(map(sum, results)), abs=1e-9)
    by_attendee = tracker.get_cost_breakdown(by="attendee")
    assert set(by_attendee) == {f"student-{k}" for k in range(8)}
    for k, costs in enumerate(results):
        assert by_attendee[f"student-{k}"] == pytest.approx(sum(costs), abs=1e-9)
        mine = CostTracker(attendee=f"student-{k}")
        assert mine.get_call_count() == rows and mine.get_monthly_cost() == pytest.approx(sum(costs), abs=1e-9)
    df = tracker.to_dataframe()
    assert len(df) == 8 * rows and df["pid"].nunique() == 8
    assert (df["status"] == "rate_limit").sum() == 8 * rows // 2
    assert tracker.get_cost_breakdown(by="provider")["openai"] == pytest.approx(tracker.get_total_cost(), abs=1e-9)


def test_a_session_call_lands_in_the_class_ledger_with_its_attendee(redis_url, wire_server, monkeypatch):
    monkeypatch.setenv("GLWORK_ATTENDEE", "ana")
    from glwork.llm import ChatSession
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}}
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                name="lab-1").send_message("Hello")
    df = CostTracker().to_dataframe()
    assert list(df["attendee"]) == ["ana"] and list(df["session"]) == ["lab-1"]
    assert df["cost"][0] == pytest.approx((20 * 30 + 10 * 60) / 1e6)
    assert CostTracker(attendee="bob").get_call_count() == 0


def test_rows_wait_while_redis_is_down_and_are_sent_when_it_is_back(redis_server, redis_url, caplog):
    tracker = CostTracker()
    tracker.add_row(provider="openai", cost=0.01)
    assert tracker.get_daily_cost() == pytest.approx(0.01)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="glwork"):
        t0 = time.monotonic()
        for _ in range(3):
            tracker.add_row(provider="openai", cost=0.10)
        assert tracker.get_daily_cost() == pytest.approx(0.01)   # the rows seen so far, no hang
        assert time.monotonic() - t0 < 2.0
    assert tracker._shared.pending == 3 and "rows seen until" in caplog.text
    redis_server.start()                                         # empty: tests keep no data on disk
    time.sleep(1.05)
    assert tracker.get_daily_cost() == pytest.approx(0.31)       # the 3 waiting rows arrived
    assert tracker._shared.pending == 0 and tracker._shared.count() == 3


def test_a_row_sent_twice_is_counted_once(redis_url):
    tracker = CostTracker()
    tracker.add_row(provider="openai", cost=0.5)
    shared = tracker._shared
    entry = shared.backend.link.run(lambda r: r.xrange(shared.stream))[0][1]
    shared.backend.link.run(lambda r: r.xadd(shared.stream, entry))   # a retry whose first reply was lost
    assert shared.count() == 2 and tracker.get_call_count() == 1 and tracker.get_total_cost() == pytest.approx(0.5)


def test_rows_still_waiting_at_exit_go_to_the_local_sqlite_ledger(tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    local = tmp_path / "fallback.sqlite3"
    script = ("from glwork.monitoring.ledger import CostTracker\n"
              "t = CostTracker()\n"
              "t.add_row(provider='openai', model='gpt-4', cost=0.25, session='offline')\n")
    env = {**os.environ, "GLWORK_BACKEND_URL": dead, "GLWORK_LEDGER": str(local)}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - t0 < 60             # ~3 s of retries at exit, then SQLite: no hang
    assert "written to the local ledger" in done.stderr
    rows = sqlite3.connect(local).execute("SELECT session, cost, attendee FROM calls").fetchall()
    assert rows == [("offline", 0.25, rows[0][2])] and rows[0][2]


def test_alert_marks_are_class_wide_and_alerts_see_the_class_total(redis_url):
    a, b = CostTracker(), CostTracker()
    assert a.mark_alert_fired("day>=$1", "2026-01-01") is True
    assert b.mark_alert_fired("day>=$1", "2026-01-01") is False        # another kernel: already posted
    fired = []
    alerts = CostAlertManager(tracker=a)
    alerts.set_alert(threshold=1.0, period="day", notification=fired.append)
    try:
        run_processes(ledger_spender, [(0.9,)])                        # another kernel spends $0.90
        a.add_row(provider="openai", cost=0.2)                          # this one $0.20: class total $1.10
        assert len(fired) == 1 and fired[0]["total"] == pytest.approx(1.1)
    finally:
        alerts.close()


def ledger_spender(cost):
    CostTracker().add_row(provider="openai", model="gpt-4", cost=cost)


def test_sqlite_ledger_of_schema_1_gains_the_attendee_column(tmp_path):
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    old_schema = store.SCHEMA.replace("mode TEXT, pid INTEGER,\n    attendee TEXT,                 -- who made the "
                                      "call (schema 2)\n    source TEXT                    -- \"live\" (billed), "
                                      "\"recorded\" or \"local\" (free), schema 3\n", "mode TEXT, pid INTEGER\n")
    assert "attendee" not in old_schema and "source" not in old_schema
    con.executescript(old_schema)
    con.execute("INSERT INTO calls (ts, provider, cost, status) VALUES (?, 'openai', 0.5, 'ok')", (time.time(),))
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    tracker = CostTracker(path=path)
    try:
        assert tracker.get_total_cost() == pytest.approx(0.5)
        tracker.add_row(provider="openai", cost=0.25, attendee="ana")
        assert tracker.get_cost_breakdown(by="attendee") == {"ana": 0.25, None: 0.5}
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == ledger.SCHEMA_VERSION
    finally:
        tracker.close()
