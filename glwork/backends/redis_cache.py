"""The semantic cache's entries in Redis, behind the same interface as the SQLite Store.

Plain Redis (no RediSearch needed): each entry is a hash (scope, question, answer, embedding
model, float32 vector, times, cost...) that Redis itself deletes a little after it expires; sorted
sets index the entries by expiry, by last access (LRU eviction over the whole class) and by how
often they were asked (the instructor's "busiest questions"); a version counter changes with every
insert or delete. Each kernel keeps its FAISS index as a mirror (glwork.cache.entries): it reads
the version at each lookup and, when another kernel changed something, fetches only the entries it
has not seen. So an answer one attendee paid for serves the whole class, within the same scope.

Redis unreachable: `FailoverStore` carries on with a per-kernel in-memory cache (a warning says
so); when Redis is back the shared cache is used again (entries stored meanwhile stay local and
are dropped). A lookup never waits more than the link's short timeouts.
"""
import contextlib
import json

from ..security import get_logger
from .link import BackendUnavailable

log = get_logger(__name__)
GRACE_S = 60              # Redis deletes an entry this long after it expired (the kit removes it first)
LOCAL_OFFSET = 1 << 48    # ids of the per-kernel fallback cache, never confused with Redis ids
_META = ("scope", "query", "model", "created", "last_access", "expires", "ttl", "cost", "tokens")

_DELETE_IF_EXPIRED = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[5])
  redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1]) redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('INCR', KEYS[4])
  return 1
end
return 0
"""

_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_access', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'hits', 1)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZINCRBY', KEYS[4], 1, ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'expires', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
"""


def _num(v, kind=float):
    if v is None or v == b"":
        return None
    return kind(v.decode() if isinstance(v, bytes) else v)


def _text(v):
    return None if v is None else v.decode() if isinstance(v, bytes) else v


