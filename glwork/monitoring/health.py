"""ProviderHealthMonitor: latency, error rate and state of each provider over a rolling window.

Fed by the sessions' events (no wiring): every HTTP attempt is one sample, `llm_call` a success,
`llm_retry` / `llm_error` a failure. Answers from the semantic cache are not provider requests and
are not counted.

    requests     attempts in the window (retries included)
    retries      failed attempts that were retried
    error_rate   percent of attempts that failed on the provider's side: rate limit, 5xx, 529,
                 timeout, connection error, broken stream. Client errors (400, 401, 404, context
                 length) are the caller's, counted in `client_errors` only.
    avg_latency, p95_latency   ms, over successful attempts (None without one)
    state        "unknown"  no attempt in the window
                 "down"     the last 3 attempts all failed, or error_rate >= 50% and the last failed
                 "degraded" error_rate >= 10%, or p95_latency > slow_ms (10 s), or the last failed
                 "healthy"  otherwise
"""
import math
import threading
import time
from collections import defaultdict, deque

from .. import events

WINDOW_S = 300.0
SLOW_MS = 10_000.0
DOWN_STREAK = 3
DOWN_RATE = 50.0
DEGRADED_RATE = 10.0
KEEP = 10_000            # samples kept per provider (monitors choose their own window)


class HealthCollector:
    """Samples per provider, from events. The process has one default collector (`default()`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._samples = defaultdict(lambda: deque(maxlen=KEEP))
        self._unsubscribe = None

    def attach(self):
        with self._lock:
            if self._unsubscribe is None:
                self._unsubscribe = events.subscribe(self.observe)
        return self

    def detach(self):
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None

    def observe(self, event):
        kind = event.get("kind")
        if kind == "llm_call":
            rec = event["record"]
            if rec.cached:
                return
            # A replay takes milliseconds: its sample is the latency measured when it was recorded.
            latency = rec.latency_ms if rec.source == "recorded" else event.get("attempt_latency_ms", rec.latency_ms)
            sample = (rec.time, "ok", latency, None)
            provider = rec.provider
        elif kind in ("llm_retry", "llm_error"):
            failed = "error" if event.get("retryable") or kind == "llm_retry" else "client_error"
            sample = (event.get("time") or time.time(), failed, event.get("latency_ms"), event.get("error_code"))
            provider = event.get("provider")
            if kind == "llm_retry":
                sample += ("retry",)
        else:
            return
        with self._lock:
            self._samples[provider].append(sample)

    def samples(self, provider, since):
        with self._lock:
            return [s for s in self._samples.get(provider, ()) if s[0] >= since]

    def providers(self):
        with self._lock:
            return sorted(p for p in self._samples if p)

    def clear(self):
        with self._lock:
            self._samples.clear()


_default = HealthCollector()


def ensure_default():
    """Attach the process's collector to the event bus (once). Called by ChatSession."""
    return _default.attach()


class ProviderHealthMonitor:
    """`get_status("openai")` -> {"state", "avg_latency", "p95_latency", "error_rate", "requests", ...}.

    `window` seconds (default 300), `slow_ms` the p95 latency above which a provider is degraded,
    `clock` for tests, `collector` to read other samples than the process's default ones.
    """

    def __init__(self, window=WINDOW_S, slow_ms=SLOW_MS, clock=time.time, collector=None):
        self.window, self.slow_ms, self.clock = float(window), float(slow_ms), clock
        self.collector = collector or ensure_default()

    def __repr__(self):
        return f"ProviderHealthMonitor(window={self.window:g}s)"

    def get_status(self, provider):
        now = self.clock()
        samples = self.collector.samples(provider, now - self.window)
        outcomes = [s[1] for s in samples if s[1] != "client_error"]
        errors = outcomes.count("error")
        latencies = sorted(s[2] for s in samples if s[1] == "ok" and s[2] is not None)
        rate = round(100.0 * errors / len(samples), 1) if samples else 0.0
        avg = round(sum(latencies) / len(latencies), 1) if latencies else None
        p95 = round(latencies[max(math.ceil(0.95 * len(latencies)) - 1, 0)], 1) if latencies else None
        last_failed = bool(outcomes) and outcomes[-1] == "error"
        streak = len(outcomes) >= DOWN_STREAK and all(o == "error" for o in outcomes[-DOWN_STREAK:])
        if not samples:
            state = "unknown"
        elif streak or (rate >= DOWN_RATE and last_failed):
            state = "down"
        elif rate >= DEGRADED_RATE or (p95 is not None and p95 > self.slow_ms) or last_failed:
            state = "degraded"
        else:
            state = "healthy"
        last_error = next(({"error_code": s[3], "time": s[0]} for s in reversed(samples) if s[1] != "ok"), None)
        return {"provider": provider, "state": state, "avg_latency": avg, "p95_latency": p95,
                "error_rate": rate, "requests": len(samples), "errors": errors,
                "client_errors": len(samples) - len(outcomes),
                "retries": sum(1 for s in samples if len(s) > 4), "window_s": self.window,
                "last_error": last_error}

    def get_all_status(self):
        return {p: self.get_status(p) for p in self.collector.providers()}
