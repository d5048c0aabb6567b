"""CostTracker: every session's calls land in the ledger without wiring; two processes; corruption."""
import logging
import multiprocessing
import os
import sqlite3
import time
from datetime import datetime

import pytest

from glwork.llm import ChatSession, LLMError
from glwork.monitoring import ledger
from glwork.monitoring.ledger import SCHEMA_VERSION, CostTracker, store
from glwork.resilience.retry import RetryPolicy
from wire_server import cassette, openai_server_error

KEY = "sk-test-ledger-0123456789abcdef"


@pytest.fixture
def path(tmp_path, monkeypatch):
    p = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("GLWORK_LEDGER", str(p))
    return p


def test_sessions_feed_the_default_ledger_without_wiring(wire_server, path):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"),
                      *cassette("anthropic/messages_nonstream_basic.yaml"))
    a = ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1", api_key=KEY, name="nb-1")
    b = ChatSession(provider="anthropic", model="claude-3-5-haiku-latest", base_url=wire_server.url, api_key=KEY)
    ra, rb = a.send_message("Hi"), b.send_message("Hi")
    tracker = CostTracker()
    df = tracker.to_dataframe()       # reads wait for the rows this process queued
    assert tracker.path == str(path) and path.exists()
    assert list(df["provider"]) == ["openai", "anthropic"] and list(df["status"]) == ["ok", "ok"]
    row = df.iloc[0]
    assert row["session"] == "nb-1" and row["requested_model"] == "gpt-4o-mini" and row["model"] == ra.model
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (22, 3, 0)
    assert row["cost"] == pytest.approx(ra.cost) and row["latency_ms"] > 0 and row["mode"] == "live"
    assert isinstance(df["time"].iloc[0], datetime)
    assert tracker.get_daily_cost() == pytest.approx(ra.cost + rb.cost)
    assert tracker.get_monthly_cost() == pytest.approx(ra.cost + rb.cost)
    assert tracker.get_cost_breakdown() == {"anthropic": pytest.approx(rb.cost), "openai": pytest.approx(ra.cost)}
    assert set(tracker.get_cost_breakdown(by="model")) == {ra.model, rb.model}


def test_a_call_that_finally_failed_is_a_row_with_its_error_code(wire_server, path):
    wire_server.queue(openai_server_error(503), openai_server_error(503))
    s = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                    retry_policy=RetryPolicy(max_retries=1, jitter=0, sleep=lambda s: None))
    with pytest.raises(LLMError):
        s.send_message("Hi")
    df = CostTracker().to_dataframe()
    assert list(df["status"]) == ["server_error"] and df["attempts"].iloc[0] == 2 and df["cost"].iloc[0] == 0


def test_periods_use_the_local_calendar(path):
    now = time.time()
    t = CostTracker(clock=lambda: now)
    first_of_month = datetime.fromtimestamp(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    t.add_row(ts=now, provider="openai", model="gpt-4", cost=1.0)
    t.add_row(ts=first_of_month.timestamp() - 1, provider="openai", model="gpt-4", cost=10.0)   # last month
    t.add_row(ts=now - 40 * 86400, provider="anthropic", model="claude-3-opus", cost=100.0)
    t.add_row(ts=now, provider="openai", model="mystery", cost=None)                            # unknown price
    assert t.get_daily_cost() == 1.0 and t.get_monthly_cost() >= 1.0 and t.get_monthly_cost() < 11
    assert t.get_total_cost() == 111.0 and t.get_call_count() == 4
    assert t.get_cost_breakdown() == {"anthropic": 100.0, "openai": 11.0}
    assert t.get_cost_breakdown(by="provider", period="day") == {"openai": 1.0}
    with pytest.raises(LLMError):
        t.get_cost_breakdown(by="cost; DROP TABLE calls")
    assert t.to_dataframe()["cost"].isna().sum() == 1


def test_env_chooses_the_file_and_off_keeps_it_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "x" / "l.db"))
    assert CostTracker().path == str(tmp_path / "x" / "l.db")
    monkeypatch.setenv("GLWORK_LEDGER", "off")
    t = CostTracker()
    t.add_row(provider="openai", cost=2.0)
    assert t.path == ":memory:" and t.get_total_cost() == 2.0
    monkeypatch.delenv("GLWORK_LEDGER")
    assert ledger.default_path().endswith(os.path.join("glwork", "ledger.sqlite3"))