class RedisCacheStore:
    """The semantic cache's store interface (glwork.cache.store.Store's) over Redis. Raises BackendUnavailable."""

    def __init__(self, backend):
        import redis
        self._redis_error = redis.RedisError
        self.backend = backend
        self.path = f"{backend.label} (semantic cache)"
        k = lambda *p: backend.key("cache", *p)   # noqa: E731
        self.k_next, self.k_ids, self.k_lru, self.k_popular, self.k_version = (
            k("next_id"), k("ids"), k("lru"), k("popular"), k("version"))
        self._entry_prefix = k("e") + ":"
        self._seen_version = None
        self._delete_expired = backend.link.script(_DELETE_IF_EXPIRED)
        self._touch = backend.link.script(_TOUCH)

    def entry_key(self, entry_id):
        return f"{self._entry_prefix}{entry_id}"

    def _run(self, fn, what):
        try:
            return self.backend.link.run(fn, what)
        except BackendUnavailable:
            raise
        except self._redis_error as exc:   # e.g. out of memory: treat like an outage, never crash a lookup
            log.warning("shared semantic cache: Redis refused %s (%s)", what, exc)
            raise BackendUnavailable(str(exc)) from None

    # ---- change detection ---------------------------------------------------------------------
    def transaction(self):
        return contextlib.nullcontext()

    def changed_elsewhere(self):
        version = _num(self._run(lambda r: r.get(self.k_version), "a cache lookup"), int) or 0
        if version != self._seen_version:
            self._seen_version = version
            return True
        return False

    def _bumped(self, new_version):
        # Our own change: if nobody else wrote in between there is nothing to re-read.
        if self._seen_version is not None and new_version == self._seen_version + 1:
            self._seen_version = new_version

    # ---- rows -------------------------------------------------------------------------------
    def insert(self, row):
        entry_id = int(self._run(lambda r: r.incr(self.k_next), "storing a cache entry"))
        fields = {k: v for k, v in row.items() if v is not None}
        fields["hits"] = 0
        expires, ttl = row.get("expires"), row.get("ttl")

        def go(r):
            pipe = r.pipeline(transaction=True)
            key = self.entry_key(entry_id)
            pipe.hset(key, mapping=fields)
            if ttl:
                pipe.pexpire(key, int((ttl + GRACE_S) * 1000))
            pipe.zadd(self.k_ids, {entry_id: "+inf" if expires is None else expires})
            pipe.zadd(self.k_lru, {entry_id: row["last_access"]})
            pipe.zadd(self.k_popular, {entry_id: 1})
            pipe.incr(self.k_version)
            return pipe.execute()[-1]
        self._bumped(self._run(go, "storing a cache entry"))
        return entry_id

    def delete(self, ids):
        ids = list(ids)
        if not ids:
            return

        def go(r):
            pipe = r.pipeline(transaction=True)
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                pipe.delete(*(self.entry_key(e) for e in chunk))
                for z in (self.k_ids, self.k_lru, self.k_popular):
                    pipe.zrem(z, *chunk)
            pipe.incr(self.k_version)
            return pipe.execute()[-1]
        self._bumped(self._run(go, "removing cache entries"))

    def delete_expired(self, entry_id, now):
        keys = [self.k_ids, self.k_lru, self.k_popular, self.k_version, self.entry_key(entry_id)]
        try:
            return bool(self._delete_expired(keys, [entry_id, repr(float(now))]))
        except self._redis_error as exc:
            raise BackendUnavailable(str(exc)) from None

    def touch(self, entry_id, now, expires):
        keys = [self.entry_key(entry_id), self.k_ids, self.k_lru, self.k_popular]
        row = self.row(entry_id, "ttl") if expires is not None else None
        ttl_ms = int(((row[0] if row and row[0] else 0) + GRACE_S) * 1000)
        self._touch(keys, [entry_id, repr(float(now)), "" if expires is None else repr(float(expires)), ttl_ms])

    def value(self, entry_id):
        kind, payload = self._run(lambda r: r.hmget(self.entry_key(entry_id), "kind", "value"), "reading an answer")
        if kind is None or payload is None:
            return None
        return _text(kind), json.loads(payload)

    def row(self, entry_id, columns):
        names = [c.strip() for c in columns.split(",")]
        got = self._run(lambda r: r.hmget(self.entry_key(entry_id), *names), "reading a cache entry")
        if all(v is None for v in got):
            return None
        return tuple(self._convert(n, v) for n, v in zip(names, got))

    @staticmethod
    def _convert(name, v):
        if name in ("created", "last_access", "expires", "ttl", "cost"):
            return _num(v)
        if name in ("tokens", "hits", "id"):
            return _num(v, int)
        if name == "vector":
            return v
        return _text(v)

    def ids(self):
        return {int(i) for i in self._run(lambda r: r.zrange(self.k_ids, 0, -1), "listing cache entries")}

    def meta_rows(self, ids=None, with_vectors=False):
        ids = sorted(self.ids() if ids is None else ids)
        names = list(_META) + (["vector"] if with_vectors else [])
        gone = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]

            def go(r, chunk=chunk):
                pipe = r.pipeline(transaction=False)
                for e in chunk:
                    pipe.hmget(self.entry_key(e), *names)
                return pipe.execute()
            for entry_id, got in zip(chunk, self._run(go, "loading cache entries")):
                if got[0] is None:          # Redis expired it: forget it everywhere
                    gone.append(entry_id)
                    continue
                yield (entry_id, *(self._convert(n, v) for n, v in zip(names, got)))
        if gone:
            self._forget(gone)

    def _forget(self, ids):
        def go(r):
            pipe = r.pipeline(transaction=False)
            for z in (self.k_ids, self.k_lru, self.k_popular):
                pipe.zrem(z, *ids)
            pipe.execute()
        self._run(go, "removing expired cache entries")

    def count(self):
        return int(self._run(lambda r: r.zcard(self.k_ids), "counting cache entries"))

    def least_recently_used(self, n):
        return [int(i) for i in self._run(lambda r: r.zrange(self.k_lru, 0, n - 1), "finding old entries")]

    def expired_ids(self, now):
        expired = self._run(lambda r: r.zrangebyscore(self.k_ids, "-inf", now), "finding expired entries")
        return [int(i) for i in expired]

    def queries(self):
        out = []
        ids = sorted(self.ids())
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]

            def go(r, chunk=chunk):
                pipe = r.pipeline(transaction=False)
                for e in chunk:
                    pipe.hmget(self.entry_key(e), "scope", "query", "created")
                return pipe.execute()
            for entry_id, (scope, query, created) in zip(chunk, self._run(go, "listing cached questions")):
                if query is not None:
                    out.append((entry_id, _text(scope), _text(query), _num(created)))
        return out

    def info(self, entry_id):
        scope_info, hits = self._run(lambda r: r.hmget(self.entry_key(entry_id), "scope_info", "hits"), "explain")
        return None if scope_info is None else (json.loads(scope_info), _num(hits, int) or 0)

    def top_questions(self, n=10):
        """[(question, times asked)] of the most asked cached questions, class-wide."""
        top = self._run(lambda r: r.zrevrange(self.k_popular, 0, n - 1, withscores=True), "busiest questions")

        def go(r):
            pipe = r.pipeline(transaction=False)
            for e, _ in top:
                pipe.hget(self.entry_key(int(e)), "query")
            return pipe.execute()
        queries = self._run(go, "busiest questions") if top else []
        return [(_text(q), int(score)) for (e, score), q in zip(top, queries) if q is not None]

    def close(self):
        pass


