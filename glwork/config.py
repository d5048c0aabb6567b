"""Modes: where a call's response comes from.

- live:   the real provider (a key is set)
- replay: recorded cassettes only; a request not in the cassette is an error, never a network call
- record: live (or against the local backend), writing cassettes
- local:  the embedded local backend (a small open model on 127.0.0.1)

Chosen by `glwork.configure(mode=...)`, else `GLWORK_MODE`, else automatically: `live` when the
provider's key is set, otherwise `replay` while a notebook cassette is open and `local` elsewhere.
"""
import os
import threading

MODES = ("live", "replay", "record", "local")
PROVIDER_KEYS = {"openai": ("OPENAI_API_KEY",), "anthropic": ("ANTHROPIC_API_KEY",),
                 "azure": ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN")}
_state = {"mode": None, "cassette_active": False}
_lock = threading.Lock()


def _check(mode):
    if mode is not None and mode not in MODES:
        from .errors import ConfigurationError
        raise ConfigurationError(f"Unknown mode {mode!r}. Choose one of: {', '.join(MODES)}.")
    return mode


def configure(mode=None):
    """Set the process-wide mode (None returns to automatic choice)."""
    with _lock:
        _state["mode"] = _check(mode)


def has_key(provider):
    return any(os.environ.get(name) for name in PROVIDER_KEYS.get(provider, ()))


def set_cassette_active(active):
    with _lock:
        _state["cassette_active"] = bool(active)


def explicit_mode():
    """The mode set by configure() or GLWORK_MODE, else None (automatic)."""
    return _state["mode"] or _check(os.environ.get("GLWORK_MODE") or None)


def cassette_active():
    return _state["cassette_active"]


def current_mode(provider=None):
    """The mode a call to `provider` runs in now."""
    explicit = explicit_mode()
    if explicit:
        return explicit
    if provider and has_key(provider):
        return "live"
    if provider is None and any(has_key(p) for p in PROVIDER_KEYS):
        return "live"
    return "replay" if _state["cassette_active"] else "local"
