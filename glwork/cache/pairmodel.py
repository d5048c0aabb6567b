"""The guard's pair model: is the cached question the same question as the new one?

A small model (numpy at run time) reads both questions' embeddings the way sentence-pair classifiers
do, [u*v, |u-v|, u+v, cosine], plus what the text says (word overlap, question form, the rules'
vetoes, length, containment). Trained on 58k labelled Quora question pairs by
benchmarks/train_cache_guard.py (seeded, minutes on 2 cores); weights in guard_model.npz.
Why more than the cosine: the cosine weighs every dimension alike, so it cannot learn that a
difference along some dimensions (a place, a number, "without") changes the question while one
along others (wording) does not; u*v and |u-v| show it per dimension, and u+v says what the
questions are about, as some topics need a closer match than others.
"""
import numpy as np

from .guard_rules import vetoes

# What the text adds to the vectors; every feature is symmetric in the two questions.
TEXT_FEATURES = ("jaccard", "same_form", "vetoed", "numbers_differ", "negation_differs", "names_differ",
                 "length_ratio", "contained", "same_text")


def text_features(q, e, vetoed=None):
    """TEXT_FEATURES of two parsed questions (glwork.cache.terms.parse); `vetoed`: vetoes(q, e) if
    already known."""
    union = len(q.content | e.content) or 1
    reasons = {r.split(":")[0] for r in (vetoes(q, e) if vetoed is None else vetoed)}
    lq, le = len(q.words) or 1, len(e.words) or 1
    return [len(q.content & e.content) / union, float(q.form == e.form), float(bool(reasons)),
            float(bool(reasons & {"numbers differ", "designators differ", "numbers in another order"})),
            float("negation differs" in reasons), float("names differ" in reasons),
            min(lq, le) / max(lq, le), float(q.content <= e.content or e.content <= q.content),
            float(q.words == e.words)]


def pair_features(u, v, text):
    """(n, 3d + 1 + len(TEXT_FEATURES)) inputs from unit vectors u, v (n, d) and text features (n, k)."""
    u, v = np.asarray(u, np.float32), np.asarray(v, np.float32)
    cos = (u * v).sum(1, keepdims=True)
    return np.hstack([u * v, np.abs(u - v), u + v, cos, np.asarray(text, np.float32).reshape(len(u), -1)])


class PairModel:
    """Logit of "same question" from pair_features, with the weights written by the training script."""

    def __init__(self, weights):
        self.mean = np.asarray(weights["mean"], np.float32)
        self.scale = np.asarray(weights["scale"], np.float32)
        self.layers = [(np.asarray(weights[f"w{i}"], np.float32), np.asarray(weights[f"b{i}"], np.float32))
                       for i in range(int(weights["depth"]))]
        if self.layers[0][0].shape[0] != len(self.mean) or self.layers[-1][0].shape[1] != 1:
            raise ValueError("pair model weights do not fit together")

    @property
    def dimension(self):
        """The embedding size the model reads."""
        return (len(self.mean) - 1 - len(TEXT_FEATURES)) // 3

    def logits(self, features):
        x = (np.asarray(features, np.float32) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x[:, 0].astype(np.float64)
