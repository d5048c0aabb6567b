"""The homework grader's questions: held out from the lab, about documents the learner indexed.

Each question has a paraphrase (the cache should serve it), the id of the document that holds the
fact, and regexes an answer must (`require_all`) and must not (`forbid`) match. See
glwork/data/homework_questions.SOURCE.txt for where they come from.
"""
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigurationError

POOL_FILE = Path(__file__).resolve().parents[1] / "data" / "homework_questions.jsonl"


@dataclass(frozen=True)
class Question:
    question: str
    paraphrase: str
    doc: str | None = None                     # id of the document holding the fact (None: not checked)
    require_all: tuple = field(default=())
    forbid: tuple = field(default=())

    def wrong(self, answer):
        """What is wrong with `answer` as an answer to this question (None: it states the fact)."""
        missing = [r for r in self.require_all if not re.search(r, answer, re.I)]
        if missing:
            return f"does not state the fact (expected to match {' and '.join(missing)})"
        bad = [m.group(0) for r in self.forbid for m in [re.search(r, answer, re.I)] if m]
        if bad:
            return f"also states something wrong ({', '.join(repr(b) for b in bad)})"
        return None


def load_pool(path=POOL_FILE):
    with open(path, encoding="utf-8") as f:
        return [as_question(json.loads(line)) for line in f if line.strip()]


def as_question(spec):
    """A Question from a dict {"question", "paraphrase", "doc"?, "require_all"?, "forbid"?}."""
    if isinstance(spec, Question):
        return spec
    if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) and spec[k].strip()
                                             for k in ("question", "paraphrase")):
        raise ConfigurationError('Each grading question is a dict {"question": ..., "paraphrase": ..., '
                                 '"doc": ..., "require_all": [regex, ...], "forbid": [regex, ...]}; '
                                 f'got {spec!r}.')
    return Question(spec["question"], spec["paraphrase"], spec.get("doc"),
                    tuple(spec.get("require_all") or ()), tuple(spec.get("forbid") or ()))


def pick(indexed_ids, n=3, seed=None, pool=None):
    """`n` questions, first those whose document the learner indexed (pool order, or shuffled by
    `seed`), then others; no two about the same document."""
    pool = list(load_pool() if pool is None else pool)
    if seed is not None:
        random.Random(str(seed)).shuffle(pool)
    indexed = set(indexed_ids)
    ordered = [q for q in pool if q.doc in indexed] + [q for q in pool if q.doc not in indexed]
    out, docs = [], set()
    for q in ordered:
        if q.doc is None or q.doc not in docs:
            out.append(q)
            docs.add(q.doc)
        if len(out) == n:
            break
    return out
