"""Where a class's shared state lives: embedded (default) or one Redis server for every kernel.

    GLWORK_BACKEND_URL=redis://127.0.0.1:6379/0        # or glwork.configure(backend_url=...)

With it set, in every kernel of the class, without changing a notebook:
- RateLimiter: one sliding window per limiter name for all kernels (an atomic Lua script);
- the class budget (glwork.resilience.class_budget.ClassBudget): one spend counter per day and month,
  a call that would pass it is refused before it is sent;
- SemanticCacheManager (without path=): one cache; an answer stored by one kernel serves all;
- CostTracker: one ledger (a Redis stream); totals class-wide, or per attendee.

When Redis cannot be reached, each part says so once (a warning) and falls back, never hangs:
limiter -> per-kernel limits; cache -> a per-kernel cache; budget -> calls are refused (fail
closed) while a class limit is set; ledger -> rows wait in memory and are written when Redis is
back (at exit, to the local SQLite ledger instead). Every part reconnects by itself.
Unset (or "local"): the embedded backends, exactly as before.

The instructor's view: notebooks/instructor_dashboard.ipynb (glwork.backends.overview); the class
limit: glwork.llm.ClassBudget().set_limits(day=..., month=...). Use a Redis that keeps its data
(the Debian package's default snapshots do), or a restart forgets limits and spend.

Layout: each feature asks the configured `RedisBackend` for its part (`window`, `cache_store`,
`budget_counters`, `ledger`); the Redis side of each lives in redis_limiter.py, redis_cache.py,
redis_budget.py and redis_ledger.py, which know Redis and nothing of the features (what they
need of a feature is handed to them), so no feature imports a Redis module and nothing here
imports a feature.
"""
from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Callable
from typing import Any

from .. import config as _config
from .config import BackendConfig, parse  # noqa: F401
from .link import BackendUnavailable, Link  # noqa: F401

ATTENDEE_ENV = "GLWORK_ATTENDEE"
_backends: dict[Any, RedisBackend] = {}
_lock = threading.Lock()


class RedisBackend:
    """The configured Redis: its link and the key names of every part (all under one namespace)."""

    def __init__(self, config: BackendConfig):
        self.config = config
        self.link = Link(config)
        self._parts: dict[str, Any] = {}
        self._parts_lock = threading.Lock()

    def __repr__(self):
        return f"RedisBackend({self.config.label})"

    @property
    def label(self) -> str:
        return self.config.label

    def key(self, *parts: Any) -> str:
        return ":".join((self.config.namespace, *map(str, parts)))

    def part(self, name: str, make: Callable[[RedisBackend], Any]) -> Any:
        """One instance per backend of a part (the ledger, the class budget's counters)."""
        with self._parts_lock:
            if name not in self._parts:
                self._parts[name] = make(self)
            return self._parts[name]

    # ---- each feature's part -----------------------------------------------------------------
    def window(self, name: str, window: float, max_requests: int | None, max_tokens: int | None) -> Any:
        """A RateLimiter's sliding window, shared by `name` across kernels."""
        from .redis_limiter import SharedWindow
        return SharedWindow(self, name, window, max_requests, max_tokens)

    def cache_store(self, local_store: Callable[[], Any]) -> Any:
        """The class's semantic-cache store; `local_store()` makes the per-kernel one used while Redis is away."""
        from .redis_cache import FailoverStore
        return FailoverStore(self, local_store)

    def budget_counters(self) -> Any:
        """The class budget's spend and hold counters (one per backend)."""
        from .redis_budget import RedisBudgetCounters
        return self.part("class_budget", RedisBudgetCounters)

    def ledger(self, mirror: Callable[[], Any], insert_sql: str, columns: tuple[str, ...], defaults: dict[str, Any],
               before_exit: Callable[[float], Any], on_unsent: Callable[[list[dict[str, Any]]], None]) -> Any:
        """The class ledger (one per backend); see RedisLedger for the arguments."""
        from .redis_ledger import RedisLedger
        return self.part("ledger", lambda b: RedisLedger(b, mirror(), insert_sql, columns, defaults,
                                                         before_exit, on_unsent))


def current() -> RedisBackend | None:
    """The configured RedisBackend, or None for the embedded backends."""
    return get(_config.backend_url())


def get(url: str | BackendConfig | None) -> RedisBackend | None:
    """The RedisBackend for `url` (one per URL and process), or None if it names the embedded ones."""
    cfg = url if isinstance(url, BackendConfig) else parse(url)
    if not cfg.shared:
        return None
    key = (cfg.url, cfg.namespace, os.getpid())
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _backends[key] = RedisBackend(cfg)
        return backend


def describe() -> str:
    """One line for banners and doctor: which backend, its state (no password)."""
    backend = current()
    if backend is None:
        return "embedded (in-process limiter, SQLite ledger and cache; GLWORK_BACKEND_URL not set)"
    state = "reachable" if backend.link.ping() else "UNREACHABLE (falling back, see warnings)"
    return f"shared Redis {backend.label}: {state}"


def attendee() -> str:
    """Who this kernel's calls belong to in a shared ledger: GLWORK_ATTENDEE, else the JupyterHub
    user, else the login name."""
    name = os.environ.get(ATTENDEE_ENV) or os.environ.get("JUPYTERHUB_USER")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):   # a container user without a passwd entry
            name = f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return name
