"""ChatSession: one interface over OpenAI, Anthropic and Azure OpenAI (workshop Part 1)."""
from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from . import config, errors, events, offline
from .monitoring import health, ledger, pricing
from .offline.replay import LOCAL_TIMEOUT
from .providers.base import DEFAULT_TIMEOUT, ChatRequest
from .resilience.budget import session_budget
from .resilience.fallback import Route
from .resilience.retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_DELAY, RetryPolicy
from .resilience.runner import Call, Runner
from .response import USD, ChatResponse, Usage
from .security import get_logger
from .session_options import SessionOptions
from .tokens import estimate_messages

if TYPE_CHECKING:
    from .cache import SemanticCacheManager, SessionCache
    from .resilience.limiter import RateLimiter

log = get_logger(__name__)
_NOT_RUN = json.dumps({"error": "the caller did not run this tool call"})
SESSION_HEADER = "x-glwork-session"   # lets the local backend's fault scripts target one session


@dataclass
class CallRecord:
    """One finished call, as the session's accounting and the monitors see it."""

    provider: str
    model: str
    requested_model: str
    usage: Usage
    cost: float | None     # None when the model has no known price
    cost_is_estimate: bool
    latency_ms: float
    streamed: bool = False
    cached: bool = False
    time: float = field(default_factory=time.time)
    attempts: int = 1            # HTTP attempts, retries and fallbacks included
    fallback_used: bool = False
    status: str = "ok"           # or "invalid_json": billed, but not added to the history
    source: str | None = None    # "recorded" | "local" | "live" (see ChatResponse.source)


