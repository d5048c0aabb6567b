"""What the instructor's dashboard shows, as plain data, from either backend.

    from glwork.backends.overview import class_overview
    view = class_overview()            # the configured backend: the whole class, or this machine

With a shared backend the figures are the class's: every kernel's calls (the Redis ledger), every
limiter's window, the shared cache's most asked questions and the class budget. Embedded, they are
this machine's ledger plus the limiters and cache you pass in.
"""
from .. import backends


def class_overview(tracker=None, cache=None, limiters=(), top=10):
    """{"backend", "spend", "attendees", "hit_rate", "limits", "busiest", "budget", "calls"}.

    tracker: a CostTracker (default: the configured one); cache: a SemanticCacheManager whose most
    asked questions to list (default with a shared backend: the class's cache); limiters:
    RateLimiters to report (with a shared backend every limiter with recent activity is listed too).
    """
    import pandas as pd

    from ..monitoring.ledger import CostTracker
    from ..resilience.class_budget import ClassBudget
    backend = backends.current()
    tracker = tracker or CostTracker()
    calls = tracker.to_dataframe()
    n = len(calls)
    cached = int(calls["cached"].sum()) if n else 0
    attendees = pd.DataFrame(columns=["attendee", "calls", "from_cache", "cost", "hit_rate"])
    if n:
        g = calls.assign(attendee=calls["attendee"].fillna("(unknown)")).groupby("attendee")
        attendees = pd.DataFrame({"calls": g.size(), "from_cache": g["cached"].sum().astype(int),
                                  "cost": g["cost"].sum().round(8)}).reset_index()
        attendees["hit_rate"] = (100.0 * attendees["from_cache"] / attendees["calls"]).round(1)
        attendees = attendees.sort_values(["cost", "attendee"], ascending=[False, True], ignore_index=True)
    return {
        "backend": backends.describe(),
        "calls": n,
        "spend": {"today": float(tracker.get_daily_cost()), "month": float(tracker.get_monthly_cost()),
                  "all": float(tracker.get_total_cost())},
        "attendees": attendees,
        "hit_rate": round(100.0 * cached / n, 1) if n else 0.0,
        "limits": limit_headroom(limiters, backend),
        "busiest": busiest_questions(cache, backend, top),
        "budget": _budget(ClassBudget),
    }


def limit_headroom(limiters=(), backend=None):
    """[{name, kind, used, limit, headroom}] for requests and tokens of each limiter, now."""
    rows, seen = [], set()
    for lim in limiters:
        stats = lim.get_stats()
        seen.add(lim.name)
        rows += _rows(lim.name, stats["requests_in_window"], stats["max_requests_per_minute"],
                      stats["tokens_in_window"], stats["max_tokens_per_minute"])
    if backend is not None:
        from .redis_limiter import SharedWindow, limiter_names
        try:
            for name in limiter_names(backend):
                if name in seen:
                    continue
                probe = SharedWindow(backend, name, 60, None, None)
                meta = probe.meta()
                probe.window = meta.get("window", 60.0)
                used_r, used_t = probe.peek()
                rows += _rows(name, used_r, int(meta.get("max_requests", 0)) or None,
                              used_t, int(meta.get("max_tokens", 0)) or None)
        except backends.BackendUnavailable:
            pass
    return rows


def _rows(name, used_r, max_r, used_t, max_t):
    out = []
    for kind, used, limit in (("requests", used_r, max_r), ("tokens", used_t, max_t)):
        if limit:
            free = max(limit - used, 0)
            out.append({"limiter": name, "kind": kind, "used": used, "limit": limit, "headroom": free,
                        "headroom_pct": round(100.0 * free / limit, 1)})
    return out


def busiest_questions(cache=None, backend=None, top=10):
    """[(question, times asked)] from `cache`, else from the class's shared cache."""
    if cache is None and backend is None:
        return []
    from .redis_cache import RedisCacheStore
    try:
        return (cache if cache is not None else RedisCacheStore(backend)).top_questions(top)
    except backends.BackendUnavailable:
        return []


def _budget(ClassBudget):
    try:
        return ClassBudget().get_status()
    except backends.BackendUnavailable:
        return None
