"""CostTracker: a persistent SQLite ledger of every call from every session, in every kernel.

Sessions publish `llm_call` (and, for calls that finally failed, `llm_error`) events; this module
subscribes once per process, the first time a ChatSession or a CostTracker is created, and writes
one row per call to the default ledger. Nothing needs wiring.

Where: `CostTracker(path=...)`, else the environment variable GLWORK_LEDGER, else
`platformdirs.user_data_dir("glwork")/ledger.sqlite3`. GLWORK_LEDGER=off (or :memory:) keeps an
in-process ledger only.

Rows from the event bus are written by one background thread per process, in batches (one short
transaction per batch), so a call never waits for the disk or for another kernel's lock; reads
through CostTracker first wait for rows already queued (read-your-writes), and rows still queued at
interpreter exit are flushed. Several kernels may write at once: WAL journal, a 10 s busy timeout
(synchronous=NORMAL: a power cut may lose the last rows, never corrupt the file). A file that is
not a readable ledger is renamed `<name>.corrupt-<timestamp>` with a warning and a fresh one is
started. The schema is versioned with `PRAGMA user_version`.

Totals skip calls whose model has no known price (cost NULL; NaN in to_dataframe()).

A class-wide ledger: with a shared backend (GLWORK_BACKEND_URL=redis://..., see glwork.backends)
the default ledger is a Redis stream that every kernel appends to; each row names its `attendee`
(GLWORK_ATTENDEE, else the JupyterHub user, else the login name), and CostTracker() answers for the
whole class (CostTracker(attendee="ana") for one attendee; get_cost_breakdown(by="attendee")).
Each kernel reads the stream into an in-memory copy, fetching only rows it has not seen.
Redis unreachable: rows wait in memory and are sent when it is back (each row has an id, so one
sent twice is counted once); rows still waiting at exit go to the local SQLite ledger, with a
warning; reads answer from the rows seen so far. CostTracker(path=...) is always a SQLite file.
"""
import atexit
import os
import queue
import sqlite3
import threading
import time
from datetime import datetime

from .. import events
from ..errors import ConfigurationError
from ..response import USD
from ..security import get_logger

log = get_logger(__name__)
ENV = "GLWORK_LEDGER"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 10.0
MEMORY = ":memory:"
COLUMNS = ("ts", "session", "provider", "model", "requested_model", "input_tokens", "output_tokens",
           "cached_tokens", "cost", "cost_is_estimate", "cached", "streamed", "fallback_used", "attempts",
           "latency_ms", "status", "mode", "pid", "attendee", "source")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,              -- unix time the call finished
    session TEXT, provider TEXT, model TEXT, requested_model TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL,                     -- USD, NULL when the model has no known price
    cost_is_estimate INTEGER NOT NULL DEFAULT 0, cached INTEGER NOT NULL DEFAULT 0,
    streamed INTEGER NOT NULL DEFAULT 0, fallback_used INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 1, latency_ms REAL,
    status TEXT NOT NULL,          -- "ok" or the error_code of a call that failed
    mode TEXT, pid INTEGER,
    attendee TEXT,                 -- who made the call (schema 2)
    source TEXT                    -- "live" (billed), "recorded" or "local" (free), schema 3
);
CREATE INDEX IF NOT EXISTS calls_ts ON calls(ts);
CREATE TABLE IF NOT EXISTS alerts_fired (alert TEXT NOT NULL, period TEXT NOT NULL, ts REAL,
                                         PRIMARY KEY (alert, period));