def test_file_is_wal_versioned_and_refuses_a_newer_schema(path):
    t = CostTracker()
    t.add_row(provider="openai", cost=1.0)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute("PRAGMA user_version=99")
    con.close()
    store.for_path(str(path)).close()
    with pytest.raises(LLMError, match="newer"):
        t.get_total_cost()
    store.for_path(str(path)).close()


def test_corrupt_ledger_is_moved_aside_and_a_fresh_one_started(path, caplog):
    path.write_bytes(b"this is not a database" * 200)
    with caplog.at_level(logging.WARNING, logger="glwork"):
        t = CostTracker()
        t.add_row(provider="openai", cost=3.0)
    aside = [p for p in path.parent.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert t.get_total_cost() == 3.0 and "moved to" in caplog.text


def _writer(path, n, tag, go=None):
    t = CostTracker(path=path)
    t.get_call_count()                # open (and create) before the start signal
    if go is not None:
        go.wait(60)
    for i in range(n):
        t.add_row(provider=tag, model="gpt-4", cost=0.001, session=f"{tag}-{i}")


def test_two_processes_writing_at_once_lose_no_row(tmp_path, monkeypatch):
    path = str(tmp_path / "shared.sqlite3")
    monkeypatch.setenv("GLWORK_LEDGER", "off")     # the children write only to `path`
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)            # the three writers begin together, each with the file open
    procs = [ctx.Process(target=_writer, args=(path, 500, f"p{i}", start)) for i in range(2)]
    for p in procs:
        p.start()
    _writer(path, 500, "parent", start)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    t = CostTracker(path=path)
    try:
        assert t.get_call_count() == 1500
        assert {k: round(v, 6) for k, v in t.get_cost_breakdown().items()} == {"p0": 0.5, "p1": 0.5, "parent": 0.5}
        df = t.to_dataframe()
        assert len(set(df["session"])) == 1500 and df["pid"].nunique() == 3
        # the writers really overlapped: rows of the three processes interleave
        order = list(df.sort_values("id")["provider"])
        assert sum(1 for a, b in zip(order, order[1:]) if a != b) > 3
    finally:
        t.close()


def test_a_locked_ledger_never_blocks_a_call(wire_server, path):
    CostTracker().get_call_count()                   # create the file
    other_kernel = sqlite3.connect(path, isolation_level=None)
    other_kernel.execute("BEGIN IMMEDIATE")          # holds the write lock
    try:
        wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
        s = ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1", api_key=KEY)
        assert s.send_message("Hi")                  # returned while the ledger is still locked
    finally:
        other_kernel.execute("COMMIT")
        other_kernel.close()
    assert CostTracker().get_call_count() == 1       # written once the lock was released


def test_rows_still_queued_at_exit_are_written(wire_server, path):
    import subprocess
    import sys
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    code = ("from glwork.llm import ChatSession; "
            f"ChatSession(provider='openai', model='gpt-4o-mini', base_url='{wire_server.url}/v1', "
            f"api_key='{KEY}', name='child').send_message('Hi')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   env={**os.environ, "GLWORK_LEDGER": str(path), "GLWORK_MODE": "live"})
    assert list(CostTracker().to_dataframe()["session"]) == ["child"]


def test_cache_hook_seam_answers_without_the_provider(wire_server, path):
    from glwork.monitoring.health import ProviderHealthMonitor
    from glwork.response import Completion

    class Cache:      # what the semantic cache will plug in
        def __init__(self):
            self.stored = {}

        def before_call(self, session, request):
            return self.stored.get(request.messages[-1]["content"])

        def after_call(self, session, request, response):
            if not response.cached:
                self.stored[request.messages[-1]["content"]] = Completion(
                    str(response), [], response.usage, response.model, response.finish_reason)

    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    s = ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1", api_key=KEY,
                    name="cache-seam", cost_limit=1.0)
    s.add_hook(Cache())
    before = ProviderHealthMonitor().get_status("openai")["requests"]
    first = s.send_message("Which ocean?")
    s.reset()
    again = s.send_message("Which ocean?")
    streamed = list(s.stream_message("Which ocean?"))
    assert len(wire_server.requests) == 1 and str(again) == str(first) == "".join(streamed)
    assert again.cached and again.cost == 0 and not first.cached
    assert s.get_budget()["spent"] == pytest.approx(first.cost)
    assert ProviderHealthMonitor().get_status("openai")["requests"] == before + 1
    df = CostTracker().to_dataframe()
    assert list(df["cached"]) == [False, True, True] and list(df["cost"])[1:] == [0, 0]
