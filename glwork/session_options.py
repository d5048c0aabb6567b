"""ChatSession's arguments, checked once: a bad value fails here, before anything is built, with
what to write instead. `ChatSession.options` keeps them (frozen; `dataclasses.replace` checks again)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .config import check_mode
from .errors import ConfigurationError
from .providers import check_provider, resolve_model
from .resilience.fallback import Route, parse_fallbacks
from .resilience.retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_DELAY, RetryPolicy
from .tools import normalize_tools


@dataclass(frozen=True)
class SessionOptions:
    """What a ChatSession was asked for (see ChatSession for each argument). `model` is the one sent
    (for Azure, the deployment); `tools` holds `functions` and `tools` in one neutral list."""

    provider: str = "openai"
    model: str | None = None
    system_message: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    functions: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | None = None
    timeout: float | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)      # never shown
    azure_endpoint: str | None = None
    api_version: str | None = None
    azure_deployment: str | None = None
    mode: str | None = None                  # None: the kit's mode at each call's route
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: float = DEFAULT_RETRY_DELAY
    exponential_backoff: bool = True
    retry_policy: RetryPolicy | None = None
    rate_limiter: Any = None
    fallback_provider: str | None = None
    fallback_model: str | None = None
    fallbacks: list[Any] | None = field(default=None, repr=False)   # may carry api keys
    cost_limit: float | None = None
    name: str | None = None                  # None: unnamed (the session makes up a label)
    semantic_cache: Any = False              # False/None, True, or a SemanticCacheManager
    cache_ttl: float = 3600
    cache_user: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        provider = check_provider(self.provider)
        self._set(provider=provider, model=resolve_model(provider, self.model, azure_deployment=self.azure_deployment))
        if self.system_message is not None and not isinstance(self.system_message, str):
            raise ConfigurationError("system_message must be a string.")
        t = self.temperature
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 2):
            raise ConfigurationError(f"temperature must be a number from 0 to 2, got {t!r}.")
        if self.max_tokens is not None and not (_is_int(self.max_tokens) and self.max_tokens > 0):
            raise ConfigurationError(f"max_tokens must be a positive integer, got {self.max_tokens!r}.")
        if self.seed is not None and not _is_int(self.seed):
            raise ConfigurationError(f"seed must be an integer, got {self.seed!r}.")
        fmt = self.response_format
        if fmt is not None and not (isinstance(fmt, dict) and "type" in fmt):
            raise ConfigurationError('response_format must be a dict such as {"type": "json_object"}.')
        if self.timeout is not None and (isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float))
                                         or not self.timeout > 0):
            raise ConfigurationError(f"timeout must be a positive number of seconds, got {self.timeout!r}.")
        if self.rate_limiter is not None and not hasattr(self.rate_limiter, "acquire"):
            raise ConfigurationError("rate_limiter must be a glwork RateLimiter.")
        check_mode(self.mode)
        self._set(tools=normalize_tools(self.functions, self.tools), functions=None,
                  name=str(self.name) if self.name else None)
        self.retry()              # a bad max_retries / retry_delay fails here
        self.fallback_routes()    # so does a bad fallback

    def _set(self, **values: Any) -> None:
        for key, value in values.items():
            object.__setattr__(self, key, value)   # frozen: only while checking

    @property
    def json_mode(self) -> bool:
        fmt = self.response_format
        return bool(fmt and fmt.get("type") in ("json_object", "json_schema"))

    @property
    def caches(self) -> bool:
        """True if the session answers repeated questions from a semantic cache."""
        return self.semantic_cache is not None and self.semantic_cache is not False   # an empty cache is falsy

    def retry(self) -> RetryPolicy:
        """`retry_policy`, else a RetryPolicy of max_retries, retry_delay and exponential_backoff."""
        return self.retry_policy or RetryPolicy(self.max_retries, self.retry_delay, self.exponential_backoff)

    def fallback_routes(self) -> list[Route]:
        """Fresh routes after the primary (each session builds its own adapters on them)."""
        return parse_fallbacks(self.fallback_provider, self.fallback_model, self.fallbacks)

    def replace(self, **changes: Any) -> SessionOptions:
        """A copy with `changes`, checked again (e.g. the chat widget's session on another provider)."""
        return dataclasses.replace(self, **changes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
