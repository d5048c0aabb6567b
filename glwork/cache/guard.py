"""The false-hit guard: rules that veto a hit, then a score fitted on labelled question pairs.

A cosine threshold alone serves wrong answers: with all-MiniLM-L6-v2, "What are Scope 1 emissions?"
is closer to "Explain Scope 2 emissions" (0.89) than to "What is Scope 1?" (0.72). The guard
1. vetoes a pair whose numbers (as a set, and their order), designators ("Scope 1" vs "Scope 2"),
   negation, opposites (direct/indirect, increase/reduce) or names (Karachi vs Hyderabad) disagree:
   a missed hit costs one LLM call, a false hit serves a wrong answer;
2. scores the rest: a logistic regression over the cosine, word overlap and question form, fitted
   by benchmarks/train_cache_guard.py on QQP training pairs, gives a probability p, and
       score = 1 - (share of the non-duplicate training pairs, vetoed ones at 0, with probability >= p)
   so `similarity_threshold=0.95` means "at most 5% of related-but-different question pairs pass".
   On held-out QQP pairs, pair by pair, 0.95 gave precision 0.90 at recall 0.43 (raw cosine >= 0.95:
   0.89/0.21). In a cache holding all 3,940 QQP first questions (benchmarks/bench_cache.py) strict
   counting gives 0.69/0.39: a hit on another entry with B's own text, or on one QQP never compared
   with B (mostly the same question asked again), counts as wrong there; over the hits the labels
   can judge it is 0.91. IDF-weighted overlap, token-level alignment and the margin to the 2nd
   nearest entry were tried and added nothing on held-out folds (see the training script).
"""
import bisect
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigurationError
from .terms import parse, stem

PARAMS_FILE = Path(__file__).with_name("guard_params.json")


def _one_edit_apart(a, b):
    # "Hilary"/"Hillary": a typo, not another name. Short names must match exactly (Iran/Iraq).
    if min(len(a), len(b)) < 6 or abs(len(a) - len(b)) > 1 or a[0] != b[0]:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]


def _missing_names(names, other):
    tokens = other.stems | set(other.words)
    return sorted(n for n in names if n not in tokens and not any(_one_edit_apart(n, t) for t in tokens))


# Words that flip the answer. Compared on stems; a pair vetoes only when each side has its own word.
_OPPOSITES = [tuple(p.split("/")) for p in """increase/decrease increase/reduce gain/lose gain/loss buy/sell
best/worst advantage/disadvantage pro/con before/after start/stop win/lose male/female men/women boy/girl
give/receive given/received import/export upload/download cheap/expensive rich/poor positive/negative
upstream/downstream legal/illegal true/false maximum/minimum max/min high/low higher/lower inside/outside
add/remove enable/disable include/exclude accept/reject love/hate pass/fail online/offline success/failure
open/close first/last past/future input/output public/private gross/net mitigation/adaptation
location/market emit/remove absolute/intensity""".split()]
_NEGATED_FORM = re.compile(r"(?:non|dis|in|un|il|im|ir)(\w{5,})")


_PARTNERS = {}
for _a, _b in _OPPOSITES:
    _PARTNERS.setdefault(stem(_a), set()).add(stem(_b))
    _PARTNERS.setdefault(stem(_b), set()).add(stem(_a))


def _opposites(q, e):
    only_q, only_e = q.stems - e.stems, e.stems - q.stems
    for w in only_q:
        partner = _PARTNERS.get(w, ())
        hit = next((p for p in partner if p in only_e), None)
        if hit:
            return f"opposites: {w} vs {hit}"
    # direct/indirect, renewable/nonrenewable: a word and its negated form, one on each side.
    for x, y, flip in ((only_q, only_e, False), (only_e, only_q, True)):
        for w in x:
            m = _NEGATED_FORM.fullmatch(w)
            if m and m.group(1) in y:
                return f"opposites: {m.group(1)} vs {w}" if flip else f"opposites: {w} vs {m.group(1)}"
    return None


def vetoes(q, e):
    """Reasons the two parsed questions must not share an answer ([] if none)."""
    out = []
    if q.designators != e.designators and (q.designators or e.designators):
        out.append("designators differ: " + _show(q.designators, e.designators))
    elif q.numbers != e.numbers:
        out.append(f"numbers differ: {_show(q.numbers, e.numbers)}")
    elif q.number_order != e.number_order:  # "from 1 to 0" is not "from 0 to 1"
        out.append(f"numbers in another order: {', '.join(q.number_order)} vs {', '.join(e.number_order)}")
    if q.negated != e.negated:
        out.append("negation differs: one question says not/no/never/without")
    flipped = _opposites(q, e)
    if flipped:
        out.append(flipped)
    qm, em = _missing_names(q.names, e), _missing_names(e.names, q)
    if qm and em:  # a substitution (Karachi -> Hyderabad); one extra name alone is left to the score
        out.append(f"names differ: {', '.join(qm)} vs {', '.join(em)}")
    return out


