"""The class-wide cost ledger in Redis: one stream every kernel appends to, read into a local copy.

Each row is one stream entry {"row": JSON} carrying a unique row id (`rid`). Writes go out in one
pipeline per batch from the ledger's background thread; rows that cannot be sent wait in memory
and go with the next batch, query or flush (a row sent twice, because its reply was lost, is
counted once: the copy ignores a repeated rid). Reads first pull the entries added since the last
read (XRANGE from the last id seen) into an in-memory SQLite table with the local ledger's
schema, so every CostTracker query means the same with either backend.

The ledger itself (glwork.monitoring.ledger) builds this through RedisBackend.ledger() and hands
it what it needs: the local copy, the row layout, and at exit a flush of its writer and a place
for rows that never reached Redis. This module knows Redis, not the ledger.
"""
import atexit
import itertools
import json
import os
import threading
import time
import uuid

from ..security import get_logger
from .link import BackendUnavailable

log = get_logger(__name__)
READ_BATCH = 5000
EXIT_TIMEOUT_S = 3.0
ALERT_MARK_TTL_S = 70 * 86400


class RedisLedger:
    """The class ledger's stream. `mirror`: an in-memory ledger store (the local copy); `insert_sql`,
    `columns`, `defaults`: its row layout; `before_exit()`: called first at exit (the writer's flush);
    `on_unsent(rows)`: where rows that never reached Redis go at exit."""

    def __init__(self, backend, mirror, insert_sql, columns, defaults, before_exit, on_unsent):
        self.backend = backend
        self.label = f"{backend.label} (ledger)"
        self.stream = backend.key("ledger")
        self._mirror, self._insert, self._columns, self._defaults = mirror, insert_sql, columns, defaults
        self._before_exit, self._on_unsent = before_exit, on_unsent
        self._pending = []            # rows (dicts with rid) not yet acknowledged by Redis
        self._last_id = "0-0"
        self._lock = threading.RLock()
        self._rid_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._rids = itertools.count()
        self.synced_at = None         # wall time of the last successful read
        self._stale_warned = False
        conn = mirror.conn()
        conn.execute("ALTER TABLE calls ADD COLUMN rid TEXT")
        conn.execute("CREATE UNIQUE INDEX calls_rid ON calls(rid)")
        atexit.register(self._at_exit)

    def __repr__(self):
        return f"RedisLedger({self.label}, pending={len(self._pending)})"

    @property
    def pending(self):
        return len(self._pending)

    # ---- writing -----------------------------------------------------------------------------
    def append(self, rows):
        with self._lock:
            for r in rows:
                self._pending.append({**r, "rid": f"{self._rid_prefix}-{next(self._rids)}"})
        self.push()

    def push(self):
        """Send waiting rows; False (rows kept) if Redis cannot be reached."""
        with self._lock:
            batch = list(self._pending)
            if not batch:
                return True

            def go(r):
                pipe = r.pipeline(transaction=False)
                for row in batch:
                    pipe.xadd(self.stream, {"row": json.dumps(row, default=_plain)})
                return pipe.execute()
            try:
                self.backend.link.run(go, "writing ledger rows")
            except BackendUnavailable:
                return False
            del self._pending[:len(batch)]
            return True

    # ---- reading -----------------------------------------------------------------------------
    def synced(self):
        """The local copy (the mirror store), brought up to date when Redis is reachable."""
        with self._lock:
            self.push()
            try:
                self._pull()
                self._stale_warned = False
            except BackendUnavailable:
                if not self._stale_warned:
                    self._stale_warned = True
                    seen = time.strftime("%H:%M:%S", time.localtime(self.synced_at)) if self.synced_at else "never"
                    log.warning("Class ledger unreachable: costs shown are the rows seen until %s (plus this "
                                "kernel's rows, once they are sent).", seen)
            return self._mirror

    def _pull(self):
        while True:
            start = "(" + self._last_id
            entries = self.backend.link.run(lambda r, start=start: r.xrange(self.stream, min=start, count=READ_BATCH),
                                            "reading the ledger")
            if entries:
                values = []
                for _entry_id, fields in entries:
                    row = json.loads(fields[b"row"])
                    values.append([row.get("rid"), *(_sql(row.get(c, self._defaults.get(c))) for c in self._columns)])
                self._mirror.insert_many(self._insert, values)
                last = entries[-1][0]
                self._last_id = last.decode() if isinstance(last, bytes) else last
            if len(entries) < READ_BATCH:
                break
        self.synced_at = time.time()

    def count(self):
        """Rows in the stream (all kernels), straight from Redis."""
        return int(self.backend.link.run(lambda r: r.xlen(self.stream), "counting ledger rows"))

    def mark_alert_fired(self, alert, period):
        key = self.backend.key("ledger", "alert", alert, period)
        try:
            return bool(self.backend.link.run(lambda r: r.set(key, "1", nx=True, ex=ALERT_MARK_TTL_S),
                                              "marking an alert"))
        except BackendUnavailable:
            return True    # better a duplicate Slack post than a lost alert

    # ---- exit --------------------------------------------------------------------------------
    def _at_exit(self):
        self._before_exit(EXIT_TIMEOUT_S)   # rows still queued for the writer thread first (atexit runs LIFO)
        if not self._pending:
            return
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while self._pending and time.monotonic() < deadline:
            self.backend.link.ping()
            if self.push():
                return
            time.sleep(0.2)
        with self._lock:
            rows, self._pending = self._pending, []
        try:
            self._on_unsent([{k: v for k, v in r.items() if k != "rid"} for r in rows])
        except Exception as exc:
            log.warning("%d cost ledger row(s) were lost at exit: %s", len(rows), exc)


def _plain(value):
    return float(value) if hasattr(value, "__float__") else str(value)


def _sql(value):
    return int(value) if isinstance(value, bool) else value
