"""SemanticCacheManager: answers cached by meaning, scoped, guarded, expiring (workshop Part 3)."""
import fnmatch
import functools
import inspect
import math
import re
import sqlite3
import threading
import time
import warnings

from ..errors import ConfigurationError
from ..response import ChatResponse
from ..security import get_logger
from .counts import HitCounter
from .entries import Entries, plain
from .glossary import Glossary
from .guard import Guard, Verdict, load_params
from .results import Explanation, Hit
from .scope import Scope
from .store import is_corrupt, open_store
from .terms import parse
from .values import cost_of, decode, encode

log = get_logger(__name__)
_DEFAULT = object()
# all-MiniLM-L6-v2 reads 256 word pieces: two long prompts that differ only further on embed the same.
# Beyond this many words a hit needs the same text.
LONG_QUERY_WORDS = 128


class SemanticCacheManager:
    """Serve a stored answer when a new question asks the same thing, within the same scope.

    similarity_threshold (default 0.95): with the guard on and the local embedding model, the
        threshold applies to the guard's score, not to the raw cosine. A small pair model, trained on
        60k labelled Quora question pairs (benchmarks/train_cache_guard.py), reads both questions'
        embeddings and says how likely they ask the same thing; the score is
        1 - (share of different-but-related question pairs that score at least as high). So 0.95
        means "at most 5% of look-alike questions that ask something else would get this answer";
        0.99 is stricter, 0.9 looser. On 1,990 held-out Quora pairs in one cache the default serves
        a right answer to more duplicate pairs than plain cosine at the same precision
        (benchmarks/bench_cache.py). With guard=False (or another embedding model) the threshold is
        the plain cosine similarity.
    ttl: seconds an entry lives (3600 = one hour), counted from when it was stored; with
        sliding=True, from its last hit. None: entries never expire. Expired entries are never
        served and are removed.
    guard: True (default) = rules + fitted score; False = cosine only (the classic semantic cache,
        which serves "Explain Scope 2 emissions" the answer about Scope 1 at a threshold of 0.85);
        or a `Guard(...)`, e.g. Guard(rules=True, score="cosine"). The rules veto a hit whose
        numbers, designators ("Scope 1" vs "Scope 2"), negation, opposites or names disagree.
    glossary: "ghg" (default: "Scope 1 emissions" = "Scope 1", "greenhouse gas" = "GHG" ...), a dict
        {regex: replacement} for your domain, or None.
        Prompts longer than 128 words hit only on the same text: the model reads 256 word pieces.
    embedder: any object with encode(list_of_texts) -> (n, d) vectors; default all-MiniLM-L6-v2,
        shipped in a wheel and run locally (nothing is downloaded).
    path: a SQLite file that keeps the cache across kernel restarts and can be shared by
        processes; None keeps it in memory, or, with GLWORK_BACKEND_URL set, in the class's shared
        Redis (see glwork.backends).
    max_entries: evict the least recently used entries beyond this many (all scopes together).
    scope: the Scope of the plain get/set calls (default: the empty scope).
    top_k: nearest cached questions the guard looks at per lookup.
    clock: a function returning the time in seconds (tests pass a fake one).
    """

    def __init__(self, similarity_threshold=0.95, ttl=3600, *, guard=True, embedder=None, path=None,
                 max_entries=None, sliding=False, glossary="ghg", scope=None, top_k=5, clock=None):
        if isinstance(similarity_threshold, bool) or not isinstance(similarity_threshold, (int, float)) \
                or not 0 < similarity_threshold <= 1:
            raise ConfigurationError(f"similarity_threshold must be a number above 0 and at most 1 "
                                     f"(e.g. 0.95); got {similarity_threshold!r}.")
        self.similarity_threshold = float(similarity_threshold)
        self.ttl = _check_ttl(ttl)
        if max_entries is not None and (isinstance(max_entries, bool) or not isinstance(max_entries, int)
                                        or max_entries < 1):
            raise ConfigurationError(f"max_entries must be a positive whole number or None; got {max_entries!r}.")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ConfigurationError(f"top_k must be a positive whole number; got {top_k!r}.")
        self.max_entries, self.sliding, self.top_k = max_entries, bool(sliding), top_k
        self.scope = Scope.coerce(scope) or Scope()
        self.glossary = Glossary.coerce(glossary)
        self._clock = clock or time.time
        if embedder is None:
            from ..embeddings.local import local_embedder
            embedder = local_embedder()
        self.embedder = embedder
        self._encode = _encoder(embedder)
        self.model_name = str(getattr(embedder, "model_name", None) or type(embedder).__name__)
        self.guard = self._make_guard(guard)
        # Below this cosine no candidate can pass: skip parsing it (most misses end here).
        self._floor = self.guard.cosine_floor(self.similarity_threshold) if self.guard else self.similarity_threshold
        # Parsed cached questions, reused across lookups (a parse costs tens of microseconds).
        self._entry_terms = functools.lru_cache(maxsize=8192)(lambda q: parse(self.glossary(q)))
        self._lock = threading.RLock()
        self._store = open_store(path)   # SQLite, or the class's shared cache (glwork.backends)
        self.path = self._store.path
        self._entries = Entries(self._store, self.model_name, keep_vectors=self.path is not None)
        self._counts = HitCounter()
        self._events = dict(evicted=0, expired=0, blocked=0)   # what happened to entries
        self._guarded(self._entries.load, None)

    def _make_guard(self, guard):
        if isinstance(guard, Guard):
            return guard
        if guard is False or guard is None:
            return None
        if guard is not True:
            raise ConfigurationError("guard must be True, False or a Guard(...).")
        try:
            fitted_for = load_params().get("embedding_model")
            if fitted_for == self.model_name:
                return Guard()
        except ConfigurationError as exc:  # an install without the package data: still guard
            warnings.warn(f"{exc} Using the guard's rules with the plain cosine.", RuntimeWarning, stacklevel=3)
            return Guard(score="cosine")
        # The pair model reads one model's vectors; for others keep the rules, raw cosine.
        log.info("cache guard: pair model trained on %s vectors, embedder is %s: using rules + cosine", fitted_for,
                 self.model_name)
        return Guard(score="cosine")

    @property
    def scorer(self):
        """What similarity_threshold is compared with."""
        if self.guard is None:
            return "cosine (no guard)"
        rules = "rules on" if self.guard.rules else "rules off"
        if self.guard.score_kind == "cosine":
            return f"cosine ({rules})"
        return f"the guard's fitted score: pair model ({rules})"

    def __repr__(self):
        where = f", path={str(self.path)!r}" if self.path else ""
        return (f"SemanticCacheManager(similarity_threshold={self.similarity_threshold}, ttl={self.ttl}, "
                f"guard={self.guard!r}, entries={len(self)}{where})")

    def __len__(self):
        return len(self._entries)

    # ---- the workshop's API ------------------------------------------------------------------------
    def get(self, query, scope=None):
        """The cached answer for `query` (same kind as stored), or None on a miss."""
        hit = self.lookup(query, scope)
        return None if hit is None else hit.value

    def set(self, query, response, scope=None, *, cost=None, tokens=None, ttl=_DEFAULT):
        """Cache `response` (a str, a ChatResponse, or any JSON-able value) for `query`."""
        return self.store(query, response, scope, cost=cost, tokens=tokens, ttl=ttl)

    def invalidate(self, query, scope=None):
        """Remove the entries stored for exactly this question (case and spacing ignored)."""
        target = plain(_check_query(query))
        return self._invalidate(lambda q, created: plain(q) == target, scope)

    def invalidate_pattern(self, pattern, scope=None):
        """Remove entries whose question matches a glob, case-insensitively, from its start or from
        the start of any word: "carbon*" removes "What is carbon footprint?" and "Carbon taxes?"."""
        if not isinstance(pattern, str) or not pattern.strip():
            raise ConfigurationError('pattern must be a non-empty glob such as "carbon*".')
        rx = re.compile(r"(?<!\w)" + fnmatch.translate(pattern.strip()), re.IGNORECASE)
        return self._invalidate(lambda q, created: rx.search(q) is not None, scope)

    def invalidate_older_than(self, days=0, hours=0, minutes=0, seconds=0):
        """Remove entries stored more than this long ago (all scopes)."""
        for name, v in (("days", days), ("hours", hours), ("minutes", minutes), ("seconds", seconds)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or math.isnan(v):
                raise ConfigurationError(f"{name} must be a number >= 0; got {v!r}.")
        age = days * 86400 + hours * 3600 + minutes * 60 + seconds
        if age <= 0:
            raise ConfigurationError("Say how old, e.g. invalidate_older_than(days=7) or hours=12.")
        cutoff = self._clock() - age
        return self._invalidate(lambda q, created: created < cutoff, None)

    def clear(self):
        """Remove every entry (all scopes). Returns how many there were. Stats are kept."""
        return self._invalidate(lambda q, created: True, None)

    def stats(self):
        """hits, misses, hit_rate (percent), cost_saved (USD), tokens_saved, entries, and more."""
        with self._lock:
            self._guarded(self._refresh, None)
            s = dict(self._events)
        return {**self._counts.summary(), "entries": len(self), "evicted": s["evicted"], "expired": s["expired"],
                "blocked_by_guard": s["blocked"], "similarity_threshold": self.similarity_threshold,
                "scorer": self.scorer}

    get_cache_stats = stats

    def get_cache_hit_rate(self):
        return self.stats()["hit_rate"]

    def get_cost_saved(self):
        return self.stats()["cost_saved"]

    def top_questions(self, n=10):
        """[(question, times asked)] of the most asked cached questions (class-wide in a shared backend)."""
        with self._lock:
            return self._store.top_questions(n)

    def reset_stats(self):
        with self._lock:
            self._counts.reset()
            self._events = dict.fromkeys(self._events, 0)

    def explain(self, query, scope=None, k=5):
        """The nearest cached questions (all scopes), their similarity, and why each would or would
        not be served for `query`. Read-only: no stats, no expiry, no LRU change."""
        query = _check_query(query)
        scope = Scope.coerce(scope) or self.scope
        canonical = self.glossary(query)
        vector = self._embed(canonical)
        empty = Explanation([], query, canonical, self.similarity_threshold, self.scorer,
                            self.glossary.name if self.glossary else None)
        with self._lock:
            return self._guarded(lambda: self._explain(empty, vector, scope, k), empty)

    # ---- the integration API -----------------------------------------------------------------------
    def lookup(self, query, scope=None):
        """A `Hit` for `query` in `scope` (default: this cache's scope), or None. Counts in stats."""
        query = _check_query(query)
        scope = Scope.coerce(scope) or self.scope
        started = time.perf_counter()
        canonical = self.glossary(query)
        vector = self._embed(canonical)
        with self._lock:
            hit = self._guarded(lambda: self._lookup(canonical, vector, scope), None)
            self._counts.record(hit)
        if hit is None:
            return None
        if isinstance(hit.value, ChatResponse):
            hit.value.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return hit

    def store(self, query, response, scope=None, *, cost=None, tokens=None, ttl=_DEFAULT):
        """Cache `response` for `query` in `scope`; returns the entry id (None if it could not be
        written, e.g. the file stayed locked). `cost`/`tokens`: what the call cost, reported as
        saved on every hit (default: read from a ChatResponse, or from ChatResponses in a dict)."""
        query = _check_query(query)
        scope = Scope.coerce(scope) or self.scope
        ttl = self.ttl if ttl is _DEFAULT else _check_ttl(ttl)
        value = (query, encode(response), cost_of(response, cost, tokens))
        vector = self._embed(self.glossary(query))
        with self._lock:
            ids = self._guarded(lambda: self._insert(scope, [value], vector.reshape(1, -1), ttl, many=False),
                                None, retry=True)
        return ids[0] if ids else None

    def store_many(self, items, scope=None, *, ttl=_DEFAULT):
        """Warm the cache with (query, response) pairs in one transaction and one embedding batch
        (e.g. an FAQ). A question already cached in the scope gets the new answer. Returns the ids."""
        import numpy as np
        scope = Scope.coerce(scope) or self.scope
        ttl = self.ttl if ttl is _DEFAULT else _check_ttl(ttl)
        latest = {}
        for query, response in items:  # a question given twice: the later answer wins
            latest[plain(_check_query(query))] = (query, encode(response), cost_of(response, None, None))
        if not latest:
            return []
        values = list(latest.values())
        vectors = np.asarray(self._encode([self.glossary(q) for q, _, _ in values]), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(values):
            raise ConfigurationError("The embedder must return one vector per text.")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms) & (norms > 0)):
            raise ConfigurationError("The embedder returned a zero or invalid vector.")
        with self._lock:
            return self._guarded(lambda: self._insert(scope, values, vectors / norms, ttl, many=True), [])

    def session_hook(self, user=None):
        """A hook for ChatSession.add_hook(): looks up before each call, stores after (see SessionCache)."""
        from .session_hook import SessionCache
        return SessionCache(self, user=user)

    def close(self):
        with self._lock:
            self._store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- internals: matching ---------------------------------------------------------------------------
    def _embed(self, text):
        import numpy as np
        vec = np.asarray(self._encode([text]), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vec))
        if not norm or not math.isfinite(norm):
            raise ConfigurationError("The embedder returned a zero or invalid vector for this text.")
        return vec / norm

    def _refresh(self):
        self._entries.sync()
        self._events["expired"] += self._entries.purge_expired(self._clock())

    def _judge(self, q_terms, vector, found):
        """Verdicts for [(entry_id, cosine, Entry)] against the parsed query and its vector."""
        out, ask = [None] * len(found), []
        for n, (entry_id, cosine, entry) in enumerate(found):
            e_terms = self._entry_terms(entry.query)
            if max(len(q_terms.words), len(e_terms.words)) > LONG_QUERY_WORDS \
                    and plain(" ".join(q_terms.words)) != plain(" ".join(e_terms.words)):
                out[n] = Verdict(0.0, cosine, None, [f"long prompt (over {LONG_QUERY_WORDS} words): only the "
                                                     "same text hits"], 0.0)
            elif self.guard is None:
                out[n] = Verdict(cosine, cosine)
            else:
                ask.append((n, e_terms, cosine, entry_id))
        if ask:
            fitted = self.guard.score_kind == "fitted"
            verdicts = self.guard.check_many(q_terms, [(e, c, self._entries.vector(i) if fitted else None)
                                                       for _, e, c, i in ask], vector if fitted else None)
            for (n, *_), v in zip(ask, verdicts):
                out[n] = v
        return out

    def _candidates(self, canonical, vector, scope_key, now, evict):
        """[(verdict, id, entry)] for the scope's nearest live entries that could pass."""
        live = []
        for entry_id, cosine, entry in self._entries.nearest(scope_key, vector, self.top_k):
            if cosine < self._floor:
                continue
            if entry.expired(now):
                if evict and self._entries.expire(entry_id, now):
                    self._events["expired"] += 1
                continue
            live.append((entry_id, cosine, entry))
        if not live:
            return []
        verdicts = self._judge(_terms(canonical), vector, live)
        return [(v, i, e) for v, (i, _, e) in zip(verdicts, live)]

    def _best(self, candidates):
        passing = [c for c in candidates if c[0].score >= self.similarity_threshold]
        return max(passing, key=lambda c: (c[0].score, c[0].cosine), default=None)

    def _lookup(self, canonical, vector, scope):
        self._refresh()
        now = self._clock()
        candidates = self._candidates(canonical, vector, scope.key, now, evict=True)
        best = self._best(candidates)
        if best is None:
            if any(v.vetoes and v.unvetoed >= self.similarity_threshold for v, _, _ in candidates):
                self._events["blocked"] += 1  # only the rules kept a wrong answer from being served
            return None
        verdict, entry_id, entry = best
        stored = self._store.value(entry_id)
        if stored is None:  # removed by another process a moment ago
            self._entries.drop([entry_id])
            return None
        self._entries.touch(entry_id, now, self.sliding)
        kind, payload = stored
        return Hit(decode(kind, payload), entry.query, verdict.score, verdict.cosine, entry_id, kind,
                   entry.cost, entry.tokens, entry.created, now - entry.created, scope)

    def _explain(self, out, vector, scope, k):
        self._entries.sync()
        now = self._clock()
        served = self._best(self._candidates(out.canonical, vector, scope.key, now, evict=False))
        t = self.similarity_threshold
        near = self._entries.nearest_anywhere(vector, k)
        for (entry_id, cosine, entry), verdict in zip(near, self._judge(_terms(out.canonical), vector, near)):
            row = {"query": entry.query, "cosine": round(cosine, 4), "score": round(verdict.score, 4),
                   "probability": None if verdict.probability is None else round(verdict.probability, 4),
                   "decision": "miss", "reason": "", "vetoes": list(verdict.vetoes), "entry_id": entry_id,
                   "age_s": round(now - entry.created, 1),
                   "expires_in_s": None if entry.expires is None else round(entry.expires - now, 1)}
            if entry.scope != scope.key:
                info = self._store.info(entry_id)
                diff = scope.differences(info[0]) if info else ["?"]
                row["reason"] = f"other scope ({', '.join(diff)} differ{'s' if len(diff) == 1 else ''})"
            elif entry.expired(now):
                row["reason"] = f"expired {_ago(now - entry.expires)} ago"
            elif verdict.vetoes:
                row["reason"] = "; ".join(verdict.vetoes)
                if verdict.unvetoed is not None and verdict.unvetoed >= t:
                    row["reason"] += f" (score without the rules: {verdict.unvetoed:.3f}: only the rules refused it)"
            elif verdict.score < t:
                row["reason"] = f"score {verdict.score:.3f} < {t}"
            elif served and entry_id == served[1]:
                row["decision"], row["reason"] = "HIT", f"score {verdict.score:.3f} >= {t}"
            else:
                row["decision"], row["reason"] = "passes", "passes, but a better-scoring entry is served"
            out.append(row)
        return out

    # ---- internals: changes ----------------------------------------------------------------------------
    def _insert(self, scope, values, vectors, ttl, many):
        self._refresh()
        now = self._clock()
        if not self._entries.fits(vectors.shape[1]):
            raise ConfigurationError(f"The embedder returned {vectors.shape[1]}-dimensional vectors but this "
                                     f"cache holds {self._entries.index.dimension}-dimensional ones.")
        # The same question again replaces its old answer instead of piling up.
        replace = self._entries.same_questions(scope.key, [q for q, _, _ in values]) if many else \
            self._entries.same_question(scope.key, vectors[0], values[0][0])
        rows = [{"query": query, "kind": kind, "value": payload, "created": now, "last_access": now,
                 "expires": None if ttl is None else now + ttl, "ttl": ttl, "cost": cost, "tokens": tokens}
                for query, (kind, payload), (cost, tokens) in values]
        ids = self._entries.add(scope, rows, vectors, replace)
        self._events["evicted"] += self._entries.evict_beyond(self.max_entries)
        return ids

    def _invalidate(self, match, scope):
        scope = Scope.coerce(scope)
        key = None if scope is None else scope.key

        def run():
            self._entries.sync()
            return self._entries.delete_matching(match, key)

        with self._lock:
            return self._guarded(run, 0)

    # ---- internals: a bad file never breaks the notebook --------------------------------------------------
    def _guarded(self, action, fallback, retry=False):
        try:
            return action()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                # Locked, disk full, read-only, I/O error: the file is fine, the moment is not. Only
                # real corruption moves the user's file aside.
                log.warning("semantic cache: %s cannot be used now (%s); carrying on without the cache for "
                            "this call", self.path, exc)
                return fallback
            return self._recover(exc, action, fallback, retry)

    def _recover(self, exc, action, fallback, retry):
        if self.path is None:
            raise exc
        self._store.move_aside(exc)
        self._store.open()
        self._entries.reset()
        if retry:
            try:
                return action()
            except sqlite3.DatabaseError as again:
                log.warning("semantic cache: %s unusable (%s); not caching", self.path, again)
        return fallback


# ---- helpers ----------------------------------------------------------------------------------------------
def _check_query(query):
    if not isinstance(query, str):
        raise ConfigurationError(f"The query must be a string (the user's question), got {type(query).__name__}.")
    if not query.strip():
        raise ConfigurationError("The query is empty: pass the question text you want to look up or cache.")
    return query


def _check_ttl(ttl):
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl):
        raise ConfigurationError(f"ttl must be a positive number of seconds (3600 = one hour), or None for "
                                 f"entries that never expire; got {ttl!r}.")
    return float(ttl)


@functools.lru_cache(maxsize=1024)
def _terms(text):
    return parse(text)


def _ago(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h"


def _encoder(embedder):
    encode_ = getattr(embedder, "encode", None) or (embedder if callable(embedder) else None)
    if encode_ is None:
        raise ConfigurationError("embedder must have encode(list_of_texts) returning one vector per text "
                                 "(e.g. a SentenceTransformer), or be such a function.")
    try:
        takes_normalize = "normalize" in inspect.signature(encode_).parameters
    except (TypeError, ValueError):
        takes_normalize = False
    return (lambda texts: encode_(texts, normalize=True)) if takes_normalize else encode_
