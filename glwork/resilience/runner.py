"""How one request reaches a provider: routes (primary, then fallbacks), budget, rate limiter, retries.

The session builds the neutral request and commits the reply; everything between is here:

    for each route (primary, then fallbacks, while the error allows falling back):
        with retries (RetryPolicy, on tenacity), each attempt:
            reserve its worst-case cost (budget)       -> BudgetExceededError, nothing sent
            wait for the rate limiter, call the adapter (create, or a stream up to its first chunk)
        a failure is an event: llm_retry (will retry) or llm_error (action "fallback" or "raise")

Each failed attempt is also kept in `events_log` (the session's `get_retry_events()`).

Money: every attempt that can spend it holds its own reservation. The attempt that answers is
settled by the session with the reply's cost. A failed attempt the provider may have processed
(a timeout, a connection or stream cut after the request left, a 200 with a broken body, Ctrl-C)
is booked as an estimate (prompt estimate + text received) through `charge`; one refused with an
HTTP status spent nothing and is released. Which routes spend money is decided per route: a live
fallback behind a local primary is reserved on the class budget like a live primary.
"""
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from .. import errors, events
from ..monitoring import pricing
from ..providers.base import Progress
from ..response import Usage
from ..security import get_logger
from ..tokens import estimate_messages, estimate_tokens
from .budget import DEFAULT_MAX_TOKENS, spends_money, worst_case_cost
from .fallback import Route, should_fall_back

log = get_logger(__name__)
EVENTS_KEPT = 1000


@dataclass
class Call:
    """What one send/stream learns on its way: the answering route, attempts, reservations."""

    start: float                 # perf_counter at the start of the call
    streamed: bool
    route: Route | None = None
    attempts: int = 0            # HTTP attempts across routes
    route_attempt: int = 0       # on the current route
    attempt_ms: float | None = None     # the last attempt's own latency
    prompt_tokens: int | None = None    # estimate, for the limiter, the budget and charges
    hold: object = None          # budget reservation of the current attempt
    grant: object = None         # rate limiter grant of the answering attempt
    fallback_used: bool = False
    progress: Progress | None = None    # what the current attempt's stream delivered so far
    request: object = None       # the current attempt's ChatRequest (its route's model)
    charged: bool = False        # the last failed attempt was booked as a charge