"""
GROUPS = ("provider", "model", "requested_model", "session", "status", "mode", "attendee", "source", "day",
          "month")
# Where a row's reply came from, for rows written before schema 3 (or by an older kernel): from its mode.
_SOURCE_OF_MODE = "CASE mode WHEN 'replay' THEN 'recorded' WHEN 'local' THEN 'local' ELSE 'live' END"
_SOURCE = f"COALESCE(source, {_SOURCE_OF_MODE})"
BILLED = f"{_SOURCE} = 'live'"     # replayed and local calls cost nothing: priced as if, never spend
_CORRUPT = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def default_path():
    env = os.environ.get(ENV, "").strip()
    cached = _default_cache.get(env)   # read at every call: it runs once per recorded call
    if cached:
        return cached
    if env:
        path = MEMORY if env.lower() in ("off", "none", "memory", MEMORY) else os.path.abspath(
            os.path.expanduser(env))
    else:
        from platformdirs import user_data_dir
        path = os.path.join(user_data_dir("glwork", appauthor=False), "ledger.sqlite3")
    _default_cache.clear()
    _default_cache[env] = path
    return path


_default_cache = {}


def _is_corrupt(exc):
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _CORRUPT


class _Store:
    """One connection per ledger file per process, shared by threads under a lock."""

    def __init__(self, path):
        self.path = path
        self.pid = os.getpid()
        self._conn = None
        self.lock = threading.RLock()

    def conn(self):
        if self._conn is None:
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError as exc:
                if not _is_corrupt(exc) or self.path == MEMORY:
                    raise
                self._move_aside(exc)
                self._conn = self._open()
        return self._conn

    def _open(self):
        if self.path != MEMORY:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            if self.path != MEMORY:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"The ledger {self.path} has schema version {version}, newer than this glwork "
                f"understands ({SCHEMA_VERSION}). Upgrade glwork, or set {ENV} to another file.")
        conn.execute("BEGIN IMMEDIATE")   # two kernels creating it at once: one wins, one waits
        try:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found < SCHEMA_VERSION:
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(stmt)
                # migrations from older versions go here, each guarded by its version number
                if found == 1:
                    conn.execute("ALTER TABLE calls ADD COLUMN attendee TEXT")
                if found in (1, 2):
                    conn.execute("ALTER TABLE calls ADD COLUMN source TEXT")
                    conn.execute(f"UPDATE calls SET source = {_SOURCE_OF_MODE} WHERE source IS NULL")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _move_aside(self, exc):
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = f"{self.path}.corrupt-{stamp}"
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, target + suffix)
        log.warning("The cost ledger %s could not be read (%s); it was moved to %s and a new ledger "
                    "was started.", self.path, exc, target)

    def run(self, sql, args=(), write=False):
        def once():
            cur = self.conn().execute(sql, args)
            return cur if write else cur.fetchall()
        return self._recovering(once)

    def insert_many(self, sql, rows):
        def once():
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._recovering(once)

    def _recovering(self, fn):
        with self.lock:
            try:
                return fn()
            except sqlite3.DatabaseError as exc:
                if not _is_corrupt(exc) or self.path == MEMORY:
                    raise
                self._move_aside(exc)
                return fn()

    def close(self):
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_stores = {}
_stores_lock = threading.Lock()


def store(path):
    """The process's store for `path` (reopened after a fork: connections never cross processes).
    Opening a ledger file imports the rows an earlier process saved beside it at exit."""
    with _stores_lock:
        s = _stores.get(path)
        fresh = s is None or s.pid != os.getpid()
        if fresh:
            s = _stores[path] = _Store(path)
    if fresh and path != MEMORY:
        from . import spool
        if spool.pending(path):
            n = spool.import_into(path, lambda rows: s.insert_many(_INSERT, [_values(r) for r in rows]))
            if n:
                log.warning("%d cost ledger row(s) saved at the exit of an earlier process were added to %s.",
                            n, path)
    return s


# ---- feeding from the event bus -----------------------------------------------------------------
_feed = {"unsubscribe": None, "extra": set(), "writer": None}
_feed_lock = threading.Lock()


BATCH_WINDOW_S = 0.2
RETRY_S = 1.0


class _Writer:
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


def save_rows(path, rows, reason):
    """Rows that cannot be written now: to a side file next to the ledger `path` (imported later)."""
    if path in _shared_ledgers:      # the class ledger's own exit hook already fell back to SQLite
        path = default_path()
    if path == MEMORY:
        log.warning("%d cost ledger row(s) could not be written before exit (%s) and this process's ledger "
                    "is in memory: they are lost.", len(rows), reason)
        return
    from . import spool
    where = spool.write(path, rows)
    if where:
        log.warning("%d cost ledger row(s) could not be written to %s before exit (%s); saved to %s, which "
                    "the next process opening that ledger imports.", len(rows), path, reason, where)


def spool_dir():
    """Where side files of records saved at exit live: next to the default ledger file."""
    path = default_path()
    if path == MEMORY:
        from platformdirs import user_data_dir
        return user_data_dir("glwork", appauthor=False)
    return os.path.dirname(path)


def _writer():
    with _feed_lock:
        w = _feed["writer"]
        if w is None or w.pid != os.getpid():   # after a fork the parent's thread is gone
            w = _feed["writer"] = _Writer()
        return w


def flush(timeout=10.0):
    """Wait until every call already recorded by this process is in the ledger file (or, if it cannot
    be written now, kept for a retry)."""
    w = _feed["writer"]
    if w is None or w.pid != os.getpid() or threading.current_thread() is w.thread:
        return True   # nothing queued, or asked by the writer itself (an alert check): no self-wait
    return w.flush(timeout)


@atexit.register
def _at_exit():
    flush(5.0)
    w = _feed["writer"]
    if w is not None and w.pid == os.getpid():
        w.save_leftovers()


def ensure_default():
    """Subscribe the ledger writer to the event bus (once per process). Called by ChatSession."""
    with _feed_lock:
        if _feed["unsubscribe"] is None:
            _feed["unsubscribe"] = events.subscribe(_on_event)


def default_target():
    """Where calls go by default: the shared backend's ledger (its label) or the SQLite file."""
    from .. import backends
    backend = backends.current()
    if backend is None:
        return default_path()
    return shared_ledger(backend).label


