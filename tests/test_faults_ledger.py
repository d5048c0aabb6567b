"""Issue 15, item 5: the ledger writer never drops a batch. A ledger locked past the busy timeout (or a
full disk) keeps the rows and retries; what is still unwritten at exit goes to a side file that the
next process opening the ledger imports. Real SQLite locks, real processes, the real local server."""
import glob
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from fault_helpers import ASK, ledger_path, server, session  # noqa: F401
from glwork.monitoring import ledger
from glwork.monitoring.ledger import store, writer


@pytest.fixture
def quick_busy(monkeypatch):
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(writer, "RETRY_S", 0.2)
    store.forget_stores()          # reopened with the short timeout


def hold_lock(path):
    """Another 'kernel' holding the ledger's write lock (an exclusive transaction)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS keepalive (x)")
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def count_rows(path):
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT COUNT(*), TOTAL(cost) FROM calls").fetchone()
    finally:
        conn.close()


def test_rows_written_while_the_ledger_is_locked_are_kept_and_written_later(server, ledger_path, quick_busy):
    store.for_path(str(ledger_path)).conn()            # the ledger exists
    lock = hold_lock(ledger_path)
    try:
        reply = session(server, "locked-out").send_message(ASK)
        ledger.flush(5)                              # one write attempt: refused by the lock
        assert count_rows(ledger_path)[0] == 0       # (WAL: readers still read)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and count_rows(ledger_path)[0] == 0:
        time.sleep(0.1)
    assert count_rows(ledger_path) == (1, pytest.approx(float(reply.cost)))   # was dropped with a warning


def test_a_full_disk_keeps_the_rows_until_it_has_room(ledger_path, monkeypatch, quick_busy):
    store.for_path(str(ledger_path)).conn()            # the ledger exists
    real = store.LedgerStore.insert_many
    failures = []

    def full_disk(self, sql, rows):
        if len(failures) < 2:
            failures.append(1)
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, sql, rows)
    monkeypatch.setattr(store.LedgerStore, "insert_many", full_disk)
    ledger.ensure_default()
    from glwork import events
    from glwork.response import Usage
    from glwork.session import CallRecord
    events.emit("llm_call", record=CallRecord("openai", "gpt-4", "gpt-4", Usage(10, 5), 0.0006, False, 12.0),
                session="disk", mode="live")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and count_rows(ledger_path)[0] == 0:
        time.sleep(0.1)
    assert len(failures) == 2 and count_rows(ledger_path)[0] == 1


CHILD = """
import sys, time
from glwork import events
from glwork.monitoring import ledger
from glwork.monitoring.ledger import store
from glwork.response import Usage
from glwork.session import CallRecord
store.BUSY_TIMEOUT_S = 0.2
ledger.ensure_default()
for i in range(3):
    events.emit("llm_call", record=CallRecord("openai", "gpt-4", "gpt-4", Usage(100, 50), 0.006, False, 5.0),
                session="exiting", mode="live")
"""


def run_child(code, path):
    env = {**os.environ, "GLWORK_LEDGER": str(path)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_rows_unwritten_at_exit_go_to_a_side_file_that_the_next_start_imports(ledger_path):
    side_files = lambda: glob.glob(f"{ledger_path}.pending-*.jsonl")   # noqa: E731
    store.for_path(str(ledger_path)).conn()
    store.forget_stores()
    lock = hold_lock(ledger_path)
    try:
        child = run_child(CHILD, ledger_path)       # a kernel that exits while the ledger is locked
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert child.returncode == 0, child.stderr
    assert "saved to" in child.stderr and len(side_files()) == 1
    assert count_rows(ledger_path)[0] == 0
    nxt = run_child("from glwork.monitoring.ledger import CostTracker\nprint(CostTracker().get_call_count())",
                    ledger_path)
    assert nxt.stdout.strip() == "3", nxt.stderr            # imported by the next process
    assert side_files() == [] and count_rows(ledger_path) == (3, pytest.approx(0.018))
