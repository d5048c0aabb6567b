"""What every provider adapter shares: the protocol, the neutral request, SDK-error mapping, key lookup."""
from __future__ import annotations

import email.utils
import json
import os
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from .. import errors
from ..response import Completion, Usage
from ..security import register_secret

DEFAULT_TIMEOUT = 60.0
_CONTEXT_RE = re.compile(r"maximum context length|context length|context window|prompt is too long|"
                         r"too many tokens|reduce the length", re.I)


@dataclass
class ChatRequest:
    """A provider-neutral chat call. `messages` hold user/assistant/tool turns (no system)."""

    model: str
    messages: list[dict[str, Any]]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)   # [{"name", "description", "parameters"}]
    tool_choice: str | None = None               # None | "auto" | "none" | "required" | a tool name
    json_mode: bool = False
    response_format: dict[str, Any] | None = None   # OpenAI response_format, passed through there
    seed: int | None = None                      # OpenAI/Azure sampling seed; Anthropic has none


@dataclass
class Progress:
    """What a stream has reported so far, read when it breaks off (to book what it may have cost).
    Adapters fill `usage` and `model` as the provider sends them; the session adds the text it passed on."""

    text: list[str] = field(default_factory=list)
    usage: Usage | None = None   # as far as the provider reported it
    model: str | None = None


@runtime_checkable
class Adapter(Protocol):
    """One wire dialect behind one interface: the only place that knows a provider (the session, the
    offline plumbing and the widgets ask it). Like httpx's BaseTransport, a request goes in and a
    response comes out; SDK exceptions leave as `LLMError`s (`error`), never as the SDK's own.

    Class-level, before any client exists: `endpoint` shapes a base URL for the provider's SDK (the
    `/v1` suffix, Azure's `azure_endpoint`), `resolve_model` turns the session's arguments into the
    model name sent (an Azure deployment), `family` says whose models it serves (Azure: OpenAI's)."""

    name: ClassVar[str]            # the provider: "openai", "anthropic", "azure"
    family: ClassVar[str]          # whose models it serves, for model lists and prices
    default_model: ClassVar[str]
    key_envs: ClassVar[tuple[str, ...]]   # environment variables that hold its credentials

    @classmethod
    def endpoint(cls, url: str, api_key: str) -> dict[str, str]: ...

    @classmethod
    def resolve_model(cls, model: str | None = None, **options: Any) -> str: ...

    def create(self, req: ChatRequest) -> Completion: ...

    def stream(self, req: ChatRequest, progress: Progress | None = None) -> Generator[str, None, Completion]:
        """Yield text deltas; the generator's return value is the finished Completion."""
        ...

    def error(self, exc: BaseException, mid_stream: bool = False) -> errors.LLMError: ...

    def close(self) -> None: ...


def env_or(value: str | None, *names: str) -> str | None:
    """`value` if given, else the first environment variable of `names` that is set."""
    if value:
        return value
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


def require_key(value: str | None, env_name: str, provider: str) -> str:
    key = env_or(value, env_name)
    if not key:
        raise errors.MissingAPIKeyError(
            f"No API key for {provider}: set the {env_name} environment variable (or pass api_key=...). "
            f"To work without a key, run offline: GLWORK_MODE=local or glwork.configure(mode='local').",
            provider=provider)
    register_secret(key)
    return key


MAX_RETRY_AFTER_HEADER = 86400.0   # a day: a longer (or broken) value is treated as "a day"


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date), else None.

    Clamped to [0, MAX_RETRY_AFTER_HEADER]: a negative value (a clock skew, a faulty proxy, the kit's
    own fault injector) means "now", and NaN or garbage is ignored, so a wait is always sleepable."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            seconds = float(raw) / scale
        except ValueError:
            if scale != 1.0:
                continue
            try:
                seconds = email.utils.parsedate_to_datetime(raw).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
        if seconds == seconds:   # not NaN
            return min(max(seconds, 0.0), MAX_RETRY_AFTER_HEADER)
    return None


def _body_fields(body):
    """(code, type, message) from either SDK's error body (OpenAI passes the inner `error`)."""
    if not isinstance(body, dict):
        return None, None, None
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    code = inner.get("code")
    return (str(code) if code is not None else None), inner.get("type"), inner.get("message")


ErrorMapper = Callable[[BaseException, str], "errors.LLMError | None"]
_mappers: list[ErrorMapper] = []


