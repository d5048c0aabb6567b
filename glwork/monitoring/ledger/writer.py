"""Rows into the ledger: the process's background writer, fed from the event bus.

Sessions publish `llm_call` (and `llm_charge`, and `llm_error` for calls that finally failed)
events; ensure_default() subscribes once per process, the first time a ChatSession or a
CostTracker is created, and each event becomes one row for the default ledger (plus the files of
CostTrackers made with path=). The default ledger is the SQLite file of store.default_path(), or
with a shared backend configured the class ledger in Redis (RedisBackend.ledger()).

One background thread per process writes them in batches (one short transaction per batch), so
a call never waits for the disk or for another kernel's lock; flush() waits for rows already
queued (read-your-writes), and rows still queued at interpreter exit are flushed. A batch that
cannot be written is kept and retried; what is still unwritten at exit goes to a side file that
the next process opening that ledger imports. Nothing is dropped.
"""
from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from typing import Any

from ... import backends, events
from ...config import source_of
from ...security import get_logger
from .. import spool
from . import store

log = get_logger("glwork.monitoring.ledger")
BATCH_WINDOW_S = 0.2
RETRY_S = 1.0
_feed: dict[str, Any] = {"unsubscribe": None, "extra": set(), "writer": None}
_feed_lock = threading.Lock()


