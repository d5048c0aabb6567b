"""Provider fallback: the ordered routes a session tries, and when to move to the next one.

A session falls back when its current route failed with a retryable error after its retries
(rate limit, 5xx, 529, timeout, connection error / outage, a stream cut before its first chunk).
Client errors (400, 401, 404, context length) are raised: another provider would not fix them.
"""
from dataclasses import dataclass, field

from ..errors import ConfigurationError
from ..providers import check_provider, resolve_model
from ..security import MASK, redact, register_secret
from .retry import is_retryable

ROUTE_OPTIONS = ("base_url", "api_key", "azure_endpoint", "api_version", "mode")


@dataclass
class Route:
    provider: str
    model: str
    options: dict = field(default_factory=dict, repr=False)   # base_url, api_key, ...: may hold a key
    adapter: object = field(default=None, repr=False)         # built on first use
    mode: str | None = None

    def __repr__(self):
        shown = {k: MASK if k == "api_key" else v for k, v in self.options.items()}
        return redact(f"Route(provider={self.provider!r}, model={self.model!r}, mode={self.mode!r}, "
                      f"options={shown!r})")


def parse_fallbacks(fallback_provider=None, fallback_model=None, fallbacks=None):
    """Routes after the primary: `fallback_provider`/`fallback_model` first, then `fallbacks`,
    a list of (provider, model) pairs or dicts {"provider", "model", "base_url", "api_key", ...}."""
    specs = []
    if fallback_provider or fallback_model:
        specs.append({"provider": fallback_provider, "model": fallback_model})
    for item in fallbacks or []:
        if isinstance(item, str):
            item = {"provider": item}
        elif isinstance(item, (tuple, list)) and 1 <= len(item) <= 2:
            item = {"provider": item[0], "model": item[1] if len(item) > 1 else None}
        elif not isinstance(item, dict):
            # Never echo the item: a misplaced api_key would land in the message.
            what = f"a {len(item)}-item {type(item).__name__}" if isinstance(item, (tuple, list)) \
                else f"a {type(item).__name__}"
            raise ConfigurationError(
                f"A fallback is a (provider, model) pair or a dict such as {{\"provider\": \"anthropic\", "
                f"\"model\": \"claude-3-5-haiku-latest\", \"api_key\": ...}}, not {what}.")
        specs.append(dict(item))
    routes = []
    for spec in specs:
        unknown = set(spec) - {"provider", "model", *ROUTE_OPTIONS}
        if unknown:
            raise ConfigurationError(f"Unknown fallback option(s): {', '.join(sorted(unknown))}.")
        if not spec.get("provider"):
            raise ConfigurationError("A fallback needs a provider, e.g. fallback_provider='anthropic'.")
        provider = check_provider(spec["provider"])
        options = {k: spec[k] for k in ROUTE_OPTIONS if spec.get(k) is not None}
        register_secret(options.get("api_key"))   # masked wherever it might show up later
        routes.append(Route(provider, resolve_model(provider, spec.get("model")), options))
    return routes


def should_fall_back(exc):
    return is_retryable(exc)
