"""CacheDashboard: the semantic cache at work, lookup by lookup.

    CacheDashboard(session)   # a ChatSession made with semantic_cache=...
    CacheDashboard(cache)     # or a SemanticCacheManager

Top: hits and misses so far (cumulative, over time). Bottom: the similarity score of each lookup
(the best cached question in its scope) against the threshold: points above it were served.
The summary line reads the cache's own stats: hit rate, cost saved, entries.
"""
from datetime import datetime

from ..errors import ConfigurationError
from . import cache_watch
from .dashboard import REFRESH_S, Dashboard, figure_widget
from .view import esc, table

HIT, MISS, LINE = "#2ca02c", "#d62728", "#7f7f7f"


def cache_of(obj):
    """The SemanticCacheManager behind a session, a session hook or a cache."""
    from ..cache import SemanticCacheManager, SessionCache
    if isinstance(obj, SemanticCacheManager):
        return obj
    if isinstance(obj, SessionCache):
        return obj.cache
    if hasattr(obj, "send_message"):
        hook = getattr(obj, "cache", None)
        if hook is None:
            raise ConfigurationError("This ChatSession has no semantic cache: create it with "
                                     "ChatSession(..., semantic_cache=True) or pass a SemanticCacheManager.")
        return hook.cache
    raise ConfigurationError(f"CacheDashboard needs a SemanticCacheManager or a ChatSession with a semantic cache, "
                             f"got {type(obj).__name__}.")


class CacheDashboard(Dashboard):
    """The semantic cache's hits and misses, lookup by lookup, with each similarity against the threshold."""

    title = "Semantic cache"

    def __init__(self, cache_or_session, refresh_delay=REFRESH_S):
        self.cache = cache_of(cache_or_session)
        self.lookups = []          # what the watcher saw since this dashboard was made
        super().__init__(refresh_delay)
        self._stop_watch = cache_watch.watch(self.cache, self._on_lookup)

    def _on_lookup(self, info):
        self.lookups.append(info)
        self._soon()

    def close(self):
        self._stop_watch()
        super().close()

    def _figure(self):
        fig = figure_widget(2, 1, ("Hits and misses (cumulative)", "Similarity of each lookup vs the threshold"), 560)
        import plotly.graph_objects as go
        fig.add_trace(go.Scatter(name="hits", mode="lines+markers", line_shape="hv", marker_color=HIT), 1, 1)
        fig.add_trace(go.Scatter(name="misses", mode="lines+markers", line_shape="hv", marker_color=MISS), 1, 1)
        fig.add_trace(go.Scatter(name="hit (served)", mode="markers", marker=dict(color=HIT, size=10)), 2, 1)
        fig.add_trace(go.Scatter(name="miss", mode="markers", marker=dict(color=MISS, size=10, symbol="x")), 2, 1)
        fig.add_trace(go.Scatter(name="threshold", mode="lines", line=dict(color=LINE, dash="dash")), 2, 1)
        fig.update_yaxes(title_text="lookups", row=1, col=1)
        fig.update_yaxes(title_text="score", row=2, col=1)
        return fig

    def _data(self):
        return {"stats": self.cache.stats(), "lookups": list(self.lookups)}

    def _draw(self, data):
        looks = data["lookups"]
        times = [datetime.fromtimestamp(x["time"]) for x in looks]
        hits = misses = 0
        cum_h, cum_m = [], []
        for x in looks:
            hits += x["hit"]
            misses += not x["hit"]
            cum_h.append(hits)
            cum_m.append(misses)
        d = self.figure.data
        d[0].x, d[0].y = times, cum_h
        d[1].x, d[1].y = times, cum_m
        for trace, hit in ((d[2], True), (d[3], False)):
            pts = [(t, x) for t, x in zip(times, looks) if x["hit"] == hit and x["score"] is not None]
            trace.x = [t for t, _ in pts]
            trace.y = [x["score"] for _, x in pts]
            trace.text = [x["query"] for _, x in pts]
        threshold = data["stats"]["similarity_threshold"]
        d[4].x = [times[0], times[-1]] if times else []
        d[4].y = [threshold, threshold] if times else []

    def _headline(self, data):
        s = data["stats"]
        return (f"{s['lookups']} lookups · {s['hits']} hits · {s['misses']} misses · hit rate {s['hit_rate']:.1f}% · "
                f"cost saved ${float(s['cost_saved']):.6f} · {s['entries']} entries · threshold "
                f"{s['similarity_threshold']} on {esc(s['scorer'])}")

    def _static_body(self, data):
        rows = []
        for n, x in enumerate(data["lookups"], 1):
            score = "—" if x["score"] is None else f"{x['score']:.3f}"
            rows.append([str(n), esc(_short(x["query"])), "HIT" if x["hit"] else "miss", score,
                         f"{x['threshold']}", esc(_short(x.get("matched") or ""))])
        if not rows:
            return '<div class="glw-note">(no lookups since the dashboard was made)</div>'
        return table(["#", "question", "decision", "score", "threshold", "nearest cached question"], rows)


def _short(text, n=70):
    return text if len(text) <= n else text[:n - 1] + "…"