class ChatSession:
    """A conversation with one provider and model, with history, tools, JSON mode and accounting.

    Arguments follow the workshop text: `provider` ("openai", "anthropic", "azure"), `model`
    (for Azure: the deployment name), `system_message`, `temperature`, `max_tokens`, `functions`
    (a list of JSON-schema function definitions), `response_format` ({"type": "json_object"}).
    Also: `tools` (OpenAI- or Anthropic-style tool definitions), `tool_choice`, `timeout` (seconds;
    default 60, 300 for the local model),
    `base_url`/`api_key` overrides, and for Azure `azure_endpoint`, `api_version`, `azure_deployment`.
    `semantic_cache=True` (or a `SemanticCacheManager`) answers repeated questions from a cache by
    meaning (`cache_ttl` seconds; `cache_user` keeps tenants apart).
    `mode` ("live", "replay", "record", "local") overrides the kit's mode for this session only,
    e.g. mode="local" sends free-form questions to the local model inside a replayed notebook.
    `seed` (an int) is OpenAI's sampling seed (OpenAI, Azure and the local backend; the Anthropic
    API has none, so it is not sent there). The local backend samples with seed 0 when none is
    given, so repeating a request draws no fresh sample; pass different seeds to see temperature at work.
    Without arguments the SDKs' own environment variables are used (OPENAI_API_KEY, OPENAI_BASE_URL,
    ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT,
    OPENAI_API_VERSION, AZURE_OPENAI_DEPLOYMENT).

    Resilience (Part 4; details in glwork.resilience): `max_retries` (default 2, as the SDKs),
    `retry_delay` (1.0 s) and `exponential_backoff` (True: 1 s, 2 s, 4 s ... plus jitter, capped at
    30 s; a server's Retry-After wins), or a whole `retry_policy=RetryPolicy(...)`; `rate_limiter`
    (a RateLimiter, shareable); `fallback_provider` + `fallback_model` and/or
    `fallbacks=[("anthropic", "claude-3-opus"), ...]` (pairs, or dicts adding base_url/api_key/mode),
    tried in order after retryable failures; `cost_limit` (USD): a call whose worst case would pass
    it is refused before it is sent (replayed and local calls count at the price they would have
    had). `name` labels the session in events and the ledger and is sent as header x-glwork-session
    (the local backend's per-session fault scripts).
    Every call lands in the cost ledger (CostTracker) and the health monitor without any wiring;
    so does what may have been billed without a reply (a timed-out attempt, a stream broken off):
    `get_calls()` lists it with its status and an estimated cost.

    The arguments are checked first, all of them (`session.options`, a glwork.session_options.
    SessionOptions); `attach_cache()` adds a semantic cache to a session made without one.
    """

    def __init__(self, provider: str = "openai", model: str | None = None, system_message: str | None = None,
                 temperature: float | None = None, max_tokens: int | None = None,
                 functions: list[dict[str, Any]] | None = None, response_format: dict[str, Any] | None = None,
                 tools: list[dict[str, Any]] | None = None, tool_choice: str | None = None,
                 timeout: float | None = None, base_url: str | None = None, api_key: str | None = None,
                 azure_endpoint: str | None = None, api_version: str | None = None,
                 azure_deployment: str | None = None, mode: str | None = None,
                 max_retries: int = DEFAULT_MAX_RETRIES, retry_delay: float = DEFAULT_RETRY_DELAY,
                 exponential_backoff: bool = True, retry_policy: RetryPolicy | None = None,
                 rate_limiter: RateLimiter | None = None, fallback_provider: str | None = None,
                 fallback_model: str | None = None, fallbacks: list[Any] | None = None,
                 cost_limit: float | None = None, name: str | None = None,
                 semantic_cache: bool | SemanticCacheManager = False, cache_ttl: float = 3600,
                 cache_user: str | None = None, seed: int | None = None):
        o = self.options = SessionOptions(
            provider=provider, model=model, system_message=system_message, temperature=temperature,
            max_tokens=max_tokens, functions=functions, response_format=response_format, tools=tools,
            tool_choice=tool_choice, timeout=timeout, base_url=base_url, api_key=api_key,
            azure_endpoint=azure_endpoint, api_version=api_version, azure_deployment=azure_deployment, mode=mode,
            max_retries=max_retries, retry_delay=retry_delay, exponential_backoff=exponential_backoff,
            retry_policy=retry_policy, rate_limiter=rate_limiter, fallback_provider=fallback_provider,
            fallback_model=fallback_model, fallbacks=fallbacks, cost_limit=cost_limit, name=name,
            semantic_cache=semantic_cache, cache_ttl=cache_ttl, cache_user=cache_user, seed=seed)
        self.provider = o.provider
        self.model: str = cast(str, o.model)   # SessionOptions resolved it: never None
        self.system_message, self.temperature, self.max_tokens, self.seed = (o.system_message, o.temperature,
                                                                             o.max_tokens, o.seed)
        self.tools, self.tool_choice = o.tools, o.tool_choice
        self.response_format, self.json_mode = o.response_format, o.json_mode
        self.rate_limiter = o.rate_limiter
        self.name = o.name or f"session-{id(self):x}"
        self._headers = {SESSION_HEADER: o.name} if o.name else None
        self.mode = o.mode or config.current_mode(self.provider)
        # cost_limit, plus the class budget when a shared backend is set (live/record calls)
        budget = session_budget(o.cost_limit, self.mode)
        # A small local model on a busy laptop needs longer than a provider's API does.
        self.timeout = o.timeout or (LOCAL_TIMEOUT if self.mode in ("local", "record") else DEFAULT_TIMEOUT)
        self._adapter = offline.adapter(self.provider, self.mode, self.timeout, api_version=o.api_version,
                                        default_headers=self._headers, base_url=o.base_url, api_key=o.api_key,
                                        azure_endpoint=o.azure_endpoint)
        primary = Route(self.provider, self.model, adapter=self._adapter, mode=self.mode)
        self._runner = Runner([primary] + o.fallback_routes(), o.retry(), o.rate_limiter, budget, self.name,
                              self._build_adapter, self._charge)
        self._history: list[dict[str, Any]] = []          # neutral user/assistant/tool turns, no system message
        self._calls: list[CallRecord] = []            # CallRecord per finished call
        self._hooks: list[Any] = []
        self._lock = threading.RLock()
        self._closed = False
        ledger.ensure_default()     # every call lands in the cost ledger and the health monitor
        health.ensure_default()
        self._cache: SessionCache | None = None
        if o.caches:
            self.attach_cache(o.semantic_cache, ttl=o.cache_ttl, user=o.cache_user)

    def attach_cache(self, cache: bool | SemanticCacheManager = True, ttl: float = 3600,
                     user: str | None = None) -> SessionCache:
        """Answer repeated questions from a semantic cache from now on: `cache` True (a new
        SemanticCacheManager keeping answers `ttl` seconds) or a SemanticCacheManager (shared by
        sessions); `user` keeps tenants apart. What `semantic_cache=` does at construction."""
        from .cache import SemanticCacheManager
        if self._cache is not None:
            raise errors.ConfigurationError("This ChatSession already has a semantic cache.")
        if cache is not True and not isinstance(cache, SemanticCacheManager):
            raise errors.ConfigurationError(f"semantic_cache must be True or a SemanticCacheManager, got "
                                            f"{type(cache).__name__}.")
        manager = cache if isinstance(cache, SemanticCacheManager) else SemanticCacheManager(ttl=ttl)
        self._cache = manager.session_hook(user=user)
        self.add_hook(self._cache)
        return self._cache

    @property
    def cache(self) -> SessionCache | None:
        """This session's semantic-cache hook (its `.cache` is the SemanticCacheManager), or None."""
        return self._cache

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self):
        return (f"ChatSession(provider={self.provider!r}, model={self.model!r}, turns={len(self._history)}, "
                f"tokens={self.get_token_count()})")

    # ---- conversation ------------------------------------------------------------------------------
    def send_message(self, message: str) -> ChatResponse:
        """Send `message` and return the reply as a `ChatResponse` (a str with metadata)."""
        return self._send(self._new_turns(message))

    def stream_message(self, message: str) -> Iterator[str]:
        """Yield the reply's text chunks as they arrive; history and accounting update at the end.

        A stream that fails before its first chunk is retried (and falls back like a send); one
        broken mid-way raises `LLMError` (error_code "stream_interrupted"), is not retried (the
        text would repeat) and adds nothing to the history.
        """
        turns = self._new_turns(message)
        request = self._request(turns)
        call = Call(time.perf_counter(), streamed=True)
        hit = self._before_call(request)
        if hit is not None:
            if hit.text:
                yield hit.text
            self._commit(turns, request, hit, call, cached=True)
            return
        first, completion, rest = self._runner.open_stream(request, call)
        if rest is not None:
            done, failure = False, None
            assert call.progress is not None   # open_stream gave the call its progress
            try:
                call.progress.text.append(first)
                yield first
                completion = yield from _relay(rest, call.progress.text)
                done = True
            except errors.LLMError as exc:
                failure = exc
                raise
            finally:
                if not done:   # cut, broken off (break, Ctrl-C, a dropped generator): billed so far
                    rest.close()
                    hold, call.hold = call.hold, None
                    self._runner.charge_estimate(call, call.request, failure.error_code if failure else
                                                 "interrupted", hold)
                    if failure is not None:
                        self._runner.failed(call, failure, None, "raise")
        self._commit(turns, request, completion, call)

    def send_tool_result(self, result: Any, tool_call_id: str | None = None) -> ChatResponse | None:
        """Give the model a tool's result (any JSON-able value) and return its next reply."""
        pending = self._pending_tool_calls()
        if not pending:
            raise errors.ConfigurationError("There is no tool call waiting for a result.")
        if tool_call_id is None:
            if len(pending) > 1:
                raise errors.ConfigurationError(
                    f"{len(pending)} tool calls are waiting; pass tool_call_id= one of "
                    f"{[c.id for c in pending]}.")
            tool_call_id = pending[0].id
        call = next((c for c in pending if c.id == tool_call_id), None)
        if call is None:
            raise errors.ConfigurationError(f"No pending tool call with id {tool_call_id!r}.")
        content = result if isinstance(result, str) else json.dumps(result, default=str)
        turns = [{"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}]
        if len(pending) > 1:  # answer only one now; the others stay pending
            with self._lock:
                self._history += turns
            return None
        return self._send(turns)

    def get_conversation_history(self) -> list[dict[str, Any]]:
        """The conversation as a list of {"role", "content"} dicts, system message first."""
        out = [{"role": "system", "content": self.system_message}] if self.system_message else []
        for m in self._history:
            item = {"role": m["role"], "content": m.get("content") or ""}
            if m.get("tool_calls"):
                item["tool_calls"] = [c.to_dict() for c in m["tool_calls"]]
            if m["role"] == "tool":
                item["tool_call_id"] = m["tool_call_id"]
            out.append(item)
        return out

    def reset(self) -> None:
        """Forget the conversation (the system message stays; cost and token totals are kept)."""
        with self._lock:
            self._history = []

    # ---- accounting --------------------------------------------------------------------------------
    def get_token_count(self) -> int:
        """Total tokens (input + output) used by this session."""
        return sum(c.usage.total_tokens for c in self._calls)

    def get_token_stats(self) -> dict[str, int]:
        total = sum((c.usage for c in self._calls), Usage())
        return {"input_tokens": total.input_tokens, "output_tokens": total.output_tokens,
                "total_tokens": total.total_tokens, "cached_tokens": total.cached_tokens,
                "calls": len(self._calls)}

    def get_cost(self) -> USD:
        """USD spent by this session; NaN (with one warning) if a call's model has no known price."""
        costs = [c.cost for c in self._calls if c.cost is not None]
        if len(costs) < len(self._calls):
            return USD(math.nan)
        return USD(round(sum(costs), 8))

    def get_response_time(self) -> float | None:
        """Latency of the last call in milliseconds (None before the first call)."""
        return round(self._calls[-1].latency_ms, 1) if self._calls else None

    def get_calls(self) -> list[CallRecord]:
        """Every finished call of this session as `CallRecord`s (for tables and charts)."""
        return list(self._calls)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The session's `RetryPolicy` (max_retries, retry_delay, exponential_backoff, ...)."""
        return self._runner.retry

    def get_retry_events(self) -> list[dict[str, Any]]:
        """Failed attempts of this session, oldest first: dicts with time, provider, model, attempt,
        error_code, status_code, retry_after, latency_ms, wait (seconds slept before the next
        attempt) and action ("retry", "fallback" to the next provider, or "raise")."""
        return self._runner.retry_events()

    def get_budget(self) -> dict[str, float] | None:
        """{"limit", "spent", "reserved", "remaining"} in USD, or None without a cost_limit."""
        b = self._runner.budget
        if b is None or math.isinf(b.limit):   # no cost_limit (only the class budget, if any)
            return None
        spent, reserved = b.totals()
        return {"limit": b.limit, "spent": USD(round(spent, 8)), "reserved": USD(round(reserved, 8)),
                "remaining": USD(round(b.limit - spent - reserved, 8))}

    def get_cache_stats(self) -> dict[str, Any]:
        """This session's semantic-cache figures: hits, misses, hit_rate (%), cost_saved, tokens_saved,
        entries. All zero without `semantic_cache=`."""
        if self._cache is None:
            from .cache.counts import HitCounter
            return {**HitCounter().summary(), "entries": 0}
        return self._cache.stats()

    def get_cache_hit_rate(self) -> float:
        """Percent of this session's lookups answered from the semantic cache."""
        return self.get_cache_stats()["hit_rate"]

    def get_cost_saved(self) -> USD:
        """USD not spent thanks to cache hits (at the price of the model the hit stands in for)."""
        return self.get_cache_stats()["cost_saved"]

    def add_hook(self, hook: Any) -> None:
        """Seam for answering without the provider (the semantic cache). Before each call,
        `hook.before_call(session, request)` may return a `Completion` to use instead of the provider
        (committed with cached=True and cost 0, no retry, limiter or budget); after each committed
        reply, `hook.after_call(session, request, response)`."""
        self._hooks.append(hook)

    def estimate_tokens(self, message: str = "") -> int:
        """Estimated prompt tokens if `message` were sent now (offline, no tokenizer download)."""
        turns = self._history + ([{"role": "user", "content": message}] if message else [])
        return estimate_messages(turns, self.system_message, self.tools)

    # ---- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- internals ---------------------------------------------------------------------------------
    def _new_turns(self, message):
        if self._closed:
            raise errors.ConfigurationError("This ChatSession is closed; create a new one.")
        if not isinstance(message, str):
            raise errors.ConfigurationError(f"message must be a string, got {type(message).__name__}.")
        if not message.strip():
            raise errors.ConfigurationError("message is empty: type a question or instruction to send.")
        # A tool call left unanswered would make the next request invalid; say so in the history.
        turns = [{"role": "tool", "tool_call_id": c.id, "name": c.name, "content": _NOT_RUN}
                 for c in self._pending_tool_calls()]
        return turns + [{"role": "user", "content": message}]

    def _pending_tool_calls(self):
        answered = {m["tool_call_id"] for m in self._history if m["role"] == "tool"}
        for m in reversed(self._history):
            if m["role"] == "assistant":
                return [c for c in m.get("tool_calls") or [] if c.id not in answered]
        return []

    def _request(self, turns):
        return ChatRequest(model=self.model, messages=self._history + turns, system=self.system_message,
                           temperature=self.temperature, max_tokens=self.max_tokens, tools=self.tools,
                           tool_choice=self.tool_choice, json_mode=self.json_mode,
                           response_format=self.response_format, seed=self.seed)

    # ---- one call: cache hooks, then the runner (budget, fallbacks, retries, limiter), then commit -----
    def _send(self, turns):
        request = self._request(turns)
        call = Call(time.perf_counter(), streamed=False)
        hit = self._before_call(request)
        if hit is not None:
            return self._commit(turns, request, hit, call, cached=True)
        completion = self._runner.create(request, call)
        return self._commit(turns, request, completion, call)

    def _before_call(self, request):
        for hook in self._hooks:
            hit = hook.before_call(self, request)
            if hit is not None:
                return hit
        return None

    def _build_adapter(self, route):
        """A fallback route's adapter, in its own mode (its provider may have no key: local/replay)."""
        o = route.options
        route.mode = config.check_mode(o.get("mode")) or self.options.mode or config.current_mode(route.provider)
        return offline.adapter(route.provider, route.mode, self.timeout, api_version=o.get("api_version"),
                               default_headers=self._headers, base_url=o.get("base_url"),
                               api_key=o.get("api_key"), azure_endpoint=o.get("azure_endpoint"))

    def _charge(self, call, usage, cost, status):
        """Book an attempt that may have been billed but gave no usable reply (a timeout, a cut or
        abandoned stream): an estimate in the session totals, and an `llm_charge` event (the ledger
        and the alerts; the health monitor already counted the failure)."""
        route = call.route or self._runner.routes[0]
        latency_ms = (time.perf_counter() - call.start) * 1000
        record = CallRecord(route.provider, (call.progress and call.progress.model) or route.model, route.model,
                            usage, None if cost is None else USD(cost), True, latency_ms, call.streamed,
                            attempts=1, fallback_used=call.fallback_used, status=status,
                            source=config.source_of(route.mode))
        with self._lock:
            self._calls.append(record)
        events.emit("llm_charge", record=record, session=self.name, status=status, time=record.time,
                    provider=route.provider, model=record.model, mode=route.mode, source=record.source)

    def _commit(self, turns, request, completion, call, cached=False):
        latency_ms = (time.perf_counter() - call.start) * 1000
        route = call.route or self._runner.routes[0]
        if not cached and route.mode == "record":
            offline.record_latency(latency_ms)
        elif not cached and completion.latency_ms is not None:
            latency_ms = completion.latency_ms   # a replay reports the recorded call's latency, not its own
        source = completion.source or (None if cached else config.source_of(route.mode))
        usage = Usage() if cached else completion.usage   # a cache hit spends no tokens
        if cached:
            cost, estimate = USD(0.0), False
        else:
            cost, estimate = self._price(completion, route.model)
            cost = None if cost is None else USD(cost)
        if call.hold:
            call.hold.settle(cost)
        if call.grant:
            call.grant.settle(usage.total_tokens)
        bad_json = None
        if self.json_mode and not completion.tool_calls:
            try:
                json.loads(completion.text)
            except json.JSONDecodeError as exc:
                bad_json = errors.InvalidJSONError(
                    f"JSON mode was requested but the reply is not valid JSON ({exc.msg} at position {exc.pos}); "
                    f"it was not added to the history. Reply started: {completion.text[:80]!r}",
                    provider=route.provider)
        record = CallRecord(route.provider, completion.model, route.model, usage, cost, estimate, latency_ms,
                            call.streamed, cached, attempts=call.attempts, fallback_used=call.fallback_used,
                            status="invalid_json" if bad_json else "ok", source=source)
        with self._lock:
            if not bad_json:
                self._history += turns + [{"role": "assistant", "content": completion.text,
                                           "tool_calls": completion.tool_calls}]
            self._calls.append(record)   # billed either way
        events.emit("llm_call", record=record, session=self.name, status=record.status, time=record.time,
                    provider=route.provider, model=completion.model, mode=route.mode, source=source,
                    attempt_latency_ms=None if call.attempt_ms is None else round(call.attempt_ms, 1),
                    attempts=call.attempts, fallback_used=call.fallback_used)
        if bad_json:
            raise bad_json
        response = ChatResponse(completion.text, tool_calls=completion.tool_calls, usage=usage,
                                model=completion.model, provider=route.provider, latency_ms=round(latency_ms, 1),
                                finish_reason=completion.finish_reason, cost=cost, cost_is_estimate=estimate,
                                cached=cached, request_id=completion.request_id, source=source)
        response.fallback_used = call.fallback_used
        response.attempts = call.attempts
        for hook in self._hooks:
            hook.after_call(self, request, response)
        return response

    def _price(self, completion, requested_model):
        """Cost at the answering model's price, else at the requested model's (flagged as estimate)."""
        if pricing.lookup(completion.model):
            return pricing.cost_of(completion.usage, completion.model), False
        if completion.model != requested_model and pricing.lookup(requested_model):
            return pricing.cost_of(completion.usage, requested_model), True
        return pricing.cost_of(completion.usage, completion.model or requested_model), False


def _relay(stream, seen):
    """Pass a stream's pieces on, keeping them in `seen` (what a cut stream delivered); its return value."""
    while True:
        try:
            piece = next(stream)
        except StopIteration as stop:
            return stop.value
        seen.append(piece)
        yield piece
