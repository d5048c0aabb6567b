"""Measure a semantic cache on labelled question pairs: which entry each question is served, and
precision/recall over thresholds, judged fairly.

With thousands of questions in one cache a question often hits another entry than its own pair's,
often an equivalent one (the same question asked twice on Quora). `PairJudge` counts a hit right when
both questions are in the same duplicate cluster (union-find over the label-1 pairs), wrong when a
label-0 pair separates their clusters, and unjudged otherwise. Three precisions follow:
fair (right / judged hits), unjudged-as-wrong (right / all hits) and strict (only the query's own
labelled duplicate counts). Recall is right hits / duplicate pairs.
"""
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigurationError
from .entries import plain

CURVES_FILE = Path(__file__).resolve().parent.parent / "data" / "cache_precision_curves.json"


class PairJudge:
    """Judge "query was served entry's answer" from labelled pairs [{"text_a", "text_b", "label"}]."""

    def __init__(self, pairs):
        self._parent = {}
        pairs = list(pairs)
        for p in pairs:
            a, b = self.cluster(p["text_a"]), self.cluster(p["text_b"])
            if p["label"] == 1 and a != b:
                self._parent[a] = b
        self._apart = set()
        for p in pairs:
            if p["label"] == 0:
                a, b = self.cluster(p["text_a"]), self.cluster(p["text_b"])
                self._apart |= {(a, b), (b, a)}

    def cluster(self, text):
        """The root of the text's duplicate cluster (texts compared case- and spacing-blind)."""
        x = plain(text)
        self._parent.setdefault(x, x)
        while self._parent[x] != x:
            self._parent[x] = self._parent[self._parent[x]]
            x = self._parent[x]
        return x

    def __call__(self, query, entry):
        """"right", "wrong" or "unjudged"."""
        a, b = self.cluster(query), self.cluster(entry)
        if a == b:
            return "right"
        return "wrong" if (a, b) in self._apart else "unjudged"


@dataclass
class Served:
    """What one lookup would serve at threshold 0: the best-scoring candidate among the top_k."""

    query: str
    score: float
    cosine: float
    entry: str       # the cached question whose answer would be served


def best_matches(cache, queries, scope=None):
    """[Served] per query: the candidate the cache ranks first, whatever its score (read-only)."""
    out = []
    for q in queries:
        rows = [r for r in cache.explain(q, scope=scope, k=cache.top_k) if not r["reason"].startswith("other scope")]
        top = max(rows, key=lambda r: (r["score"], r["cosine"]), default=None)
        out.append(Served(q, top["score"], top["cosine"], top["query"]) if top else Served(q, 0.0, 0.0, None))
    return out


def precision_recall(served, pairs, judge, thresholds):
    """Rows per threshold for the lookups `served[i]` of `pairs[i]["text_b"]`.

    hits; right / wrong / unjudged (judge); precision (fair: right / (right + wrong)); precision_all
    (unjudged counted wrong); recall (right hits / duplicate pairs); precision_strict / recall_strict
    (only the pair's own text_a, labelled duplicate, is right).
    """
    if len(served) != len(pairs):
        raise ConfigurationError("served and pairs must be the same length (one lookup per pair).")
    positives = sum(1 for p in pairs if p["label"] == 1) or 1
    verdicts = [judge(s.query, s.entry) if s.entry is not None else None for s in served]
    own = [s.entry is not None and plain(s.entry) == plain(p["text_a"]) and p["label"] == 1
           for s, p in zip(served, pairs)]
    rows = []
    for t in thresholds:
        hit = [s.entry is not None and s.score >= t for s in served]
        kinds = [v for v, h in zip(verdicts, hit) if h]
        right, wrong, hits = kinds.count("right"), kinds.count("wrong"), len(kinds)
        strict = sum(1 for h, o in zip(hit, own) if h and o)
        rows.append({"threshold": round(float(t), 4), "hits": hits, "right": right, "wrong": wrong,
                     "unjudged": hits - right - wrong,
                     "precision": right / (right + wrong) if right + wrong else float("nan"),
                     "precision_all": right / hits if hits else float("nan"), "recall": right / positives,
                     "precision_strict": strict / hits if hits else float("nan"), "recall_strict": strict / positives})
    return rows


def at_recall(rows, recall):
    """The row with the highest threshold whose recall is still >= `recall` (same saving, compared)."""
    ok = [r for r in rows if r["recall"] >= recall]
    return max(ok, key=lambda r: r["threshold"]) if ok else None


def load_precision_curves(path=None):
    """The curves benchmarks/bench_cache.py measured on the QQP dev pairs (shipped with the kit):
    {"meta": {...}, "curves": {cache name: [rows as precision_recall gives]}}."""
    path = Path(path) if path else CURVES_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"Cannot read the precision curves {path} ({exc}); re-create them with "
                                 "`python benchmarks/bench_cache.py --write-curves`.") from None
    if not isinstance(data, dict) or "curves" not in data or "meta" not in data:
        raise ConfigurationError(f"{path} is not a curves file written by benchmarks/bench_cache.py.")
    return data


def side_by_side(pairs, threshold=0.95, cosine_threshold=0.90, embedder=None):
    """For (cached question, new question) pairs: what plain cosine at `cosine_threshold` and the kit
    at `threshold` would do, and why. One fresh cache per pair, so each is judged on its own."""
    from .manager import SemanticCacheManager
    rows = []
    for cached, asked in pairs:
        plain_cache = SemanticCacheManager(cosine_threshold, ttl=None, guard=False, glossary=None, embedder=embedder)
        kit = SemanticCacheManager(threshold, ttl=None, embedder=embedder)
        verdicts = []
        for cache in (plain_cache, kit):
            cache.set(cached, "(the cached answer)")
            verdicts.append(cache.explain(asked, k=1)[0])
            cache.close()
        cos, mine = verdicts
        rows.append({"cached question": cached, "new question": asked, "cosine": cos["cosine"],
                     f"plain cosine >= {cosine_threshold}": "serves" if cos["decision"] == "HIT" else "misses",
                     "kit score": mine["score"],
                     f"kit >= {threshold}": "serves" if mine["decision"] == "HIT" else "misses",
                     "why": mine["reason"]})
    return rows
