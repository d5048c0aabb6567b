"""The ledger's SQLite files: schema and migrations, one connection per file per process.

Several kernels may write at once: WAL journal, a 10 s busy timeout (synchronous=NORMAL: a power
cut may lose the last rows, never corrupt the file). A file that is not a readable ledger is
renamed `<name>.corrupt-<timestamp>` with a warning and a fresh one is started. The schema is
versioned with `PRAGMA user_version`; each migration is guarded by the version it starts from.
Opening a file imports the rows an earlier process saved beside it at exit (glwork.monitoring.spool).
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ...errors import ConfigurationError
from ...security import get_logger
from .. import spool

log = get_logger("glwork.monitoring.ledger")
ENV = "GLWORK_LEDGER"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 10.0
MEMORY = ":memory:"
COLUMNS = ("ts", "session", "provider", "model", "requested_model", "input_tokens", "output_tokens",
           "cached_tokens", "cost", "cost_is_estimate", "cached", "streamed", "fallback_used", "attempts",
           "latency_ms", "status", "mode", "pid", "attendee", "source")
SCHEMA = """
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
# Where a row's reply came from, for rows written before schema 3 (or by an older kernel): from its mode.
SOURCE_OF_MODE = "CASE mode WHEN 'replay' THEN 'recorded' WHEN 'local' THEN 'local' ELSE 'live' END"
SOURCE = f"COALESCE(source, {SOURCE_OF_MODE})"
BILLED = f"{SOURCE} = 'live'"     # replayed and local calls cost nothing: priced as if, never spend
_CORRUPT = (11, 26)   # SQLITE_CORRUPT, SQLITE_NOTADB: named in sqlite3 only from Python 3.11 on


def default_path() -> str:
    """GLWORK_LEDGER (off/none/memory: in memory), else `<user data dir>/glwork/ledger.sqlite3`."""
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


_default_cache: dict[str, str] = {}


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _CORRUPT


class LedgerStore:
    """One connection per ledger file per process, shared by threads under a lock."""

    def __init__(self, path: str):
        self.path = path
        self.pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        self.lock = threading.RLock()

    def conn(self) -> sqlite3.Connection:
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
                for stmt in filter(str.strip, SCHEMA.split(";")):
                    conn.execute(stmt)
                # migrations from older versions go here, each guarded by its version number
                if found == 1:
                    conn.execute("ALTER TABLE calls ADD COLUMN attendee TEXT")
                if found in (1, 2):
                    conn.execute("ALTER TABLE calls ADD COLUMN source TEXT")
                    conn.execute(f"UPDATE calls SET source = {SOURCE_OF_MODE} WHERE source IS NULL")
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

    def run(self, sql: str, args: Iterable[Any] = (), write: bool = False) -> Any:
        """Rows of a query (or, with `write`, the cursor), through a damaged file being moved aside."""
        def once():
            cur = self.conn().execute(sql, args)
            return cur if write else cur.fetchall()
        return self._recovering(once)

    def insert_many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """All `rows` in one transaction."""
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

    def _recovering(self, fn: Callable[[], Any]) -> Any:
        with self.lock:
            try:
                return fn()
            except sqlite3.DatabaseError as exc:
                if not _is_corrupt(exc) or self.path == MEMORY:
                    raise
                self._move_aside(exc)
                return fn()

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_stores: dict[str, LedgerStore] = {}
_stores_lock = threading.Lock()


def for_path(path: str) -> LedgerStore:
    """The process's store for `path` (reopened after a fork: connections never cross processes).
    Opening a ledger file imports the rows an earlier process saved beside it at exit."""
    with _stores_lock:
        s = _stores.get(path)
        fresh = s is None or s.pid != os.getpid()
        if s is None or fresh:
            s = _stores[path] = LedgerStore(path)
    if fresh and path != MEMORY and spool.pending(path):
        n = spool.import_into(path, lambda rows: s.insert_many(INSERT, [values(r) for r in rows]))
        if n:
            log.warning("%d cost ledger row(s) saved at the exit of an earlier process were added to %s.", n, path)
    return s


def forget_stores() -> None:
    """Close and forget every open store (the next use reopens its file, with current settings)."""
    with _stores_lock:
        for s in _stores.values():
            s.close()
        _stores.clear()


# ---- rows ------------------------------------------------------------------------------------------
INSERT = f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
DEFAULTS = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "cost_is_estimate": 0, "cached": 0,
            "streamed": 0, "fallback_used": 0, "attempts": 1}


def values(row: dict[str, Any]) -> list[Any]:
    """A row dict as INSERT's parameters (missing fields take their defaults)."""
    return [int(v) if isinstance(v, bool) else v for v in (row.get(c, DEFAULTS.get(c)) for c in COLUMNS)]


def spool_dir() -> str:
    """Where side files of records saved at exit live: next to the default ledger file."""
    path = default_path()
    if path == MEMORY:
        from platformdirs import user_data_dir
        return user_data_dir("glwork", appauthor=False)
    return os.path.dirname(path)
