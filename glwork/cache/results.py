"""What lookups and explain() return: `Hit` and `Explanation`."""
import json
from dataclasses import dataclass

from ..response import USD, ChatResponse, Usage
from .scope import Scope


@dataclass
class Hit:
    """A cached answer served for a query: `value` is what `get()` returns."""

    value: object
    query: str          # the cached question that matched
    score: float        # compared with similarity_threshold
    cosine: float
    entry_id: int
    kind: str           # text | chat | json
    cost: float         # what the original call cost: saved by this hit
    tokens: int
    created: float
    age: float          # seconds since the entry was stored
    scope: Scope

    def chat_response(self, latency_ms=None):
        """The hit as a ChatResponse: `.cached = True`, zero cost and tokens."""
        if isinstance(self.value, ChatResponse):
            return self.value
        text = self.value if isinstance(self.value, str) else json.dumps(self.value, ensure_ascii=False)
        return ChatResponse(text, cached=True, cost=USD(0.0), usage=Usage(), latency_ms=latency_ms,
                            finish_reason="stop")


class Explanation(list):
    """explain()'s answer: one dict per nearby cached question, nearest first, plus a table repr."""

    def __init__(self, rows, query, canonical, threshold, scorer, glossary=None):
        super().__init__(rows)
        self.query, self.canonical, self.threshold, self.scorer = query, canonical, threshold, scorer
        self.glossary = glossary

    @property
    def hit(self):
        """The row that get() would serve, or None."""
        return next((r for r in self if r["decision"] == "HIT"), None)

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame(list(self))

    def __repr__(self):
        head = f"explain({self.query!r}): threshold {self.threshold} on {self.scorer}"
        if self.canonical != self.query:
            head += f"; compared as {self.canonical!r}"
        if self.glossary:
            head += f" (glossary {self.glossary!r} rewrites cached questions too)"
        if not self:
            return head + "\n  (no cached questions yet)"
        lines = [head, f"  {'cosine':>6}  {'score':>5}  {'decision':<8}  {'cached question':<44}  why"]
        for r in self:
            q = r["query"] if len(r["query"]) <= 44 else r["query"][:41] + "..."
            lines.append(f"  {r['cosine']:6.3f}  {r['score']:5.3f}  {r['decision']:<8}  {q:<44}  {r['reason']}")
        return "\n".join(lines)

    __str__ = __repr__