class Runner:
    def __init__(self, routes, retry, limiter=None, budget=None, name=None, build_adapter=None, charge=None):
        self.routes = routes               # routes[0] is the primary, its adapter already built
        self.retry = retry
        self.limiter = limiter
        self.budget = budget
        self.name = name
        self._build_adapter = build_adapter
        self._charge = charge              # charge(call, usage, cost, status): a failed attempt's estimate
        self._lock = threading.Lock()
        self._capped = set()               # models whose replies were capped (said once)
        self.events_log = deque(maxlen=EVENTS_KEPT)

    def create(self, request, call):
        """The reply's `Completion`."""
        return self._run(request, call, self._attempt_create)

    def open_stream(self, request, call):
        """(first chunk, None, rest of the stream) or (None, Completion, None) for a reply without text.
        Failures before the first chunk are retried and fall back; the caller handles the rest."""
        return self._run(request, call, self._attempt_stream)

    # ---- routes ------------------------------------------------------------------------------------
    def _run(self, request, call, attempt):
        later = iter(self.routes[1:])
        route, adapter = self.routes[0], self.routes[0].adapter
        while True:
            call.route, call.route_attempt = route, 0
            call.fallback_used = route is not self.routes[0]
            req = self._route_request(request, route, adapter, call)
            try:
                return self.retry.call(lambda adapter=adapter, req=req: attempt(adapter, req, call),
                                       on_retry=lambda exc, n, wait: self.failed(call, exc, wait, "retry"))
            except errors.BudgetExceededError:
                raise                       # refused before sending: nothing failed, nothing to fall back to
            except errors.LLMError as exc:
                nxt = self._next_route(later) if should_fall_back(exc) else None
                self.failed(call, exc, None, "fallback" if nxt else "raise")
                if nxt is None:
                    raise
                route, adapter = nxt

    def _route_request(self, request, route, adapter, call):
        """`request` for this route: its model, and a max_tokens when a budget must bound the reply."""
        max_tokens = request.max_tokens
        if max_tokens is None and self._reserves(route):
            max_tokens = self._output_bound(route, adapter)
        if self._reserves(route) or self.limiter is not None:
            if call.prompt_tokens is None:
                call.prompt_tokens = estimate_messages(request.messages, request.system, request.tools)
        if (route.model, max_tokens) == (request.model, request.max_tokens):
            return request
        return replace(request, model=route.model, max_tokens=max_tokens)

    def _reserves(self, route):
        """True if calls on `route` reserve: any route under a session cost_limit (free ones priced
        as if, so a budget can be tried without a key), and routes that spend money under the class budget."""
        b = self.budget
        return b is not None and (not math.isinf(b.limit) or (b.class_budget is not None and spends_money(route.mode)))

    def _output_bound(self, route, adapter):
        """Output tokens a reservation must cover when the session set no max_tokens: what the adapter
        always sends (Anthropic's required max_tokens), else the model's own output limit (nothing is
        sent, so a reasoning model keeps its full reply), else DEFAULT_MAX_TOKENS sent as a cap, said once."""
        sent = getattr(adapter, "default_max_tokens", None)
        if sent:
            return sent
        price = pricing.lookup(route.model)
        if price is not None and price.max_output_tokens:
            return None
        key = (route.provider, route.model)
        if key not in self._capped:
            self._capped.add(key)
            log.warning("%s/%s: no max_tokens was set and the model's output limit is unknown, so replies are "
                        "capped at %d tokens to keep the budget's worst case bounded. Pass max_tokens=... to "
                        "choose the cap.", route.provider, route.model, DEFAULT_MAX_TOKENS)
        return DEFAULT_MAX_TOKENS

    def _next_route(self, later):
        """The next fallback whose adapter can be built (e.g. has a key), with its adapter, or None."""
        for route in later:
            try:
                if route.adapter is None:
                    with self._lock:
                        if route.adapter is None:
                            route.adapter = self._build_adapter(route)
                return route, route.adapter
            except errors.LLMError as exc:
                log.warning("fallback %s/%s skipped: %s", route.provider, route.model, exc)
        return None

    def _reserve(self, req, route, call):
        if not self._reserves(route):
            return None
        price = pricing.lookup(req.model)   # None: worst_case_cost refuses the call, saying why
        # No max_tokens sent: the model's own output limit bounds the reply.
        output = req.max_tokens or (price.max_output_tokens if price else 0)
        worst = worst_case_cost(req.model, call.prompt_tokens, output, route.provider)
        return self.budget.reserve(worst, route.provider, req.model, spends_money(route.mode))

    # ---- attempts ----------------------------------------------------------------------------------
    def _begin(self, req, call):
        call.hold = self._reserve(req, call.route, call)      # BudgetExceededError: nothing sent
        grant = None
        try:
            if self.limiter is not None:
                grant = self.limiter.acquire(call.prompt_tokens + (req.max_tokens or DEFAULT_MAX_TOKENS))
        except BaseException:
            if call.hold:
                call.hold.release()
            raise
        call.attempts += 1
        call.route_attempt += 1
        call.charged = False
        call.progress, call.request = Progress(), req
        return grant, time.perf_counter()

    def _attempt_create(self, adapter, req, call):
        grant, t0 = self._begin(req, call)
        try:
            completion = adapter.create(req)
        except BaseException as exc:
            self._attempt_failed(call, req, t0, grant, exc)
            raise
        call.attempt_ms, call.grant = (time.perf_counter() - t0) * 1000, grant
        return completion

    def _attempt_stream(self, adapter, req, call):
        grant, t0 = self._begin(req, call)
        try:
            try:
                stream = adapter.stream(req, call.progress)
            except TypeError:     # an adapter that does not report progress (a generator: no body ran)
                stream = adapter.stream(req)
            first = next(stream)
        except StopIteration as stop:       # a reply without text (tool calls only)
            call.attempt_ms, call.grant = (time.perf_counter() - t0) * 1000, grant
            return None, stop.value, None
        except BaseException as exc:
            self._attempt_failed(call, req, t0, grant, exc)
            raise
        call.attempt_ms, call.grant = (time.perf_counter() - t0) * 1000, grant
        return first, None, stream

    def _attempt_failed(self, call, req, t0, grant, exc):
        call.attempt_ms = (time.perf_counter() - t0) * 1000
        billed = may_be_billed(exc)
        # Refused with an HTTP error: the provider used no tokens. A timeout or a cut connection may
        # have been processed: keep the rate limiter's reservation.
        if grant is not None and not billed:
            grant.settle(0)
        hold, call.hold = call.hold, None
        if not billed:
            if hold:
                hold.release()
            return
        status = getattr(exc, "error_code", None) or "interrupted"
        self.charge_estimate(call, req, status, hold)

    def charge_estimate(self, call, req, status, hold):
        """Book an attempt that may have been billed without a usable reply: usage as far as the
        provider reported it, else the prompt estimate plus the text received, flagged as an estimate."""
        if call.prompt_tokens is None:
            call.prompt_tokens = estimate_messages(req.messages, req.system, req.tools)
        usage = estimated_usage(call)
        cost = pricing.cost_of(usage, req.model)
        if hold:
            hold.settle(cost)          # None (no price): the reserved worst case is booked
        if call.grant is not None:     # a stream broken off after its first chunk
            call.grant.settle(usage.total_tokens)
            call.grant = None
        call.charged = True
        if self._charge is not None:
            self._charge(call, usage, cost, status)

    def failed(self, call, exc, wait, action):
        """Record a failed attempt: kept in `events_log`, emitted as llm_retry or llm_error."""
        route = call.route
        ev = {"time": time.time(), "session": self.name, "provider": route.provider, "model": route.model,
              "attempt": call.route_attempt, "error_code": exc.error_code, "status_code": exc.status_code,
              "retryable": exc.retryable, "retry_after": exc.retry_after,
              "wait": None if wait is None else round(wait, 3), "action": action,
              "latency_ms": None if call.attempt_ms is None else round(call.attempt_ms, 1),
              "booked": call.charged}    # True: its cost is booked already (an llm_charge event)
        with self._lock:
            self.events_log.append(ev)
        if action == "retry":
            events.emit("llm_retry", **ev)
        else:
            events.emit("llm_error", **ev, message=exc.message[:300], requested_model=route.model,
                        attempts=call.attempts, total_latency_ms=round((time.perf_counter() - call.start) * 1000, 1),
                        mode=route.mode, streamed=call.streamed, fallback_used=call.fallback_used)

    def retry_events(self):
        """Copies of the failed attempts kept in `events_log`, oldest first."""
        with self._lock:
            return [dict(e) for e in self.events_log]

    def close(self):
        for route in self.routes:
            if route.adapter is not None:
                route.adapter.close()


def may_be_billed(exc):
    """True if a failed attempt may have been processed (and billed) by the provider: no HTTP error
    status came back and the request may have left (a timeout, a cut connection or stream, a 200 whose
    body broke off, an interrupt). A connection never opened is not billed."""
    if not isinstance(exc, errors.LLMError):
        return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)) or not isinstance(exc, Exception)
    if exc.status_code or isinstance(exc, (errors.BudgetExceededError, errors.ConfigurationError)):
        return False
    return getattr(exc, "request_sent", True) and exc.error_code in (
        "timeout", "connection_error", "stream_interrupted", "server_error", "overloaded")


def estimated_usage(call):
    """Tokens of an attempt that broke off: reported usage where the provider sent it (Anthropic sends
    the prompt's at the start), else estimates."""
    p = call.progress or Progress()
    reported = p.usage or Usage()
    prompt = reported.input_tokens or (call.prompt_tokens or 0)
    output = max(reported.output_tokens, estimate_tokens("".join(p.text)))
    return Usage(prompt, output, reported.cached_tokens, reported.cache_creation_tokens)