def _targets():
    # Read at each write, so GLWORK_LEDGER / GLWORK_BACKEND_URL set later (a test's) wins.
    return {default_target()} | _feed["extra"]


def _on_event(event):
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
    from ..backends import attendee
    row = {"pid": os.getpid(), "attendee": attendee(), **row}
    writer = _writer()
    for path in _targets():
        writer.queue.put((path, row))


def row_from_record(record, event=None):
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


def _source_of(mode):
    from ..config import source_of
    return source_of(mode) if mode else None


_INSERT = f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


_DEFAULTS = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "cost_is_estimate": 0, "cached": 0,
             "streamed": 0, "fallback_used": 0, "attempts": 1}


def write_rows(path, rows):
    """Append rows now, in one transaction (missing fields take their defaults); each is then
    announced as a `ledger_row` event (the alert checks run on it)."""
    from ..backends import attendee
    now, pid, who = time.time(), os.getpid(), attendee()
    rows = [{"ts": now, "status": "ok", "pid": pid, "attendee": who, **r} for r in rows]
    for r in rows:
        if r.get("source") is None and r.get("mode"):
            r["source"] = _source_of(r["mode"])
    shared = _shared_ledgers.get(path)
    if shared is not None:
        shared.append(rows)
    else:
        store(path).insert_many(_INSERT, [_values(r) for r in rows])
    for r in rows:
        events.emit("ledger_row", path=path, row=r)


def _values(row):
    return [int(v) if isinstance(v, bool) else v for v in (row.get(c, _DEFAULTS.get(c)) for c in COLUMNS)]


# ---- reading -------------------------------------------------------------------------------------
def period_bounds(period, now=None):
    """(start, end) unix times of "day" / "month" (local calendar) or "all" (None, None)."""
    if period in (None, "all"):
        return None, None
    t = datetime.fromtimestamp(now if now is not None else time.time())
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = datetime.fromordinal(start.toordinal() + 1)
    elif period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    else:
        raise ConfigurationError(f"period must be 'day', 'month' or 'all', got {period!r}.")
    return start.timestamp(), end.timestamp()


