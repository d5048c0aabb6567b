"""Scope: everything besides the question that changes the answer. A hit needs the same scope.

Two sessions with different models, sources (recorded / local / live), system messages,
temperatures, tools, response formats, seeds or users never share cached answers. The workshop's
plain `cache.get(query)` uses the default scope.
"""
import hashlib
import json
from dataclasses import dataclass, fields

from ..errors import ConfigurationError

DEFAULT_KEY = "default"
SOURCES = ("recorded", "local", "live")


def source_of_mode(mode):
    """Where replies of a route in `mode` come from: replay -> "recorded", local -> "local",
    live -> "live" (record: live, or local when recording against the local backend)."""
    if mode is None:
        return None
    from .. import config
    return config.source_of(mode) if hasattr(config, "source_of") else \
        {"replay": "recorded", "local": "local"}.get(mode, "live")


def _canonical(value):
    """JSON with sorted keys; 0.3 and 0.30 and 3e-1 are the same temperature."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def history_digest(messages):
    """A short fingerprint of the conversation before the question (None when there is none)."""
    if not messages:
        return None
    turns = []
    for m in messages:
        if isinstance(m, dict):
            turns.append({k: m.get(k) for k in ("role", "content", "tool_call_id", "name") if m.get(k)})
        else:
            turns.append(str(m))
    return hashlib.sha256(_canonical(turns).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Scope:
    """The context a cached answer is valid in.

    provider, model: who answered (for a ChatSession: the route and model that wrote the reply).
    source: where the reply came from: "recorded" (a cassette), "local" (the local model) or "live".
    system_message, temperature, tools, response_format: the call's settings.
    user: a user or tenant key, so one user's answers are never served to another.
    history: a digest of earlier turns (see `history_digest`); None for a first question.
    extra: anything else that changes the answer (max_tokens, the version of a RAG index...).
    """

    provider: str | None = None
    model: str | None = None
    source: str | None = None
    system_message: str | None = None
    temperature: float | None = None
    tools: object = None
    response_format: object = None
    user: str | None = None
    history: str | None = None
    extra: object = None

    def __post_init__(self):
        if self.temperature is not None:
            if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)):
                raise ConfigurationError(f"Scope temperature must be a number, got {self.temperature!r}.")
            object.__setattr__(self, "temperature", float(self.temperature))
        if self.source is not None and self.source not in SOURCES:
            raise ConfigurationError(f"Scope source must be one of {SOURCES} or None, got {self.source!r}.")
        for name in ("provider", "model", "system_message", "user", "history"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"Scope {name} must be a string, got {type(value).__name__}.")
        for name in ("tools", "response_format", "extra"):
            try:
                _canonical(getattr(self, name))
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"Scope {name} must be JSON-able ({exc}).") from None

    @classmethod
    def from_session(cls, session, user=None, history=None, **extra):
        """The scope of a ChatSession's next call (read from its public attributes).

        `history`: the turns before this question (a list of messages) or a digest; leave it None
        for a first question. `extra`: any further settings, e.g. max_tokens=session.max_tokens.
        """
        def get(name):
            return getattr(session, name, None)

        if history is not None and not isinstance(history, str):
            history = history_digest(history)
        # Settings that also change the reply: a lower max_tokens truncates it, a seed picks the sample.
        settings = {k: get(k) for k in ("max_tokens", "tool_choice", "seed") if get(k) is not None}
        settings.update(extra)
        return cls(provider=get("provider"), model=get("model"), source=source_of_mode(get("mode")),
                   system_message=get("system_message"),
                   temperature=get("temperature"), tools=get("tools") or None,
                   response_format=get("response_format"), user=user, history=history,
                   extra=settings or None)

    @classmethod
    def coerce(cls, scope):
        if scope is None or isinstance(scope, cls):
            return scope
        if isinstance(scope, dict):
            unknown = set(scope) - {f.name for f in fields(cls)}
            if unknown:
                raise ConfigurationError(f"Unknown scope fields {sorted(unknown)}; use "
                                         f"{[f.name for f in fields(cls)]}.")
            return cls(**scope)
        raise ConfigurationError(f"scope must be a Scope or a dict, got {type(scope).__name__}.")

    def to_dict(self):
        """The fields that are set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def key(self):
        """A stable string: equal for equal scopes, "default" for the empty scope."""
        d = self.to_dict()
        if not d:
            return DEFAULT_KEY
        return hashlib.sha256(_canonical(d).encode()).hexdigest()[:32]

    def differences(self, other):
        """Names of the fields that differ from `other` (a Scope or its to_dict())."""
        theirs = other if isinstance(other, dict) else other.to_dict()
        mine = self.to_dict()
        return [f.name for f in fields(self)
                if _canonical(mine.get(f.name)) != _canonical(theirs.get(f.name))]

    def __repr__(self):
        inner = ", ".join(f"{k}={_short(v)}" for k, v in self.to_dict().items())
        return f"Scope({inner})"


def _short(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"
