"""Combining the semantic and keyword rankings.

- "weighted" (default): alpha * semantic + (1 - alpha) * keyword, each min-max normalised over the
  candidate pool (the union of both top lists, with BOTH scores computed exactly for every member,
  so a chunk found by one method is not punished for being absent from the other's list).
- "rrf": reciprocal-rank fusion, sum of 1 / (60 + rank) over the two lists (scores ignored).
"""
FUSIONS = ("weighted", "rrf")
RRF_K = 60


def minmax(values):
    import numpy as np
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return values
    low, high = values.min(), values.max()
    if high - low < 1e-12:
        return np.ones_like(values) if high > 0 else np.zeros_like(values)
    return (values - low) / (high - low)


def weighted(ids, semantic, keyword, alpha):
    """{id: fused score} from aligned score arrays of the pool."""
    fused = alpha * minmax(semantic) + (1 - alpha) * minmax(keyword)
    return dict(zip(ids, fused.tolist()))


def rrf(*rankings, k=RRF_K):
    """{id: sum of 1/(k + rank)} over ranked id lists (rank starts at 1)."""
    out = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking, start=1):
            out[i] = out.get(i, 0.0) + 1.0 / (k + rank)
    return out


def top(scores, k):
    """The k best (id, score) pairs of a {id: score} dict, ties broken by id for determinism."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
