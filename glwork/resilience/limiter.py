"""RateLimiter: keep requests and tokens per minute under a provider's limits, by waiting.

A sliding-window log, not fixed buckets: a grant at time t counts against every 60 s window
[s, s + 60) that contains t, so no such window ever holds more than `max_requests_per_minute`
grants or more than `max_tokens_per_minute` tokens (as reserved; see `Grant.settle`).
Fixed per-minute buckets would allow twice the rate across a bucket boundary.

One limiter may be shared by any number of sessions and threads, and awaited from asyncio.

Across kernels: with a shared backend configured (GLWORK_BACKEND_URL=redis://..., see
glwork.backends) every RateLimiter of the same `name` in every kernel shares one window in Redis,
decided atomically by a Lua script on the Redis server's clock; callers wait exactly as here.
A limiter given its own `clock` stays in-process (its time is not the class's). While Redis is
unreachable each kernel falls back to its own window (a warning says so), so the class may briefly
exceed the limit; provider 429s are still retried.
"""
import threading
import time
from collections import deque

from .. import events
from ..backends.link import BackendUnavailable
from ..errors import ConfigurationError
from ..security import get_logger

log = get_logger(__name__)
WINDOW = 60.0
NOTIFY_AFTER = 5.0   # a wait at least this long is announced (once a minute at most)


class Grant:
    """One admitted request. `settle(actual_tokens)` corrects the reservation with real usage."""

    __slots__ = ("time", "tokens", "_limiter", "_live", "key")

    def __init__(self, t, tokens, limiter, key=None):
        self.time, self.tokens, self._limiter, self._live, self.key = t, tokens, limiter, True, key

    def settle(self, actual_tokens):
        self._limiter._settle(self, max(int(actual_tokens or 0), 0))

    def __repr__(self):
        return f"Grant(time={self.time:.3f}, tokens={self.tokens})"


