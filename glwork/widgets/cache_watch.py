"""Observe a SemanticCacheManager's lookups (for CacheDashboard) without changing what they return.

The cache publishes no event per lookup, so `watch()` wraps this one cache object's `lookup` (the
method every get() and every ChatSession cache check goes through) and tells subscribers what
happened: hit or miss, and the score compared with the threshold. For a miss the score is that of
the best cached question in the same scope, read with the read-only `explain()`.
"""
import time

from ..security import get_logger

log = get_logger(__name__)
_ATTR = "_glwork_lookup_watchers"


def watch(cache, callback, clock=time.time):
    """Call `callback(info)` after each lookup of `cache`; returns a function that stops it.

    info: {"time", "query", "hit", "score", "cosine", "threshold", "cost_saved", "matched"}."""
    callbacks = cache.__dict__.get(_ATTR)
    if callbacks is None:
        callbacks = []
        original = cache.lookup

        def lookup(query, scope=None):
            hit = original(query, scope)
            if callbacks:
                info = describe(cache, query, scope, hit, clock)
                for cb in list(callbacks):
                    try:
                        cb(info)
                    except Exception as exc:   # a broken dashboard must not break a call
                        log.warning("cache lookup watcher %r failed: %s", cb, exc)
            return hit

        lookup.__doc__ = original.__doc__
        cache.lookup = lookup
        setattr(cache, _ATTR, callbacks)
    callbacks.append(callback)

    def stop():
        if callback in callbacks:
            callbacks.remove(callback)
    return stop


def describe(cache, query, scope, hit, clock=time.time):
    info = {"time": clock(), "query": query, "hit": hit is not None, "threshold": cache.similarity_threshold,
            "cost_saved": float(hit.cost or 0.0) if hit is not None else 0.0}
    if hit is not None:
        info.update(score=float(hit.score), cosine=float(hit.cosine), matched=hit.query)
        return info
    try:
        rows = [r for r in cache.explain(query, scope, k=cache.top_k)
                if not r["reason"].startswith("other scope")]
    except Exception:   # explain() failing must not turn a miss into an error
        rows = []
    best = max(rows, key=lambda r: r["score"], default=None)
    info.update(score=None if best is None else float(best["score"]),
                cosine=None if best is None else float(best["cosine"]),
                matched=None if best is None else best["query"])
    return info