def add_error_mapper(mapper: ErrorMapper) -> None:
    """Have `mapper(exc, provider)` look at SDK errors first (an LLMError, or None to pass): how
    glwork.offline turns a replay miss raised inside the SDK's HTTP client into its own error,
    without the adapters knowing about cassettes."""
    if mapper not in _mappers:
        _mappers.append(mapper)


def map_sdk_error(exc: BaseException, sdk: Any, provider: str, mid_stream: bool = False) -> errors.LLMError | None:
    """Turn an `openai`/`anthropic` SDK exception (or a transport error) into an `LLMError`."""
    if isinstance(exc, errors.LLMError):
        return exc
    name = type(exc).__name__
    for mapper in _mappers:
        mapped = mapper(exc, provider)
        if mapped is not None:
            return mapped
    if isinstance(exc, sdk.APITimeoutError):
        return _sent(errors.LLMTimeoutError(f"The request to {provider} timed out. Try again, or raise timeout=.",
                                            provider=provider), exc)
    if isinstance(exc, sdk.APIConnectionError):
        cls = errors.StreamInterruptedError if mid_stream else errors.LLMConnectionError
        return _sent(cls(f"Could not reach {provider}: {exc}", provider=provider), exc)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        headers = getattr(exc.response, "headers", None)
        code, etype, msg = _body_fields(exc.body)
        message = msg or str(exc)
        kw = dict(provider=provider, status_code=status, request_id=getattr(exc, "request_id", None))
        if status == 429:
            return errors.RateLimitError(message, retry_after=parse_retry_after(headers), **kw)
        if status in (401,):
            return errors.AuthenticationError(message, **kw)
        if status == 403:
            return errors.PermissionDeniedError(message, **kw)
        if status == 529 or etype == "overloaded_error":
            return errors.OverloadedError(message, retry_after=parse_retry_after(headers), **kw)
        if status == 408:
            return errors.LLMTimeoutError(message, **kw)
        if status >= 500:
            return errors.ServerError(message, retry_after=parse_retry_after(headers), **kw)
        if code == "context_length_exceeded" or _CONTEXT_RE.search(message or ""):
            return errors.ContextLengthExceededError(message, **kw)
        if status == 404 or code in ("model_not_found", "DeploymentNotFound", "unknown_model"):
            return errors.ModelNotFoundError(message, **kw)
        return errors.InvalidRequestError(message, **kw)
    if isinstance(exc, json.JSONDecodeError):   # a 200 whose body is not JSON: a proxy or a broken backend
        if mid_stream:
            return errors.StreamInterruptedError(
                f"{provider} sent a stream event that is not valid JSON ({exc.msg}).", provider=provider)
        return errors.ServerError(f"{provider} answered with a body that is not valid JSON ({exc.msg}).",
                                  provider=provider)
    if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2"):
        cls = errors.StreamInterruptedError if mid_stream else errors.LLMConnectionError
        return cls(f"Connection to {provider} failed ({name}): {exc}", provider=provider)
    if isinstance(exc, sdk.APIError):
        return errors.LLMError(str(exc), provider=provider)
    return None


def _sent(mapped, exc):
    """Mark whether the request may have reached the provider (then it may be billed): a connection
    that never opened carried nothing."""
    cause = exc.__cause__ or exc.__context__
    mapped.request_sent = type(cause).__name__ not in ("ConnectError", "ConnectTimeout")
    return mapped


def stream_cut(provider: str) -> errors.StreamInterruptedError:
    return errors.StreamInterruptedError(
        f"The {provider} stream ended before the reply was complete; nothing was added to the history.",
        provider=provider)


class SDKAdapter:
    """What every adapter shares: SDK exceptions become LLMErrors, the client is closed, a base URL
    is the SDK's `base_url`, and the model is the one asked for (else the provider's default)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    key_env: ClassVar[str] = ""                  # the API key's
    key_envs: ClassVar[tuple[str, ...]] = ()     # every credential's, the API key's first
    sdk: Any = None      # the SDK module whose exception classes map_sdk_error reads (set on construction)
    client: Any = None

    @classmethod
    def endpoint(cls, url: str, api_key: str) -> dict[str, str]:
        return {"base_url": url, "api_key": api_key}

    @classmethod
    def resolve_model(cls, model: str | None = None, **options: Any) -> str:
        return model or cls.default_model

    def error(self, exc: BaseException, mid_stream: bool = False) -> errors.LLMError:
        mapped = map_sdk_error(exc, self.sdk, self.name, mid_stream)
        if mapped is None:
            raise exc
        return mapped

    def close(self) -> None:
        self.client.close()