class RateLimiter:
    """Waits (never fails) until a request fits in both limits, then admits it.

    `max_requests_per_minute` / `max_tokens_per_minute`: None means no such limit.
    `clock` (monotonic seconds) and `sleep` are injectable for tests; `notify(text)` shows a long
    wait (default: print, once per minute at most; None for silence).
    A request of more tokens than `max_tokens_per_minute` could never pass: ConfigurationError.
    If a call uses more tokens than it reserved, the surplus counts from then on (the window it
    was in may hold that surplus over the limit; later requests wait for it).
    `backend`: None = the configured one (GLWORK_BACKEND_URL; shared by `name` across kernels),
    "local" = this process only, or a redis:// URL.
    """

    def __init__(self, max_requests_per_minute=60, max_tokens_per_minute=None, *, window=WINDOW,
                 clock=time.monotonic, sleep=time.sleep, notify=print, notify_after=NOTIFY_AFTER,
                 history=10_000, name="rate_limiter", backend=None):
        for label, value in (("max_requests_per_minute", max_requests_per_minute),
                             ("max_tokens_per_minute", max_tokens_per_minute)):
            if value is not None and not (isinstance(value, (int, float)) and value >= 1):
                raise ConfigurationError(f"{label} must be a number >= 1 or None, got {value!r}.")
        self.max_requests = int(max_requests_per_minute) if max_requests_per_minute else None
        self.max_tokens = int(max_tokens_per_minute) if max_tokens_per_minute else None
        self.window = float(window)
        self.name = name
        self._clock, self._sleep, self._notify, self._notify_after = clock, sleep, notify, notify_after
        self._lock = threading.Lock()
        self._live = deque()          # grants still inside the window, oldest first
        self._live_tokens = 0
        self.history = deque(maxlen=history)   # recent grants, for charts and tests
        self._waits, self._waited, self._last_notice = 0, 0.0, None
        self._shared = _shared_window(backend, clock, self)

    def __repr__(self):
        return (f"RateLimiter(max_requests_per_minute={self.max_requests}, "
                f"max_tokens_per_minute={self.max_tokens})")

    # ---- admission -----------------------------------------------------------------------------
    def acquire(self, tokens=0):
        """Block until the request fits; return its `Grant`."""
        tokens = self._check(tokens)
        while True:
            grant, wait, why = self._try(tokens)
            if grant:
                return grant
            self._announce(wait, why)
            self._sleep(wait)

    async def acquire_async(self, tokens=0, sleep=None):
        """`acquire` for asyncio: awaits instead of blocking the event loop."""
        import asyncio  # only for asyncio users: it is a heavy import
        tokens = self._check(tokens)
        sleep = sleep or asyncio.sleep
        while True:
            grant, wait, why = self._try(tokens)
            if grant:
                return grant
            self._announce(wait, why)
            await sleep(wait)

    def _check(self, tokens):
        tokens = max(int(tokens or 0), 0)
        if self.max_tokens is not None and tokens > self.max_tokens:
            raise ConfigurationError(
                f"A request reserving {tokens} tokens can never fit under max_tokens_per_minute="
                f"{self.max_tokens}: lower max_tokens or shorten the prompt.")
        return tokens

    def _try(self, tokens):
        """(grant, 0, None) if admitted now, else (None, seconds to wait, reason)."""
        if self._shared is not None:
            try:
                key, t, why = self._shared.try_acquire(tokens)
            except BackendUnavailable:
                pass            # the link warned; this kernel's own window decides until Redis is back
            else:
                with self._lock:
                    if key is not None:
                        grant = Grant(t, tokens, self, key)
                        self.history.append(grant)
                        return grant, 0.0, None
                    self._waits += 1
                    self._waited += t
                return None, t, why
        with self._lock:
            now = self._clock()
            live = self._live
            while live and live[0].time + self.window <= now:   # same expression as the waits below
                g = live.popleft()
                g._live = False
                self._live_tokens -= g.tokens
            wait, why = 0.0, None
            if self.max_requests is not None and len(live) >= self.max_requests:
                wait, why = live[len(live) - self.max_requests].time + self.window - now, "requests"
            if self.max_tokens is not None and self._live_tokens + tokens > self.max_tokens:
                excess = self._live_tokens + tokens - self.max_tokens
                for g in live:          # the oldest grants whose expiry frees enough tokens
                    excess -= g.tokens
                    if excess <= 0:
                        break
                w = g.time + self.window - now
                if w > wait:
                    wait, why = w, "tokens"
            if why is None:
                grant = Grant(now, tokens, self)
                live.append(grant)
                self._live_tokens += tokens
                self.history.append(grant)
                return grant, 0.0, None
            self._waits += 1
            self._waited += wait
            return None, wait, why

    def _settle(self, grant, actual):
        if grant.key is not None:
            try:
                self._shared.settle(grant.key, actual)
            except BackendUnavailable:
                pass            # the grant leaves the shared window at its time anyway
            grant.tokens = actual
            return
        with self._lock:
            if grant._live:
                self._live_tokens += actual - grant.tokens
            grant.tokens = actual

    def _announce(self, wait, why):
        events.emit("rate_limit_wait", limiter=self.name, wait=wait, reason=why, time=time.time())
        if wait < self._notify_after or self._notify is None:
            return
        now = self._clock()
        with self._lock:
            if self._last_notice is not None and now - self._last_notice < self.window:
                return
            self._last_notice = now
        limit = (f"{self.max_requests} requests/min" if why == "requests"
                 else f"{self.max_tokens} tokens/min")
        text = f"Rate limiter: {limit} reached, waiting {wait:.1f} s before the next request..."
        log.info(text)
        try:
            self._notify(text)
        except Exception as exc:  # a broken notifier must not break the call
            log.warning("rate limiter notify failed: %s", exc)

    # ---- inspection ----------------------------------------------------------------------------
    def get_stats(self):
        """Requests and tokens in the current window, and how often and how long callers waited."""
        shared = {}
        if self._shared is not None:
            try:
                n, tok = self._shared.peek()
                return {"requests_in_window": n, "tokens_in_window": tok,
                        "max_requests_per_minute": self.max_requests, "max_tokens_per_minute": self.max_tokens,
                        "waits": self._waits, "waited_seconds": round(self._waited, 3),
                        "shared": self._shared.backend.label}
            except BackendUnavailable:
                shared = {"shared": f"{self._shared.backend.label} (unreachable: this kernel's window)"}
        with self._lock:
            now = self._clock()
            live = [g for g in self._live if g.time + self.window > now]
            return {**shared, "requests_in_window": len(live), "tokens_in_window": sum(g.tokens for g in live),
                    "max_requests_per_minute": self.max_requests, "max_tokens_per_minute": self.max_tokens,
                    "waits": self._waits, "waited_seconds": round(self._waited, 3)}


def _shared_window(backend, clock, limiter):
    """The limiter's window in the shared backend, or None to keep it in this process."""
    if backend == "local" or (backend is None and clock is not time.monotonic):
        return None
    from .. import backends
    chosen = backends.current() if backend is None else backends.get(backend)
    if chosen is None:
        return None
    return chosen.window(limiter.name, limiter.window, limiter.max_requests, limiter.max_tokens)
