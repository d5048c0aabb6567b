"""How much repeated answers to one question differ (workshop Part 7 §2, measured in the extras).

    answer_spread(["Solar Shift", "Net Zero Now", "Solar Shift"])
    # {"answers": 3, "distinct": 2, "similarity": 0.71, "mean words": 2.0, "std words": 0.0}

`similarity` is the mean cosine similarity of every pair of answers with the local MiniLM sentence
embedder (1.0: the same meaning); `distinct` counts different wordings (case and spaces ignored).
"""
from itertools import combinations


def answer_spread(answers):
    """Distinct wordings, mean pairwise similarity of meaning, and the spread of length of `answers`."""
    import numpy as np

    from ..embeddings import local_embedder
    texts = [str(a).strip() for a in answers]
    if len(texts) < 2:
        raise ValueError(f"A spread needs at least two answers, got {len(texts)}.")
    vectors = local_embedder().encode(texts)   # unit length: a dot product is the cosine
    pairs = [float(vectors[a] @ vectors[b]) for a, b in combinations(range(len(texts)), 2)]
    words = np.array([len(t.split()) for t in texts], dtype=float)
    return {"answers": len(texts), "distinct": len({" ".join(t.lower().split()) for t in texts}),
            "similarity": round(float(np.mean(pairs)), 3), "mean words": round(float(words.mean()), 1),
            "std words": round(float(words.std()), 1)}
