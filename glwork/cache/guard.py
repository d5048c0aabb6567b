"""The false-hit guard: rules that veto a hit, then a pair model's score.

A cosine threshold alone serves wrong answers: with all-MiniLM-L6-v2, "What are Scope 1 emissions?"
is closer to "Explain Scope 2 emissions" (0.89) than to "What is Scope 1?" (0.72). The guard
1. vetoes a pair whose numbers, designators ("Scope 1" vs "Scope 2"), negation, opposites or names
   disagree (guard_rules.py);
2. scores the rest with a pair model (pairmodel.py) trained on labelled Quora question pairs by
   benchmarks/train_cache_guard.py. It gives a probability p, and
       score = 1 - (share of held-out non-duplicate training pairs, vetoed ones at 0, scoring >= p)
   so `similarity_threshold=0.95` means "at most 5% of related-but-different question pairs pass".
Figures (dev pairs never trained on, judged fairly): benchmarks/bench_cache.py and guard_params.json.
"""
import bisect
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigurationError
from .guard_rules import vetoes
from .terms import parse

PARAMS_FILE = Path(__file__).with_name("guard_params.json")
MODEL_FILE = Path(__file__).with_name("guard_model.npz")


@dataclass
class Verdict:
    """The guard's view of one (query, entry) pair."""

    score: float                 # what similarity_threshold is compared with
    cosine: float
    probability: float | None = None    # the pair model's P(same question), before the mapping
    vetoes: list = field(default_factory=list)
    unvetoed: float | None = None       # the score the pair would have without the rules


class Guard:
    """Rules plus the pair model's score. `Guard(rules=False)` keeps the score but drops the vetoes;
    `Guard(score="cosine")` compares the threshold with the raw cosine and keeps the rules (for an
    embedding model the pair model was not trained for).
    """

    def __init__(self, rules=True, score="fitted", params=None, model=None):
        if score not in ("fitted", "cosine"):
            raise ConfigurationError('Guard(score=...) must be "fitted" or "cosine".')
        self.rules = bool(rules)
        self.score_kind = score
        self.params = self.model = None
        if score == "fitted":
            self.params = params if params is not None else load_params()
            _check_params(self.params)
            self.model = model if model is not None else load_model()
            self._null = self.params["null_scores"]  # sorted probabilities of held-out non-duplicates

    @property
    def model_name(self):
        """The embedding model the pair model reads (None for the cosine score)."""
        return self.params.get("embedding_model") if self.params else None

    def __repr__(self):
        return f"Guard(rules={self.rules}, score={self.score_kind!r})"

    def to_score(self, p):
        """1 - the share of the reference non-duplicate pairs whose probability is >= p."""
        n = len(self._null)
        return 1.0 - (n - bisect.bisect_left(self._null, p)) / (n + 1)

    def cosine_floor(self, threshold):
        """A cosine below which no pair reached `threshold` in training (lookups skip those)."""
        if self.score_kind == "cosine":
            return threshold
        # [[score, lowest cosine of a training pair reaching it]]: pairs at `threshold` also reach every
        # lower score, so the highest listed score at or below it bounds them.
        below = [(s, c) for s, c in self.params["cosine_floor"] if s <= threshold]
        return max(max(below)[1] - 0.05, 0.0) if below else 0.0

    def check(self, q, e, cosine, qv=None, ev=None):
        """Verdict for parsed query `q` against parsed entry `e` at embedding cosine `cosine`;
        the fitted score also reads both unit vectors `qv`, `ev`."""
        return self.check_many(q, [(e, cosine, ev)], qv)[0]

    def check_many(self, q, entries, qv=None):
        """Verdicts for query `q` against [(parsed entry, cosine, entry vector)], in one batch."""
        found = [vetoes(q, e) if self.rules or self.score_kind == "fitted" else [] for e, _, _ in entries]
        reasons = found if self.rules else [[] for _ in entries]
        if self.score_kind == "cosine":
            return [Verdict(0.0 if r else c, c, None, r, c) for r, (_, c, _) in zip(reasons, entries)]
        if qv is None or any(v is None for _, _, v in entries):
            raise ConfigurationError("The fitted guard reads both questions' vectors: pass qv= and the entry "
                                     "vectors, or use Guard(score='cosine').")
        import numpy as np

        from .pairmodel import pair_features, text_features
        text = [text_features(q, e, v) for (e, _, _), v in zip(entries, found)]
        ev = np.vstack([v for _, _, v in entries])
        x = pair_features(np.repeat(np.asarray(qv, np.float32).reshape(1, -1), len(entries), 0), ev, text)
        probs = 1.0 / (1.0 + np.exp(-np.clip(self.model.logits(x), -50.0, 50.0)))
        # The same words in the same order are the same question, whatever the model says.
        probs = np.where([q.words == e.words for e, _, _ in entries], 1.0, probs)
        out = []
        for r, (_, c, _), p in zip(reasons, entries, probs):
            score = self.to_score(float(p))
            out.append(Verdict(0.0 if r else score, c, float(p), r, score))
        return out

    def check_text(self, query, entry, embedder=None):
        """Verdict for two question texts, embedded with `embedder` (default: the local model)."""
        import numpy as np
        if embedder is None:
            from ..embeddings.local import local_embedder
            embedder = local_embedder()
        qv, ev = np.asarray(embedder.encode([query, entry]), np.float32)
        qv, ev = qv / np.linalg.norm(qv), ev / np.linalg.norm(ev)
        return self.check(parse(query), parse(entry), min(float(qv @ ev), 1.0), qv, ev)


def _check_params(p):
    need = ("format", "embedding_model", "null_scores", "cosine_floor")
    if not isinstance(p, dict) or any(k not in p for k in need) or p.get("format") != "glwork-cache-guard-pair":
        raise ConfigurationError(f"Guard params need the keys {need} and format 'glwork-cache-guard-pair': use "
                                 "the file written by benchmarks/train_cache_guard.py.")


_loaded: dict[str, dict] = {}


def load_params():
    if "params" not in _loaded:
        try:
            _loaded["params"] = json.loads(PARAMS_FILE.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"The cache guard's parameters ({PARAMS_FILE}) are missing or unreadable "
                                     f"({exc}); reinstall glwork or run `make train-cache-guard`.") from None
    return _loaded["params"]


def load_model():
    if "model" not in _loaded:
        import numpy as np

        from .pairmodel import PairModel
        try:
            with np.load(MODEL_FILE) as weights:
                _loaded["model"] = PairModel({k: weights[k] for k in weights.files})
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"The cache guard's model ({MODEL_FILE}) is missing or unreadable ({exc}); "
                                     "reinstall glwork or run `make train-cache-guard`.") from None
    return _loaded["model"]
