"""ChatSession: one interface over OpenAI, Anthropic and Azure OpenAI (workshop Part 1)."""
import json
import math
import threading
import time
from dataclasses import dataclass, field

from . import config, errors, events, offline
from .monitoring import health, ledger, pricing
from .offline.replay import LOCAL_TIMEOUT
from .providers import check_provider, resolve_model
from .providers.base import ChatRequest, DEFAULT_TIMEOUT
from .resilience.budget import session_budget
from .resilience.fallback import Route, parse_fallbacks
from .resilience.retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_DELAY, RetryPolicy
from .resilience.runner import Call, Runner
from .response import USD, ChatResponse, Usage
from .security import get_logger
from .tokens import estimate_messages
from .tools import normalize_tools

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
    cost: float            # None when the model has no known price
    cost_is_estimate: bool
    latency_ms: float
    streamed: bool = False
    cached: bool = False
    time: float = field(default_factory=time.time)
    attempts: int = 1            # HTTP attempts, retries and fallbacks included
    fallback_used: bool = False
    status: str = "ok"           # or "invalid_json": billed, but not added to the history
    source: str = None           # "recorded" | "local" | "live" (see ChatResponse.source)


class ChatSession:
    """A conversation with one provider and model, with history, tools, JSON mode and accounting.

    Arguments follow the workshop text: `provider` ("openai", "anthropic", "azure"), `model`
    (for Azure: the deployment name), `system_message`, `temperature`, `max_tokens`, `functions`
    (a list of JSON-schema function definitions), `response_format` ({"type": "json_object"}).
    Also: `tools` (OpenAI- or Anthropic-style tool definitions), `tool_choice`, `timeout` (seconds; default 60, 300 for the local model),
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
    """

    def __init__(self, provider="openai", model=None, system_message=None, temperature=None,
                 max_tokens=None, functions=None, response_format=None, tools=None, tool_choice=None,
                 timeout=None, base_url=None, api_key=None, azure_endpoint=None,
                 api_version=None, azure_deployment=None, mode=None, max_retries=DEFAULT_MAX_RETRIES,
                 retry_delay=DEFAULT_RETRY_DELAY, exponential_backoff=True, retry_policy=None,
                 rate_limiter=None, fallback_provider=None, fallback_model=None, fallbacks=None,
                 cost_limit=None, name=None, semantic_cache=False, cache_ttl=3600, cache_user=None,
                 seed=None):
        self.provider = check_provider(provider)
        self.model = resolve_model(self.provider, model, azure_deployment=azure_deployment)
        if system_message is not None and not isinstance(system_message, str):
            raise errors.ConfigurationError("system_message must be a string.")
        if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
            raise errors.ConfigurationError(f"temperature must be a number from 0 to 2, got {temperature!r}.")
        if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens > 0):
            raise errors.ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise errors.ConfigurationError(f"seed must be an integer, got {seed!r}.")
        if response_format is not None and not (isinstance(response_format, dict) and "type" in response_format):
            raise errors.ConfigurationError('response_format must be a dict such as {"type": "json_object"}.')
        self.system_message = system_message
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.tools = normalize_tools(functions, tools)
        self.tool_choice = tool_choice
        self.response_format = response_format
        self.json_mode = bool(response_format and response_format.get("type") in ("json_object", "json_schema"))
        retry = retry_policy or RetryPolicy(max_retries, retry_delay, exponential_backoff)
        if rate_limiter is not None and not hasattr(rate_limiter, "acquire"):
            raise errors.ConfigurationError("rate_limiter must be a glwork RateLimiter.")
        self.rate_limiter = rate_limiter
        fallback_routes = parse_fallbacks(fallback_provider, fallback_model, fallbacks)
        self.name = str(name) if name else f"session-{id(self):x}"
        self._headers = {SESSION_HEADER: self.name} if name else None
        self._mode_arg = config.check_mode(mode)
        self.mode = self._mode_arg or config.current_mode(self.provider)
        # cost_limit, plus the class budget when a shared backend is set (live/record calls)
        budget = session_budget(cost_limit, self.mode)
        # A small local model on a busy laptop needs longer than a provider's API does.
        self.timeout = timeout or (LOCAL_TIMEOUT if self.mode in ("local", "record") else DEFAULT_TIMEOUT)
        self._adapter = offline.adapter(self.provider, self.mode, self.timeout, api_version=api_version,
                                        default_headers=self._headers, base_url=base_url, api_key=api_key,
                                        azure_endpoint=azure_endpoint)
        primary = Route(self.provider, self.model, adapter=self._adapter, mode=self.mode)
        self._runner = Runner([primary] + fallback_routes, retry, rate_limiter, budget, self.name,
                              self._build_adapter, self._charge)
        self._history = []          # neutral user/assistant/tool turns, no system message
        self._calls = []            # CallRecord per finished call
        self._hooks = []
        self._lock = threading.RLock()
        self._closed = False
        ledger.ensure_default()     # every call lands in the cost ledger and the health monitor
        health.ensure_default()
        self._cache = None
        if semantic_cache is not None and semantic_cache is not False:  # an empty cache is falsy (len 0)
            from .cache import SemanticCacheManager
            cache = (semantic_cache if isinstance(semantic_cache, SemanticCacheManager)
                     else SemanticCacheManager(ttl=cache_ttl))
            self._cache = cache.session_hook(user=cache_user)
            self.add_hook(self._cache)

    def __repr__(self):
        return (f"ChatSession(provider={self.provider!r}, model={self.model!r}, turns={len(self._history)}, "
                f"tokens={self.get_token_count()})")

    # ---- conversation ------------------------------------------------------------------------------
    def send_message(self, message):
        """Send `message` and return the reply as a `ChatResponse` (a str with metadata)."""
        return self._send(self._new_turns(message))

    def stream_message(self, message):
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

    def send_tool_result(self, result, tool_call_id=None):
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

    def get_conversation_history(self):
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

    def reset(self):
        """Forget the conversation (the system message stays; cost and token totals are kept)."""
        with self._lock:
            self._history = []

    # ---- accounting --------------------------------------------------------------------------------
    def get_token_count(self):
        """Total tokens (input + output) used by this session."""
        return sum(c.usage.total_tokens for c in self._calls)

    def get_token_stats(self):
        total = sum((c.usage for c in self._calls), Usage())
        return {"input_tokens": total.input_tokens, "output_tokens": total.output_tokens,
                "total_tokens": total.total_tokens, "cached_tokens": total.cached_tokens,
                "calls": len(self._calls)}

    def get_cost(self):
        """USD spent by this session; NaN (with one warning) if a call's model has no known price."""
        costs = [c.cost for c in self._calls]
        if any(c is None for c in costs):
            return USD(math.nan)
        return USD(round(sum(costs), 8))

    def get_response_time(self):
        """Latency of the last call in milliseconds (None before the first call)."""
        return round(self._calls[-1].latency_ms, 1) if self._calls else None

    def get_calls(self):
        """Every finished call of this session as `CallRecord`s (for tables and charts)."""
        return list(self._calls)

    @property
    def retry_policy(self):
        """The session's `RetryPolicy` (max_retries, retry_delay, exponential_backoff, ...)."""
        return self._runner.retry

    def get_retry_events(self):
        """Failed attempts of this session, oldest first: dicts with time, provider, model, attempt,
        error_code, status_code, retry_after, latency_ms, wait (seconds slept before the next
        attempt) and action ("retry", "fallback" to the next provider, or "raise")."""
        with self._runner._lock:
            return [dict(e) for e in self._runner.events_log]

    def get_budget(self):
        """{"limit", "spent", "reserved", "remaining"} in USD, or None without a cost_limit."""
        b = self._runner.budget
        if b is None or math.isinf(b.limit):   # no cost_limit (only the class budget, if any)
            return None
        with b._lock:
            spent, reserved = b.spent, b.reserved
        return {"limit": b.limit, "spent": USD(round(spent, 8)), "reserved": USD(round(reserved, 8)),
                "remaining": USD(round(b.limit - spent - reserved, 8))}

    def get_cache_stats(self):
        """This session's semantic-cache figures: hits, misses, hit_rate (%), cost_saved, tokens_saved,
        entries. All zero without `semantic_cache=`."""
        if self._cache is None:
            return {"hits": 0, "misses": 0, "lookups": 0, "hit_rate": 0.0, "cost_saved": USD(0.0),
                    "tokens_saved": 0, "entries": 0}
        return self._cache.stats()

    def get_cache_hit_rate(self):
        """Percent of this session's lookups answered from the semantic cache."""
        return self.get_cache_stats()["hit_rate"]

    def get_cost_saved(self):
        """USD not spent thanks to cache hits (at the price of the model the hit stands in for)."""
        return self.get_cache_stats()["cost_saved"]

    def add_hook(self, hook):
        """Seam for answering without the provider (the semantic cache). Before each call,
        `hook.before_call(session, request)` may return a `Completion` to use instead of the provider
        (committed with cached=True and cost 0, no retry, limiter or budget); after each committed
        reply, `hook.after_call(session, request, response)`."""
        self._hooks.append(hook)

    def estimate_tokens(self, message=""):
        """Estimated prompt tokens if `message` were sent now (offline, no tokenizer download)."""
        turns = self._history + ([{"role": "user", "content": message}] if message else [])
        return estimate_messages(turns, self.system_message, self.tools)

    # ---- lifecycle ---------------------------------------------------------------------------------
    def close(self):
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
        route.mode = config.check_mode(o.get("mode")) or self._mode_arg or config.current_mode(route.provider)
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