def period_key(period, now=None):
    t = datetime.fromtimestamp(now if now is not None else time.time())
    return t.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


class CostTracker:
    """Spend across all sessions and kernels, from the ledger (workshop Part 5).

        tracker = CostTracker()
        tracker.get_daily_cost(), tracker.get_monthly_cost()
        tracker.get_cost_breakdown()              # {"openai": 45.23, "anthropic": 12.45}, all time
        tracker.get_cost_breakdown(by="model", period="month")
        tracker.to_dataframe()                    # one row per call

    Creating one attaches the ledger writer; with `path=` that file also receives every call of
    this process from now on (until `close()`).

    Totals are money spent: live calls (exact, or estimated for attempts that broke off; see
    `get_cost_summary`). Replayed calls and the local model cost nothing; their rows carry the price
    they would have had (source "recorded" / "local") and count only with `include_free=True`.
    `to_dataframe()` lists every row, with its `source` and whether it was `billed`.
    """

    def __init__(self, path=None, clock=time.time, attendee=None, include_free=False):
        ensure_default()
        self.include_free = bool(include_free)
        self._explicit = path is not None
        self._shared = None
        if path is None:
            from .. import backends
            backend = backends.current()
            if backend is not None:
                self._shared = shared_ledger(backend)
        if self._shared is not None:
            self.path = self._shared.label
        else:
            self.path = (MEMORY if path == MEMORY else os.path.abspath(os.path.expanduser(str(path)))) \
                if path is not None else default_path()
        if attendee is not None and not isinstance(attendee, str):
            raise ConfigurationError(f"attendee must be a name (a string), got {type(attendee).__name__}.")
        self.attendee = attendee
        self._clock = clock
        if self._explicit:
            with _feed_lock:
                _feed["extra"].add(self.path)

    def __repr__(self):
        who = f", attendee={self.attendee!r}" if self.attendee else ""
        free = ", include_free=True" if self.include_free else ""
        return f"CostTracker(path={self.path!r}{who}{free})"

    @property
    def shared(self):
        """True when this tracker reads the class-wide ledger in the shared backend."""
        return self._shared is not None

    @property
    def _store(self):
        flush()   # read-your-writes: rows this process queued are in the file before we read it
        if self._shared is not None:
            return self._shared.synced()
        return store(self.path)

    def close(self):
        """Stop feeding an explicit `path` (the default ledger keeps recording)."""
        if self._explicit:
            with _feed_lock:
                _feed["extra"].discard(self.path)

    def add_row(self, **row):
        """Record a call made outside ChatSession (fields as in COLUMNS)."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ConfigurationError(f"Unknown ledger field(s): {', '.join(sorted(unknown))}.")
        write_rows(self.path, [row])

    def _where(self, period, all_rows=False):
        start, end = period_bounds(period, self._clock())
        terms, args = ([] if all_rows or self.include_free else [BILLED]), []
        if start is not None:
            terms.append("ts >= ? AND ts < ?")
            args += [start, end]
        if self.attendee is not None:
            terms.append("attendee = ?")
            args.append(self.attendee)
        return (" WHERE " + " AND ".join(terms) if terms else ""), tuple(args)

    def get_total_cost(self, period="all"):
        where, args = self._where(period)
        return USD(round(self._store.run(f"SELECT TOTAL(cost) FROM calls{where}", args)[0][0], 8))

    def get_daily_cost(self):
        """USD spent today (local calendar day), all sessions and kernels."""
        return self.get_total_cost("day")

    def get_monthly_cost(self):
        """USD spent this calendar month."""
        return self.get_total_cost("month")

    def get_cost_summary(self, period="all"):
        """Money spent and what is only priced as if, apart: {"spent", "spent_exact", "spent_estimated"
        (attempts that broke off, replies priced at the requested model), "free_as_if" (replayed and
        local calls at the price they would have had)} in USD."""
        where, args = self._where(period, all_rows=True)
        rows = self._store.run(f"SELECT {BILLED} AS billed, cost_is_estimate, TOTAL(cost) FROM calls{where} "
                               f"GROUP BY 1, 2", args)
        got = {(bool(b), bool(e)): c for b, e, c in rows}
        exact, estimated = got.get((True, False), 0.0), got.get((True, True), 0.0)
        free = got.get((False, False), 0.0) + got.get((False, True), 0.0)
        return {k: USD(round(v, 8)) for k, v in (("spent", exact + estimated), ("spent_exact", exact),
                                                 ("spent_estimated", estimated), ("free_as_if", free))}

    def get_cost_breakdown(self, by="provider", period="all"):
        """{key: USD} by "provider" (default), "model", "requested_model", "session", "status",
        "mode", "source", "day" or "month", most expensive first; `period` "all" (default), "day" or "month"."""
        if by not in GROUPS:
            raise ConfigurationError(f"by must be one of {', '.join(GROUPS)}, got {by!r}.")
        key = {"day": "date(ts, 'unixepoch', 'localtime')", "source": _SOURCE,
               "month": "strftime('%Y-%m', ts, 'unixepoch', 'localtime')"}.get(by, by)
        where, args = self._where(period)
        rows = self._store.run(f"SELECT {key} AS k, TOTAL(cost) AS c FROM calls{where} GROUP BY k "
                               f"ORDER BY c DESC, k", args)
        return {k: USD(round(c, 8)) for k, c in rows}

    def get_call_count(self, period="all"):
        """Calls in `period`, free ones included (a count is not spend)."""
        where, args = self._where(period, all_rows=True)
        return self._store.run(f"SELECT COUNT(*) FROM calls{where}", args)[0][0]

    def to_dataframe(self, period="all"):
        """Every call of `period` as a pandas DataFrame (`time` as local datetimes), free ones included:
        `source` says where each reply came from and `billed` whether it cost money."""
        import pandas as pd
        where, args = self._where(period, all_rows=True)
        cols = [c if c != "source" else f"{_SOURCE} AS source" for c in COLUMNS]
        rows = self._store.run(f"SELECT id, {', '.join(cols)}, {BILLED} FROM calls{where} ORDER BY ts, id", args)
        df = pd.DataFrame(rows, columns=["id", *COLUMNS, "billed"])
        df.insert(1, "time", pd.to_datetime(df["ts"].map(datetime.fromtimestamp)))
        df["cost"] = df["cost"].astype(float)
        for col in ("cost_is_estimate", "cached", "streamed", "fallback_used", "billed"):
            df[col] = df[col].astype(bool)
        return df

    def mark_alert_fired(self, alert, period):
        """True the first time (across processes) `alert` is marked for `period`."""
        if self._shared is not None:
            return self._shared.mark_alert_fired(alert, period)
        cur = self._store.run("INSERT OR IGNORE INTO alerts_fired (alert, period, ts) VALUES (?, ?, ?)",
                              (alert, period, time.time()), write=True)
        return cur.rowcount == 1


# ---- the class-wide ledger in the shared backend ----------------------------------------------------
_shared_ledgers = {}     # label -> SharedLedger, so write_rows can route a target to it


def shared_ledger(backend):
    from ..backends.ledger import SharedLedger
    ledger = backend.part("ledger", lambda b: SharedLedger(b, _Store(MEMORY), _INSERT_SHARED, COLUMNS,
                                                                   _DEFAULTS))
    _shared_ledgers[ledger.label] = ledger
    return ledger


_INSERT_SHARED = (f"INSERT OR IGNORE INTO calls (rid, {', '.join(COLUMNS)}) "
                  f"VALUES (?, {', '.join('?' for _ in COLUMNS)})")


def _leftover_to_sqlite(rows):
    """Rows that never reached Redis before exit: into the local ledger file (or its side file), not lost."""
    path = default_path()
    try:
        write_rows(path, rows)
    except Exception as exc:
        save_rows(path, rows, exc)
        return
    log.warning("%d cost ledger row(s) could not reach the shared backend before exit; they were written "
                "to the local ledger %s instead.", len(rows), path)