def _show(a, b):
    fmt = lambda s: "{" + ", ".join(sorted(" ".join(x).title() if isinstance(x, tuple) else x for x in s)) + "}"
    return f"{fmt(a)} vs {fmt(b)}"


# Cross-validated on QQP training pairs (benchmarks/train_cache_guard.py), containment, unmatched-word
# counts, name agreement and length ratio added nothing over these; the rules do the rest.
FEATURES = ("cosine", "cosine_over_0.8", "cosine_over_0.9", "jaccard", "same_form")
_TEXT_FEATURE_RANGE = (0.0, 1.0)  # jaccard and same_form: what the text can add at most


def features(q, e, cosine):
    """The score's inputs for one pair of parsed questions (order: FEATURES)."""
    union = len(q.content | e.content) or 1
    return [cosine, max(cosine - 0.8, 0.0), max(cosine - 0.9, 0.0),
            len(q.content & e.content) / union, float(q.form == e.form)]


@dataclass
class Verdict:
    """The guard's view of one (query, entry) pair."""

    score: float                 # what similarity_threshold is compared with
    cosine: float
    probability: float = None    # the fitted model's P(same question), before the mapping
    vetoes: list = field(default_factory=list)
    unvetoed: float = None       # the score the pair would have without the rules


class Guard:
    """Rules plus a fitted score. `Guard(rules=False)` keeps the score but drops the vetoes.

    `params` is the dict written by benchmarks/train_cache_guard.py (default: the shipped
    guard_params.json, fitted for all-MiniLM-L6-v2). With another embedding model the cosine scale
    differs: pass params fitted for it, or use `score="cosine"` to compare the threshold with the
    raw cosine and keep only the rules.
    """

    def __init__(self, rules=True, score="fitted", params=None):
        if score not in ("fitted", "cosine"):
            raise ConfigurationError('Guard(score=...) must be "fitted" or "cosine".')
        self.rules = bool(rules)
        self.score_kind = score
        self.params = None
        if score == "fitted":
            self.params = params if params is not None else load_params()
            _check_params(self.params)
            self._mean = self.params["mean"]
            self._scale = self.params["scale"]
            self._weights = self.params["weights"]
            self._bias = self.params["bias"]
            self._null = self.params["null_scores"]  # sorted probabilities of non-duplicate pairs

    @property
    def model_name(self):
        return self.params.get("embedding_model") if self.params else None

    def __repr__(self):
        return f"Guard(rules={self.rules}, score={self.score_kind!r})"

    def probability(self, q, e, cosine):
        x = features(q, e, cosine)
        z = self._bias + sum(w * (v - m) / s for w, v, m, s in zip(self._weights, x, self._mean, self._scale))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_score(self, p):
        """1 - the share of the reference non-duplicate pairs whose probability is >= p."""
        n = len(self._null)
        return 1.0 - (n - bisect.bisect_left(self._null, p)) / (n + 1)

    def cosine_floor(self, threshold):
        """The lowest cosine at which any pair could reach `threshold` (lookups skip those below)."""
        if self.score_kind == "cosine":
            return threshold
        text_best = sum(max(w * (v - m) / s for v in _TEXT_FEATURE_RANGE)
                        for w, m, s in zip(self._weights[3:], self._mean[3:], self._scale[3:]))
        for step in range(1001):
            c = step / 1000
            x = [c, max(c - 0.8, 0.0), max(c - 0.9, 0.0)]
            z = self._bias + text_best + sum(w * (v - m) / s for w, v, m, s in
                                             zip(self._weights, x, self._mean, self._scale))
            if self.to_score(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))) >= threshold:
                return max(c - 0.001, 0.0)
        return 1.0

    def check(self, q, e, cosine):
        """Verdict for parsed query `q` against parsed entry `e` at embedding cosine `cosine`."""
        vetoed = vetoes(q, e) if self.rules else []
        if self.score_kind == "cosine":
            return Verdict(0.0 if vetoed else cosine, cosine, None, vetoed, cosine)
        p = self.probability(q, e, cosine)
        score = self.to_score(p)
        return Verdict(0.0 if vetoed else score, cosine, p, vetoed, score)

    def check_text(self, query, entry, cosine):
        return self.check(parse(query), parse(entry), cosine)


def _check_params(p):
    need = ("features", "mean", "scale", "weights", "bias", "null_scores")
    if not isinstance(p, dict) or any(k not in p for k in need):
        raise ConfigurationError(f"Guard params need the keys {need}: use the file written by "
                                 "benchmarks/train_cache_guard.py.")
    if list(p["features"]) != list(FEATURES):
        raise ConfigurationError("These guard params were fitted for other features: re-run "
                                 "benchmarks/train_cache_guard.py.")


_params = None


def load_params():
    global _params
    if _params is None:
        try:
            _params = json.loads(PARAMS_FILE.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"The cache guard's parameters ({PARAMS_FILE}) are missing or unreadable "
                                     f"({exc}); reinstall glwork or run benchmarks/train_cache_guard.py.") from None
    return _params
