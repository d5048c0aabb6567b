"""Where entries live: SQLite, in a file when `path=` is given (else in memory), or, with no path
and a shared backend configured, Redis (`open_store`; glwork.backends.redis_cache).

The file survives a kernel restart and can be shared by processes: WAL journal, a busy timeout,
AUTOINCREMENT ids (never reused, so an id always means the same entry), and `PRAGMA data_version`
to notice another process's commits. A file that is not a readable cache of this version is moved
aside as `<name>.corrupt-<timestamp>` with a warning, and a new one is started.
"""
import json
import os
import sqlite3
import time
import warnings
from pathlib import Path

from ..errors import ConfigurationError
from ..security import get_logger

log = get_logger(__name__)

SCHEMA_VERSION = 1
APPLICATION_ID = 0x676C6361  # "glca": marks a glwork cache file
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,            -- Scope.key
    scope_info TEXT NOT NULL,       -- the scope's fields as JSON, for explain()
    query TEXT NOT NULL,            -- the question as asked
    kind TEXT NOT NULL,             -- text | chat | json
    value TEXT NOT NULL,            -- the response as JSON
    model TEXT NOT NULL,            -- embedding model of `vector`
    vector BLOB,                    -- float32, NULL in memory (the index holds it)
    created REAL NOT NULL,
    last_access REAL NOT NULL,
    expires REAL,                   -- NULL: never
    ttl REAL,                       -- seconds, for sliding expiry
    hits INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_access ON entries(last_access);
