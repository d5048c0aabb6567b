"""Prices per model from the shipped table `glwork/data/pricing.json` (dated, with sources)."""
import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..security import get_logger

log = get_logger(__name__)
ANTHROPIC_CACHE_WRITE_FACTOR = 1.25
# Suffixes that name a snapshot of a model family: -2024-08-06, -20240229, -latest, -0613, -preview
_SNAPSHOT = re.compile(r"^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest|preview)$")
_extra = {}
_warned = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Price:
    model: str
    input: float
    output: float
    cached_input: float
    as_of: str
    source: str


@lru_cache(maxsize=1)
def _table():
    text = resources.files("glwork").joinpath("data/pricing.json").read_text()
    return json.loads(text)["models"]


def register_price(model, input, output, cached_input=None, as_of="", source="user"):
    """Add or override a model's price (USD per 1M tokens) for this process."""
    with _lock:
        _extra[model] = {"input": input, "output": output, "cached_input": cached_input,
                         "as_of": as_of, "source": source}
        _warned.discard(model)


def lookup(model):
    """The `Price` of `model` or of its family (dated snapshots resolve), else None."""
    if not model:
        return None
    table = {**_table(), **_extra}
    name = model.split("/")[-1]
    key = name if name in table else None
    if key is None:
        fams = [k for k in table if name.startswith(k) and _SNAPSHOT.match(name[len(k):])]
        key = max(fams, key=len) if fams else None
    if key is None:
        return None
    row = table[key]
    return Price(key, row["input"], row["output"],
                 row["cached_input"] if row.get("cached_input") is not None else row["input"],
                 row.get("as_of", ""), row.get("source", ""))


def cost_of(usage, model):
    """USD cost of `usage` at `model`'s price, or None (with one warning per model) if unknown."""
    price = lookup(model)
    if price is None:
        with _lock:
            first = model not in _warned
            _warned.add(model)
        if first:
            log.warning("No price known for model %r: its cost is reported as unknown (NaN), not 0. "
                        "Add one with glwork.monitoring.pricing.register_price(%r, input=..., output=...).",
                        model, model)
        return None
    uncached = max(usage.input_tokens - usage.cached_tokens - usage.cache_creation_tokens, 0)
    dollars = (uncached * price.input + usage.cached_tokens * price.cached_input
               + usage.cache_creation_tokens * price.input * ANTHROPIC_CACHE_WRITE_FACTOR
               + usage.output_tokens * price.output)
    return dollars / 1_000_000


def known_models():
    return sorted({**_table(), **_extra})
