"""Prices per model, from the maintained `genai-prices` package (pydantic's, MIT), matched exactly.

Each dated snapshot has its own entry there (gpt-4o-2024-05-13 is $5/$15, not gpt-4o's $2.50/$10);
a name it does not know (an unknown snapshot, a custom model) has no price: its cost is reported as
unknown (NaN) and a budget refuses it, rather than borrowing a family's price. The package's
bundled data is used as installed: nothing is fetched at run time (its UpdatePrices is never started).

The shipped `glwork/data/pricing.json` adds what the package does not have: each model family's
output limit (for budgets, see glwork.resilience.budget), with its source and date.
`register_price()` overrides or adds a price for this process.
"""
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources

from .. import providers
from ..security import get_logger

log = get_logger(__name__)
ANTHROPIC_CACHE_WRITE_FACTOR = 1.25
# Suffixes that name a snapshot of a model family (output limits only: a snapshot never has more)
_SNAPSHOT = re.compile(r"^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest|preview|\d)$")
_DATE = re.compile(r"(20\d\d-\d\d-\d\d)")
_extra: dict[str, dict] = {}
_warned: set[str] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Price:
    model: str                 # the entry that matched (the snapshot's own, or the family a table lists)
    input: float               # USD per 1M uncached prompt tokens
    output: float
    cached_input: float        # prompt tokens read from the provider's cache
    as_of: str
    source: str
    cache_write: float | None = None  # prompt tokens written to the cache (None: 1.25x input, Anthropic's)
    max_output_tokens: int | None = None    # the model's own output limit, when known
    context_window: int | None = None


@lru_cache(maxsize=1)
def _table():
    """The shipped table: model family -> provider, output limit, source, date."""
    text = resources.files("glwork").joinpath("data/pricing.json").read_text()
    return json.loads(text)["models"]


def register_price(model, input, output, cached_input=None, as_of="", source="user",
                   max_output_tokens=None):
    """Add or override a model's price (USD per 1M tokens) for this process."""
    for name, value in (("input", input), ("output", output), ("cached_input", cached_input)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            from ..errors import ConfigurationError
            raise ConfigurationError(f"{name} must be a price in USD per 1M tokens (a number >= 0), got {value!r}.")
    with _lock:
        _extra[model] = {"input": input, "output": output, "cached_input": cached_input,
                         "as_of": as_of, "source": source, "max_output_tokens": max_output_tokens}
        _warned.discard(model)


def lookup(model, provider=None):
    """The `Price` of exactly `model` (a registered price, else genai-prices' entry), else None."""
    if not model or not isinstance(model, str):
        return None
    name = model.split("/")[-1]
    row = _extra.get(name)
    if row is not None:
        return Price(name, row["input"], row["output"],
                     row["cached_input"] if row.get("cached_input") is not None else row["input"],
                     row.get("as_of", ""), row.get("source", ""),
                     max_output_tokens=row.get("max_output_tokens") or _output_limit(name))
    return _lookup(name, provider)


@lru_cache(maxsize=512)
def _lookup(name, provider):
    found = _package_price(name, provider)
    if found is None:
        return None
    info, source_url, version = found
    prices = info.get_prices(datetime.now(timezone.utc))
    inp = _base(prices.input_mtok) or 0.0
    read = _base(getattr(prices, "cache_read_mtok", None))
    dates = _DATE.findall(info.price_comments or "")
    return Price(info.id, inp, _base(prices.output_mtok) or 0.0, inp if read is None else read,
                 max(dates) if dates else f"genai-prices {version}",
                 f"genai-prices {version}: {source_url}", _base(getattr(prices, "cache_write_mtok", None)),
                 _output_limit(name), info.context_window)


def _package_price(name, provider):
    """(ModelInfo, pricing URL, package version) from genai-prices for `name`, or None."""
    try:
        import genai_prices
        from genai_prices.data_snapshot import get_snapshot
    except ImportError:   # a broken install: say so once, price nothing (budgets then refuse)
        if "genai-prices" not in _warned:
            _warned.add("genai-prices")
            log.warning("The genai-prices package is missing, so no model has a price. Reinstall glwork "
                        "(pip install -e .) or register prices with register_price().")
        return None
    snapshot = get_snapshot()
    ids = [providers.family(provider)] if providers.family(provider) else (
        ["anthropic"] if name.lower().startswith("claude") else ["openai"])
    for pid in ids:
        try:
            prov, info = snapshot.find_provider_model(name, None, pid, None)
        except LookupError:
            continue
        if prov.id != pid:   # matched through another provider's table: not this provider's price
            continue
        urls = prov.pricing_urls or ["(no pricing URL listed)"]
        return info, urls[0], genai_prices.__version__
    return None


def _base(value):
    """A price in USD per 1M tokens (the base tier of a tiered price), or None."""
    if value is None:
        return None
    return float(getattr(value, "base", value))


def _output_limit(name):
    """The model family's output limit from the shipped table (a dated snapshot uses its family's)."""
    table = _table()
    if name in table:
        return table[name].get("max_output_tokens")
    fams = [k for k in table if name.startswith(k) and _SNAPSHOT.match(name[len(k):])]
    return table[max(fams, key=len)].get("max_output_tokens") if fams else None


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
    write = price.cache_write if price.cache_write is not None else price.input * ANTHROPIC_CACHE_WRITE_FACTOR
    uncached = max(usage.input_tokens - usage.cached_tokens - usage.cache_creation_tokens, 0)
    dollars = (uncached * price.input + usage.cached_tokens * price.cached_input
               + usage.cache_creation_tokens * write + usage.output_tokens * price.output)
    return dollars / 1_000_000


def known_models(provider=None, registered=True, chat=False):
    """Model families of the shipped table (for `provider`'s family: "openai", "anthropic"; Azure serves
    OpenAI's), plus those added by register_price() unless `registered=False`. `chat`: only models that
    write text (an embedding model's output limit is 0)."""
    family = providers.family(provider) or provider
    names = {m for m, row in _table().items() if (family is None or row.get("provider") == family)
             and not (chat and not row.get("max_output_tokens"))}
    return sorted(names | set(_extra)) if registered else sorted(names)