CREATE INDEX IF NOT EXISTS entries_created ON entries(created);
CREATE INDEX IF NOT EXISTS entries_expires ON entries(expires);
"""
# The columns the manager keeps in memory for every entry (no value, no vector).
META_COLUMNS = "id, scope, query, model, created, last_access, expires, ttl, cost, tokens"


class CorruptStoreError(sqlite3.DatabaseError):
    pass


def is_corrupt(exc):
    """True for a file that is damaged or not ours to read (moved aside), False for a passing
    condition (locked, disk full, read-only, I/O): the user's file must then stay where it is."""
    if isinstance(exc, CorruptStoreError):
        return True
    if str(exc).startswith(("no such table", "no such column")):   # our schema is gone: damage, not a moment
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class Store:
    def __init__(self, path=None):
        self.path = None if path is None else Path(path).expanduser()
        self.conn = None
        self.open()

    # ---- opening -------------------------------------------------------------------------------
    def open(self):
        if self.path is None:
            self.conn = self._connect(":memory:")
            self._init()
            return
        if self.path.exists() and self.path.is_dir():
            raise ConfigurationError(f"Cache path {self.path} is a directory: give a file name such as "
                                     f"{self.path / 'cache.sqlite'}.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = self._connect(str(self.path))
            self._init()
        except ConfigurationError:
            raise
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise ConfigurationError(f"The cache file {self.path} stayed locked by another process for "
                                         f"{BUSY_TIMEOUT_MS // 1000} s; try again.") from None
            if not is_corrupt(exc):
                raise ConfigurationError(f"The cache file {self.path} cannot be used now ({exc}): free disk space "
                                         f"or make it writable, or give another path=.") from None
            self.move_aside(exc)
            self.conn = self._connect(str(self.path))
            self._init()

    def _connect(self, target):
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)  # the manager's lock serialises use
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return conn

    def _init(self):
        c = self.conn
        app_id = c.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            self.conn.close()
            self.conn = None
            raise ConfigurationError(f"{self.path} is another application's SQLite database; give the cache "
                                     "its own file, e.g. path='llm_cache.sqlite'.")
        if self.path is not None:
            mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                log.warning("cache file %s: journal mode %s (WAL unavailable on this file system)", self.path, mode)
            c.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at checkpoints, never corrupt
        if app_id == 0:
            with self.transaction():
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        version = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise CorruptStoreError(f"schema version {version and version[0]!r}, this glwork reads {SCHEMA_VERSION}")
        c.execute("SELECT " + META_COLUMNS + " FROM entries LIMIT 1").fetchall()  # all columns present
        self._data_version = self.data_version()

    def move_aside(self, reason):
        """Rename a bad file (and its -wal/-shm) out of the way; warn; never raise."""
        if self.conn is not None:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self.conn = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                try:
                    os.replace(src, Path(str(target) + suffix))
                except OSError as exc:
                    log.warning("could not move %s aside: %s", src, exc)
        message = (f"The semantic cache file {self.path} could not be read ({reason}); it was moved to "
                   f"{target.name} and an empty cache was started.")
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        log.info(message)   # the warning above already tells the user; this line is for log files
        return target

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # ---- transactions and change detection ------------------------------------------------------
    def transaction(self):
        return _Transaction(self.conn)

    def data_version(self):
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def changed_elsewhere(self):
        """True once after another connection committed (cheap: no table is read)."""
        if self.path is None:
            return False
        v = self.data_version()
        if v != self._data_version:
            self._data_version = v
            return True
        return False

    # ---- rows ---------------------------------------------------------------------------------
    def insert(self, row):
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction():
            cur = self.conn.execute(f"INSERT INTO entries ({cols}) VALUES ({marks})", list(row.values()))
            return cur.lastrowid

    def delete(self, ids):
        ids = list(ids)
        with self.transaction():
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                self.conn.execute(f"DELETE FROM entries WHERE id IN ({','.join('?' * len(chunk))})", chunk)

    def delete_expired(self, entry_id, now):
        """Delete one entry if it is still expired on disk; False if another process renewed it."""
        with self.transaction():
            cur = self.conn.execute("DELETE FROM entries WHERE id=? AND expires IS NOT NULL AND expires<=?",
                                    (entry_id, now))
            return cur.rowcount > 0

    def touch(self, entry_id, now, expires):
        with self.transaction():
            self.conn.execute("UPDATE entries SET last_access=?, hits=hits+1, expires=COALESCE(?, expires) "
                              "WHERE id=?", (now, expires, entry_id))

    def value(self, entry_id):
        row = self.conn.execute("SELECT kind, value FROM entries WHERE id=?", (entry_id,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def row(self, entry_id, columns):
        return self.conn.execute(f"SELECT {columns} FROM entries WHERE id=?", (entry_id,)).fetchone()

    def ids(self):
        return {r[0] for r in self.conn.execute("SELECT id FROM entries")}

    def meta_rows(self, ids=None, with_vectors=False):
        cols = META_COLUMNS + (", vector" if with_vectors else "")
        if ids is None:
            yield from self.conn.execute(f"SELECT {cols} FROM entries ORDER BY id")
            return
        ids = sorted(ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            yield from self.conn.execute(f"SELECT {cols} FROM entries WHERE id IN ({','.join('?' * len(chunk))})",
                                         chunk)

    def count(self):
        return self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def least_recently_used(self, n):
        return [r[0] for r in self.conn.execute("SELECT id FROM entries ORDER BY last_access, id LIMIT ?", (n,))]

    def expired_ids(self, now):
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM entries WHERE expires IS NOT NULL AND expires<=?", (now,))]

    def queries(self):
        """(id, scope, query, created) of every entry, for the invalidate_* scans."""
        return self.conn.execute("SELECT id, scope, query, created FROM entries").fetchall()

    def info(self, entry_id):
        row = self.conn.execute("SELECT scope_info, hits FROM entries WHERE id=?", (entry_id,)).fetchone()
        return None if row is None else (json.loads(row[0]), row[1])

    def top_questions(self, n=10):
        """[(question, times asked)] of the most asked cached questions (the first ask + each hit)."""
        return [(q, h + 1) for q, h in self.conn.execute(
            "SELECT query, hits FROM entries ORDER BY hits DESC, id LIMIT ?", (n,))]


def open_store(path=None):
    """Store(path); without a path and with a shared backend configured (GLWORK_BACKEND_URL, see
    glwork.backends), the class's cache in Redis, with a per-kernel fallback while it is away."""
    if path is None:
        from .. import backends
        backend = backends.current()
        if backend is not None:
            return backend.cache_store(lambda: Store(None))
    return Store(path)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so two writers queue, not fail."""

    def __init__(self, conn):
        self.conn = conn
        self.outer = conn.in_transaction

    def __enter__(self):
        if not self.outer:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, *_):
        if self.outer:
            return False
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        return False
