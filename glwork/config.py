"""Modes: where a call's response comes from.

- live:   the real provider (a key is set)
- replay: recorded cassettes; a request the cassette does not hold is answered by the local
          backend and labelled so (GLWORK_REPLAY_STRICT=1: it is an error, as in CI and nbval),
          never sent to a network
- record: live (or against the local backend), writing cassettes
- local:  the embedded local backend (a small open model on 127.0.0.1)

Chosen by `glwork.configure(mode=...)`, else `GLWORK_MODE`, else automatically: `live` when the
provider's key is set, otherwise `replay` while a notebook cassette is open and `local` elsewhere.

Where shared state lives (rate limits, class budget, semantic cache, cost ledger): the embedded
backends (in-process / SQLite) unless `glwork.configure(backend_url="redis://...")` or
`GLWORK_BACKEND_URL` names a Redis server shared by a whole class (see glwork.backends).
"""
from __future__ import annotations

import os
import threading
from typing import Any, TypedDict

from .providers import PROVIDERS, key_envs

MODES = ("live", "replay", "record", "local")
PROVIDER_KEYS = {p: key_envs(p) for p in PROVIDERS}   # provider -> its credentials' variables
BACKEND_ENV = "GLWORK_BACKEND_URL"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()   # "not given" (None means "back to automatic")


class _State(TypedDict):
    mode: str | None
    cassette_active: bool
    backend_url: str | None


_state: _State = {"mode": None, "cassette_active": False, "backend_url": None}
_lock = threading.Lock()


def check_mode(mode: str | None) -> str | None:
    """`mode` if it is one of MODES or None, else a ConfigurationError listing them."""
    if mode is not None and mode not in MODES:
        from .errors import ConfigurationError
        raise ConfigurationError(f"Unknown mode {mode!r}. Choose one of: {', '.join(MODES)}.")
    return mode


def configure(mode: str | None = UNSET, backend_url: str | None = UNSET) -> None:
    """Set the process-wide mode (None returns to automatic choice) and/or the shared backend
    (`backend_url="redis://host:6379/0"`, "local" for the embedded ones, None: GLWORK_BACKEND_URL).
    `configure()` with no argument returns the mode to automatic. (`glwork.configure` also takes
    the local model: this module sits below glwork.local, which reads the mode from it.)"""
    if backend_url is not UNSET and backend_url is not None:
        from .backends.config import parse
        parse(backend_url)   # a bad URL fails here, with what to write instead
    with _lock:
        if mode is not UNSET or backend_url is UNSET:
            _state["mode"] = check_mode(None if mode is UNSET else mode)
        if backend_url is not UNSET:
            _state["backend_url"] = backend_url


def backend_url() -> str | None:
    """The shared backend's URL set by configure() or GLWORK_BACKEND_URL; None or "" = embedded."""
    return _state["backend_url"] or os.environ.get(BACKEND_ENV, "").strip() or None


def has_key(provider: str) -> bool:
    return any(os.environ.get(name) for name in PROVIDER_KEYS.get(provider, ()))


def set_cassette_active(active: bool) -> None:
    with _lock:
        _state["cassette_active"] = bool(active)


def explicit_mode() -> str | None:
    """The mode set by configure() or GLWORK_MODE, else None (automatic)."""
    return _state["mode"] or check_mode(os.environ.get("GLWORK_MODE") or None)


def replay_strict() -> bool:
    """True when a replay miss must fail (GLWORK_REPLAY_STRICT=1: CI, nbval, papermill tests) rather
    than be answered by the local model."""
    return os.environ.get("GLWORK_REPLAY_STRICT", "").strip().lower() in ("1", "true", "yes")


def record_backend() -> str:
    """'local' when recording against the embedded backend, else 'live'."""
    return os.environ.get("GLWORK_RECORD_BACKEND", "live")


def source_of(mode: str | None) -> str:
    """Where a reply from a route in `mode` comes from: "recorded", "local" or "live"."""
    if mode == "replay":
        return "recorded"
    if mode == "record":
        return "local" if record_backend() == "local" else "live"
    return "local" if mode == "local" else "live"


def cassette_active() -> bool:
    return _state["cassette_active"]


def current_mode(provider: str | None = None) -> str:
    """The mode a call to `provider` runs in now."""
    explicit = explicit_mode()
    if explicit:
        return explicit
    if provider and has_key(provider):
        return "live"
    if provider is None and any(has_key(p) for p in PROVIDER_KEYS):
        return "live"
    return "replay" if _state["cassette_active"] else "local"
