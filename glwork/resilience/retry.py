"""Which errors are retried and how long to wait between attempts.

Retried: rate limits (429), server errors (500/502/503 and others >= 500), Anthropic's 529,
timeouts, connection errors and streams cut before their first chunk: every `LLMError` whose
`retryable` is True. Never retried: 400, 401/403, 404, context length, invalid JSON, budget.

Waits: the server's `retry-after-ms` / `Retry-After` when it sends one (exactly); otherwise
`retry_delay` doubled per attempt (1 s, 2 s, 4 s, 8 s ...) when `exponential_backoff`, plus up to
25% random jitter, capped at MAX_DELAY (30 s). A server asking for more than MAX_RETRY_AFTER
(60 s) is not waited for: the error is raised at once, carrying `retry_after`, so the caller
decides. The SDKs' own retries are off (max_retries=0 in the adapters): this policy is the only one.
"""
import random
import time

from ..errors import ConfigurationError, LLMError

DEFAULT_MAX_RETRIES = 2      # as the SDKs' default; 3 attempts in all
DEFAULT_RETRY_DELAY = 1.0
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 60.0
JITTER = 0.25                # so clients that failed together do not all retry together


def is_retryable(exc):
    return isinstance(exc, LLMError) and exc.retryable


class RetryPolicy:
    """Retry settings of a session. `sleep` and `rng` are injectable so tests run on a fake clock."""

    def __init__(self, max_retries=DEFAULT_MAX_RETRIES, retry_delay=DEFAULT_RETRY_DELAY,
                 exponential_backoff=True, max_delay=MAX_DELAY, max_retry_after=MAX_RETRY_AFTER,
                 jitter=JITTER, sleep=None, rng=None):
        if not (isinstance(max_retries, int) and not isinstance(max_retries, bool) and max_retries >= 0):
            raise ConfigurationError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
        for name, value in (("retry_delay", retry_delay), ("max_delay", max_delay),
                            ("max_retry_after", max_retry_after), ("jitter", jitter)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0):
                raise ConfigurationError(f"{name} must be a number >= 0, got {value!r}.")
        self.max_retries = max_retries
        self.retry_delay = float(retry_delay)
        self.exponential_backoff = bool(exponential_backoff)
        self.max_delay = float(max_delay)
        self.max_retry_after = float(max_retry_after)
        self.jitter = float(jitter)
        self.sleep = sleep or time.sleep
        self.rng = rng or random.Random()
        self._retrying = None

    def __repr__(self):
        return (f"RetryPolicy(max_retries={self.max_retries}, retry_delay={self.retry_delay}, "
                f"exponential_backoff={self.exponential_backoff}, max_delay={self.max_delay})")

    def backoff(self, attempt):
        """Wait after failed attempt number `attempt` (1-based) when the server named none."""
        base = self.retry_delay * (2 ** (attempt - 1) if self.exponential_backoff else 1)
        return min(self.max_delay, base * (1 + self.jitter * self.rng.random()))

    def wait_for(self, exc, attempt):
        ra = getattr(exc, "retry_after", None)
        try:
            ra = float(ra)
        except (TypeError, ValueError):
            return self.backoff(attempt)
        # A negative or NaN Retry-After must not reach sleep() (ValueError inside tenacity).
        return max(ra, 0.0) if ra == ra else self.backoff(attempt)

    def should_retry(self, exc):
        if not is_retryable(exc):
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_retry_after

    def call(self, fn, on_retry=None):
        """Run `fn()` with retries; `on_retry(exc, attempt, wait)` runs before each wait.

        The last error is raised unchanged (a RateLimitError without Retry-After gets the next
        backoff as `retry_after`, so `time.sleep(e.retry_after)` works in the caller).
        """
        attempt = _Attempt(fn, on_retry)
        try:
            try:
                return attempt()      # the usual case: one attempt, none of tenacity's bookkeeping
            except Exception as exc:
                if self.max_retries == 0 or not self.should_retry(exc):
                    raise
                attempt.pending = exc
            return (self._retrying or self._build())(attempt)   # replays the failure, then retries
        except LLMError as exc:
            if exc.error_code == "rate_limit" and exc.retry_after is None:
                exc.retry_after = round(self.backoff(attempt.number), 3)
            raise

    def _build(self):
        # Built once per policy (tenacity keeps per-call state thread-local); reads the policy's
        # attributes at each use, so changing them later takes effect.
        import tenacity  # first use only: keeps `import glwork.session` light

        def before_sleep(state):
            if state.fn.on_retry:
                state.fn.on_retry(state.outcome.exception(), state.attempt_number, state.next_action.sleep)

        self._retrying = tenacity.Retrying(
            sleep=lambda seconds: self.sleep(seconds),
            stop=lambda s: s.attempt_number > self.max_retries,
            wait=lambda s: self.wait_for(s.outcome.exception(), s.attempt_number),
            retry=tenacity.retry_if_exception(self.should_retry), before_sleep=before_sleep, reraise=True)
        return self._retrying


class _Attempt:
    """The function tenacity retries, carrying this call's callback and attempt count.
    `pending`: the first attempt's failure, raised again as tenacity's attempt 1."""

    __slots__ = ("fn", "on_retry", "number", "pending")

    def __init__(self, fn, on_retry):
        self.fn, self.on_retry, self.number, self.pending = fn, on_retry, 0, None

    def __call__(self):
        if self.pending is not None:
            exc, self.pending = self.pending, None
            raise exc
        self.number += 1
        return self.fn()