class FailoverStore:
    """The shared RedisCacheStore while Redis answers; a per-kernel in-memory store, made by
    `local_store()` (the cache's own SQLite Store), while it does not."""

    def __init__(self, backend, local_store):
        self.redis = RedisCacheStore(backend)
        self.path = self.redis.path
        self._make_local = local_store
        self.local = None
        self.using_redis = True
        self._switched = False

    # ---- routing -----------------------------------------------------------------------------
    def _local(self):
        if self.local is None:
            self.local = self._make_local()
        return self.local

    def _shared(self, fn, fallback):
        """fn() on Redis; on an outage switch to the local cache and return fallback()."""
        try:
            result = fn()    # during an outage the link fails at once, and retries every second
        except BackendUnavailable:
            if self.using_redis:
                self.using_redis, self._switched = False, True
                log.warning("The shared semantic cache (%s) is unreachable: this kernel uses its own "
                            "in-memory cache until it is back.", self.path)
            return fallback()
        if not self.using_redis:
            self.using_redis, self._switched = True, True
            log.warning("The shared semantic cache (%s) is back; entries cached meanwhile in this kernel "
                        "are dropped.", self.path)
        return result

    @staticmethod
    def _is_local(entry_id):
        return entry_id >= LOCAL_OFFSET

    def _split(self, ids):
        local = [i - LOCAL_OFFSET for i in ids if self._is_local(i)]
        shared = [i for i in ids if not self._is_local(i)]
        return local, shared

    def _on_redis(self, fn, fallback=None):
        """fn() for an entry that lives in Redis; `fallback` if Redis is away (no mode switch)."""
        try:
            return fn()
        except BackendUnavailable:
            return fallback

    # ---- the Store interface -------------------------------------------------------------------
    def transaction(self):
        return self._local().transaction() if not self.using_redis else contextlib.nullcontext()

    def changed_elsewhere(self):
        changed = self._shared(self.redis.changed_elsewhere, lambda: self._local().changed_elsewhere())
        if self._switched:
            self._switched = False
            return True
        return changed

    def ids(self):
        return self._shared(self.redis.ids, lambda: {i + LOCAL_OFFSET for i in self._local().ids()})

    def insert(self, row):
        return self._shared(lambda: self.redis.insert(row), lambda: self._local().insert(row) + LOCAL_OFFSET)

    def delete(self, ids):
        local, shared = self._split(ids)
        if local:
            self._local().delete(local)
        if shared:
            self._on_redis(lambda: self.redis.delete(shared))

    def delete_expired(self, entry_id, now):
        if self._is_local(entry_id):
            return self._local().delete_expired(entry_id - LOCAL_OFFSET, now)
        return self._on_redis(lambda: self.redis.delete_expired(entry_id, now), True)

    def touch(self, entry_id, now, expires):
        if self._is_local(entry_id):
            return self._local().touch(entry_id - LOCAL_OFFSET, now, expires)
        return self._on_redis(lambda: self.redis.touch(entry_id, now, expires))

    def value(self, entry_id):
        if self._is_local(entry_id):
            return self._local().value(entry_id - LOCAL_OFFSET)
        return self._on_redis(lambda: self.redis.value(entry_id))

    def row(self, entry_id, columns):
        if self._is_local(entry_id):
            return self._local().row(entry_id - LOCAL_OFFSET, columns)
        return self._on_redis(lambda: self.redis.row(entry_id, columns))

    def info(self, entry_id):
        if self._is_local(entry_id):
            return self._local().info(entry_id - LOCAL_OFFSET)
        return self._on_redis(lambda: self.redis.info(entry_id))

    def meta_rows(self, ids=None, with_vectors=False):
        if ids is None:
            ids = self.ids()
        local, shared = self._split(ids)
        if shared:
            yield from self._on_redis(lambda: list(self.redis.meta_rows(shared, with_vectors)), [])
        if local:
            for row in self._local().meta_rows(local, with_vectors):
                yield (row[0] + LOCAL_OFFSET, *row[1:])

    def count(self):
        return self._shared(self.redis.count, lambda: self._local().count())

    def least_recently_used(self, n):
        return self._shared(lambda: self.redis.least_recently_used(n),
                            lambda: [i + LOCAL_OFFSET for i in self._local().least_recently_used(n)])

    def expired_ids(self, now):
        return self._shared(lambda: self.redis.expired_ids(now),
                            lambda: [i + LOCAL_OFFSET for i in self._local().expired_ids(now)])

    def queries(self):
        return self._shared(self.redis.queries,
                            lambda: [(i + LOCAL_OFFSET, *rest) for i, *rest in self._local().queries()])

    def top_questions(self, n=10):
        return self._shared(lambda: self.redis.top_questions(n), lambda: self._local().top_questions(n))

    # ---- what the manager calls on a damaged SQLite file (only the local fallback has one) ----------
    def move_aside(self, reason):
        log.warning("semantic cache: the in-memory fallback failed (%s); starting it afresh", reason)
        if self.local is not None:
            self.local.close()
        self.local = None

    def open(self):
        pass

    def close(self):
        if self.local is not None:
            self.local.close()
