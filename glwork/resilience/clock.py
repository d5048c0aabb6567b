"""Fake clocks for tests, benchmarks and notebooks that simulate minutes of traffic in a second.

    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, sleep=clock.sleep)
    policy = RetryPolicy(sleep=clock.sleep)

FakeClock: `sleep(dt)` returns at once and moves time to (the time this thread last read) + dt,
never back. Simple and deterministic for one thread; with several, time runs ahead (sleeps do not
overlap), which is fine for checking a limit but not for measuring a rate: use VirtualClock then.
"""
import heapq
import threading


class FakeClock:
    """A clock whose `sleep` returns at once and moves time forward: simulated waits, no real ones."""

    def __init__(self, start=0.0):
        self._now = float(start)
        self._lock = threading.Lock()
        self._seen = threading.local()
        self.sleeps = []      # every sleep requested, in order (tests assert on these)

    def __call__(self):
        with self._lock:
            self._seen.t = self._now
            return self._now

    def time(self):
        return self()

    def sleep(self, seconds):
        with self._lock:
            self.sleeps.append(seconds)
            base = getattr(self._seen, "t", self._now)
            self._now = max(self._now, base + max(seconds, 0.0))
            self._seen.t = self._now

    async def async_sleep(self, seconds):
        self.sleep(seconds)

    def advance(self, seconds):
        with self._lock:
            self._now += seconds


class VirtualClock:
    """Discrete-event time for a known set of threads (simulating minutes of concurrent traffic).

    `sleep(dt)` blocks until every participating thread is asleep, then time jumps to the earliest
    wake-up, so threads overlap as they would in real time. Register the threads first with
    `add_threads(n)`; each calls `leave()` when done (else the others wait for it forever).
    """

    def __init__(self, start=0.0):
        self._now = float(start)
        self._cond = threading.Condition()
        self._active = 0
        self._wakes = []          # heap of wake-up times of sleeping threads

    def __call__(self):
        return self._now

    def add_threads(self, n):
        with self._cond:
            self._active += n

    def leave(self):
        with self._cond:
            self._active -= 1
            self._advance()

    def sleep(self, seconds):
        if seconds <= 0:
            return
        with self._cond:
            wake = self._now + seconds
            heapq.heappush(self._wakes, wake)
            self._advance()
            while self._now < wake:
                self._cond.wait()

    def _advance(self):
        if self._wakes and len(self._wakes) >= self._active:
            self._now = max(self._now, self._wakes[0])
            while self._wakes and self._wakes[0] <= self._now:
                heapq.heappop(self._wakes)
            self._cond.notify_all()
