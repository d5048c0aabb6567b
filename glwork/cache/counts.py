"""Cache hits and what they saved, counted in one place: per cache (SemanticCacheManager.stats) and
per session (SessionCache.stats, which ChatSession.get_cache_stats reports)."""
from __future__ import annotations

import threading
from typing import Any

from ..response import USD


class HitCounter:
    """Lookups that hit or missed, and the cost and tokens the hits saved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.hits, self.misses, self.cost_saved, self.tokens_saved = 0, 0, 0.0, 0

    def record(self, hit: Any) -> None:
        """Count one lookup: `hit` is its Hit (cost and tokens of the call it stands in for), or None."""
        with self._lock:
            if hit is None:
                self.misses += 1
            else:
                self.hits += 1
                self.cost_saved += hit.cost
                self.tokens_saved += hit.tokens

    def summary(self) -> dict[str, Any]:
        """hits, misses, lookups, hit_rate (percent), cost_saved (USD), tokens_saved."""
        with self._lock:
            hits, misses, cost, tokens = self.hits, self.misses, self.cost_saved, self.tokens_saved
        lookups = hits + misses
        return {"hits": hits, "misses": misses, "lookups": lookups,
                "hit_rate": round(100.0 * hits / lookups, 1) if lookups else 0.0,
                "cost_saved": USD(round(cost, 8)), "tokens_saved": tokens}
