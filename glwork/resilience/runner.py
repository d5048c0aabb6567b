"""How one request reaches a provider: routes (primary, then fallbacks), budget, rate limiter, retries.

The session builds the neutral request and commits the reply; everything between is here:

    for each route (primary, then fallbacks, while the error allows falling back):
        reserve the worst-case cost (budget)          -> BudgetExceededError, nothing sent
        with retries (RetryPolicy, on tenacity):
            wait for the rate limiter, call the adapter (create, or a stream up to its first chunk)
        a failure is an event: llm_retry (will retry) or llm_error (action "fallback" or "raise")

Each failed attempt is also kept in `events_log` (the session's `get_retry_events()`).
"""
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from .. import errors, events
from ..security import get_logger
from ..tokens import estimate_messages
from .budget import DEFAULT_MAX_TOKENS, worst_case_cost
from .fallback import Route, should_fall_back

log = get_logger(__name__)
EVENTS_KEPT = 1000


@dataclass
class Call:
    """What one send/stream learns on its way: the answering route, attempts, reservations."""

    start: float                 # perf_counter at the start of the call
    streamed: bool
    route: Route = None
    attempts: int = 0            # HTTP attempts across routes
    route_attempt: int = 0       # on the current route
    attempt_ms: float = None     # the last attempt's own latency
    prompt_tokens: int = 0       # estimate, for the limiter and the budget
    hold: object = None          # budget reservation on the current route
    grant: object = None         # rate limiter grant of the answering attempt
    fallback_used: bool = False


class Runner:
    def __init__(self, routes, retry, limiter=None, budget=None, name=None, build_adapter=None):
        self.routes = routes               # routes[0] is the primary, its adapter already built
        self.retry = retry
        self.limiter = limiter
        self.budget = budget
        self.name = name
        self._build_adapter = build_adapter
        self._lock = threading.Lock()
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
        if self.budget or self.limiter:
            call.prompt_tokens = estimate_messages(request.messages, request.system, request.tools)
        later = iter(self.routes[1:])
        route, adapter = self.routes[0], self.routes[0].adapter
        while True:
            max_tokens = request.max_tokens or (DEFAULT_MAX_TOKENS if self.budget else None)
            req = request if (route.model, max_tokens) == (request.model, request.max_tokens) else \
                replace(request, model=route.model, max_tokens=max_tokens)
            call.route, call.route_attempt = route, 0
            call.fallback_used = route is not self.routes[0]
            call.hold = self._reserve(req, route, call)
            try:
                return self.retry.call(lambda: attempt(adapter, req, call),
                                       on_retry=lambda exc, n, wait: self.failed(call, exc, wait, "retry"))
            except errors.LLMError as exc:
                if call.hold:
                    call.hold.release()
                nxt = self._next_route(later) if should_fall_back(exc) else None
                self.failed(call, exc, None, "fallback" if nxt else "raise")
                if nxt is None:
                    raise
                route, adapter = nxt
            except BaseException:
                if call.hold:
                    call.hold.release()
                raise

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
        if self.budget is None:
            return None
        worst = worst_case_cost(req.model, call.prompt_tokens, req.max_tokens, route.provider)
        return self.budget.reserve(worst, route.provider, req.model)

    # ---- attempts ----------------------------------------------------------------------------------
    def _begin(self, req, call):
        grant = None
        if self.limiter is not None:
            grant = self.limiter.acquire(call.prompt_tokens + (req.max_tokens or DEFAULT_MAX_TOKENS))
        call.attempts += 1
        call.route_attempt += 1
        return grant, time.perf_counter()

    def _attempt_create(self, adapter, req, call):
        grant, t0 = self._begin(req, call)
        try:
            completion = adapter.create(req)
        except errors.LLMError as exc:
            _failed_attempt(call, t0, grant, exc)
            raise
        call.attempt_ms, call.grant = (time.perf_counter() - t0) * 1000, grant
        return completion

    def _attempt_stream(self, adapter, req, call):
        grant, t0 = self._begin(req, call)
        stream = adapter.stream(req)
        try:
            first = next(stream)
        except StopIteration as stop:       # a reply without text (tool calls only)
            call.attempt_ms, call.grant = (time.perf_counter() - t0) * 1000, grant
            return None, stop.value, None
        except errors.LLMError as exc:
            _failed_attempt(call, t0, grant, exc)
            raise
        call.attempt_ms, call.grant = (time.perf_counter() - t0) * 1000, grant
        return first, None, stream

    def failed(self, call, exc, wait, action):
        """Record a failed attempt: kept in `events_log`, emitted as llm_retry or llm_error."""
        route = call.route
        ev = {"time": time.time(), "session": self.name, "provider": route.provider, "model": route.model,
              "attempt": call.route_attempt, "error_code": exc.error_code, "status_code": exc.status_code,
              "retryable": exc.retryable, "retry_after": exc.retry_after,
              "wait": None if wait is None else round(wait, 3), "action": action,
              "latency_ms": None if call.attempt_ms is None else round(call.attempt_ms, 1)}
        with self._lock:
            self.events_log.append(ev)
        if action == "retry":
            events.emit("llm_retry", **ev)
        else:
            events.emit("llm_error", **ev, message=exc.message[:300], requested_model=route.model,
                        attempts=call.attempts, total_latency_ms=round((time.perf_counter() - call.start) * 1000, 1),
                        mode=route.mode, streamed=call.streamed, fallback_used=call.fallback_used)

    def close(self):
        for route in self.routes:
            if route.adapter is not None:
                route.adapter.close()


def _failed_attempt(call, t0, grant, exc):
    call.attempt_ms = (time.perf_counter() - t0) * 1000
    # Refused with an HTTP error: the provider used no tokens. A timeout or a cut connection may
    # have been processed: keep the reservation.
    if grant is not None and exc.status_code:
        grant.settle(0)