class Writer:
    """The process's background ledger writer: drains a queue in batches, one transaction per file.

    A batch that cannot be written (the disk is full, another kernel holds the lock past the busy
    timeout) is kept and tried again every RETRY_S with the next rows; what is still unwritten at
    exit goes to a side file next to the ledger, imported by the next process that opens it."""

    def __init__(self):
        self.pid = os.getpid()
        self.queue = queue.SimpleQueue()
        self.hurry = threading.Event()
        self.failed = {}              # path -> rows waiting for a retry, oldest first
        self.lock = threading.Lock()  # over `failed` (the exit hook takes it)
        self._warned = set()
        self.thread = threading.Thread(target=self._run, name="glwork-ledger", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                batch = [self.queue.get(timeout=RETRY_S if self.failed else None)]
            except queue.Empty:
                batch = []
            # Collect a window's worth of rows before writing: a thread woken on every call takes the
            # GIL from the caller's next request (measured: +0.25 ms a call over loopback HTTP).
            # flush() cuts the wait short.
            if batch and not isinstance(batch[0], threading.Event) and self.hurry.wait(BATCH_WINDOW_S):
                self.hurry.clear()
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            with self.lock:
                by_path, self.failed = self.failed, {}    # waiting rows first, in their order
            done = []
            for item in batch:
                if isinstance(item, threading.Event):
                    done.append(item)
                else:
                    by_path.setdefault(item[0], []).append(item[1])
            for path, rows in by_path.items():
                self._write(path, rows)
            for event in done:
                event.set()

    def _write(self, path, rows):
        try:
            write_rows(path, rows)
        except Exception as exc:   # keep them: monitoring must not take the kit down, nor lose money
            with self.lock:
                self.failed[path] = rows + self.failed.get(path, [])
            if path not in self._warned:
                self._warned.add(path)
                log.warning("%d call(s) could not be written to the cost ledger %s yet (%s); they are kept and "
                            "retried every %g s (saved to a side file at exit if it stays unwritable).",
                            len(rows), path, exc, RETRY_S)
            return False
        if path in self._warned:
            self._warned.discard(path)
            log.warning("The cost ledger %s is writable again; the waiting calls were written.", path)
        return True

    def flush(self, timeout):
        done = threading.Event()
        self.queue.put(done)
        self.hurry.set()
        return done.wait(timeout)

    def save_leftovers(self):
        """At exit: one last try, then rows still unwritten go to side files (never dropped)."""
        with self.lock:
            left, self.failed = self.failed, {}
        for path, rows in left.items():
            try:
                write_rows(path, rows)
                continue
            except Exception as exc:
                reason = exc
            save_rows(path, rows, reason)


def save_rows(path: str, rows: list[dict[str, Any]], reason: BaseException) -> None:
    """Rows that cannot be written now: to a side file next to the ledger `path` (imported later)."""
    if path in _shared_ledgers:      # the class ledger's own exit hook already fell back to SQLite
        path = store.default_path()
    if path == store.MEMORY:
        log.warning("%d cost ledger row(s) could not be written before exit (%s) and this process's ledger "
                    "is in memory: they are lost.", len(rows), reason)
        return
    where = spool.write(path, rows)
    if where:
        log.warning("%d cost ledger row(s) could not be written to %s before exit (%s); saved to %s, which "
                    "the next process opening that ledger imports.", len(rows), path, reason, where)


def _writer() -> Writer:
    with _feed_lock:
        w = _feed["writer"]
        if w is None or w.pid != os.getpid():   # after a fork the parent's thread is gone
            w = _feed["writer"] = Writer()
        return w


def flush(timeout: float = 10.0) -> bool:
    """Wait until every call already recorded by this process is in the ledger file (or, if it cannot
    be written now, kept for a retry)."""
    w = _feed["writer"]
    if w is None or w.pid != os.getpid() or threading.current_thread() is w.thread:
        return True   # nothing queued, or asked by the writer itself (an alert check): no self-wait
    return w.flush(timeout)


@atexit.register
def _at_exit() -> None:
    flush(5.0)
    w = _feed["writer"]
    if w is not None and w.pid == os.getpid():
        w.save_leftovers()


def ensure_default() -> None:
    """Subscribe the ledger writer to the event bus (once per process). Called by ChatSession."""
    with _feed_lock:
        if _feed["unsubscribe"] is None:
            _feed["unsubscribe"] = events.subscribe(_on_event)


def watch(path: str) -> None:
    """Also write every call of this process to the ledger `path` (a CostTracker's own file)."""
    with _feed_lock:
        _feed["extra"].add(path)


def unwatch(path: str) -> None:
    with _feed_lock:
        _feed["extra"].discard(path)


def default_target() -> str:
    """Where calls go by default: the shared backend's ledger (its label) or the SQLite file."""
    backend = backends.current()
    if backend is None:
        return store.default_path()
    return shared_ledger(backend).label


def _targets() -> set[str]:
    # Read at each write, so GLWORK_LEDGER / GLWORK_BACKEND_URL set later (a test's) wins.
    return {default_target()} | _feed["extra"]


def _on_event(event: dict[str, Any]) -> None:
    kind = event.get("kind")
    if kind in ("llm_call", "llm_charge"):    # a reply, or what a failed / broken-off attempt may have cost
        row = row_from_record(event["record"], event)
    elif kind == "llm_error" and event.get("action") == "raise" and not event.get("booked"):
        row = {"ts": event.get("time") or time.time(), "session": event.get("session"),
               "provider": event.get("provider"), "model": event.get("model"),
               "requested_model": event.get("requested_model") or event.get("model"), "cost": 0.0,
               "attempts": event.get("attempts") or 1, "latency_ms": event.get("total_latency_ms"),
               "status": event.get("error_code") or "error", "mode": event.get("mode"),
               "source": event.get("source") or _source_of(event.get("mode")),
               "streamed": event.get("streamed", False), "fallback_used": event.get("fallback_used", False)}
    else:
        return
    row = {"pid": os.getpid(), "attendee": backends.attendee(), **row}
    writer = _writer()
    for path in _targets():
        writer.queue.put((path, row))


def row_from_record(record: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ledger row from a session's CallRecord (and the event that carried it)."""
    event = event or {}
    u = record.usage
    return {"ts": record.time, "session": event.get("session"), "provider": record.provider,
            "model": record.model, "requested_model": record.requested_model,
            "input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "cached_tokens": u.cached_tokens,
            "cost": None if record.cost is None else float(record.cost),
            "cost_is_estimate": record.cost_is_estimate, "cached": record.cached, "streamed": record.streamed,
            "fallback_used": getattr(record, "fallback_used", False),
            "attempts": getattr(record, "attempts", 1), "latency_ms": record.latency_ms,
            "status": getattr(record, "status", "ok"), "mode": event.get("mode"),
            "source": getattr(record, "source", None) or _source_of(event.get("mode"))}


def _source_of(mode: str | None) -> str | None:
    return source_of(mode) if mode else None


def write_rows(path: str, rows: list[dict[str, Any]]) -> None:
    """Append rows now, in one transaction (missing fields take their defaults); each is then
    announced as a `ledger_row` event (the alert checks run on it)."""
    now, pid, who = time.time(), os.getpid(), backends.attendee()
    rows = [{"ts": now, "status": "ok", "pid": pid, "attendee": who, **r} for r in rows]
    for r in rows:
        if r.get("source") is None and r.get("mode"):
            r["source"] = _source_of(r["mode"])
    shared = _shared_ledgers.get(path)
    if shared is not None:
        shared.append(rows)
    else:
        store.for_path(path).insert_many(store.INSERT, [store.values(r) for r in rows])
    for r in rows:
        events.emit("ledger_row", path=path, row=r)


# ---- the class-wide ledger in the shared backend ----------------------------------------------------
_shared_ledgers: dict[str, Any] = {}     # label -> the backend's ledger, so write_rows can route to it
_INSERT_SHARED = (f"INSERT OR IGNORE INTO calls (rid, {', '.join(store.COLUMNS)}) "
                  f"VALUES (?, {', '.join('?' for _ in store.COLUMNS)})")


def shared_ledger(backend: backends.RedisBackend) -> Any:
    """The class ledger of `backend` (a Redis stream mirrored into an in-memory ledger store)."""
    ledger = backend.ledger(lambda: store.LedgerStore(store.MEMORY), _INSERT_SHARED, store.COLUMNS,
                            store.DEFAULTS, before_exit=flush, on_unsent=save_unsent)
    _shared_ledgers[ledger.label] = ledger
    return ledger


def save_unsent(rows: list[dict[str, Any]]) -> None:
    """Rows that never reached Redis before exit: into the local ledger file (or its side file), not lost."""
    path = store.default_path()
    try:
        write_rows(path, rows)
    except Exception as exc:
        save_rows(path, rows, exc)
        return
    log.warning("%d cost ledger row(s) could not reach the shared backend before exit; they were written "
                "to the local ledger %s instead.", len(rows), path)
