"""One process's connection to the shared Redis: short timeouts, fast failure, reconnection.

Every Redis command of the kit goes through `Link.run(fn)`. When Redis cannot be reached (refused,
timed out, reset, restarted) or refuses a command (a read-only replica, out of memory at
`maxmemory`, still loading, any other error reply) `run` raises `BackendUnavailable` at once and
each part applies its documented fallback (limiter and cache: local; budget: refuse; ledger: keep
rows and retry).
For RETRY_AFTER_S after a failure no new attempt is made (a dead server costs nothing per call);
after that the next call tries again, so the kit reconnects by itself when Redis is back.
A warning is logged once per outage and a notice when the connection is back. The URL in them
is redacted: a password never reaches a log.
"""
import os
import threading
import time

from ..security import get_logger, redact

log = get_logger(__name__)
RETRY_AFTER_S = 1.0


class BackendUnavailable(ConnectionError):
    """The shared backend could not be reached (or failed); the caller falls back."""


class Link:
    def __init__(self, config):
        self.config = config
        self._client, self._pid = None, None
        self._lock = threading.Lock()
        self.down_since = None      # monotonic time of the first failure of this outage
        self._next_try = 0.0
        self.outages = 0
        self.last_error = None

    def __repr__(self):
        return f"Link({self.config.label}, {'down' if self.down_since else 'up'})"

    @property
    def available(self):
        """False while an outage is known (no network round trip)."""
        return self.down_since is None

    def client(self):
        import redis  # only when a Redis backend is configured
        with self._lock:
            if self._client is None or self._pid != os.getpid():   # connections never cross a fork
                self._client = redis.Redis.from_url(
                    self.config.url, socket_connect_timeout=self.config.connect_timeout,
                    socket_timeout=self.config.socket_timeout, retry_on_timeout=False,
                    health_check_interval=30, client_name=f"glwork-{os.getpid()}")
                self._pid = os.getpid()
            return self._client

    def run(self, fn, what="call"):
        """`fn(client)`'s result, or BackendUnavailable (quickly) when Redis is not there."""
        import redis
        if self.down_since is not None and time.monotonic() < self._next_try:
            raise BackendUnavailable(f"{self.config.label} unreachable ({self.last_error})")
        try:
            result = fn(self.client())
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._failed(exc, what)
            raise BackendUnavailable(f"{self.config.label} unreachable ({self.last_error})") from None
        except redis.RedisError as exc:
            # Reachable but refusing: read-only replica, out of memory (maxmemory), loading, a script
            # error... Each part degrades exactly as for an outage; none crashes a call.
            self._failed(exc, what)
            raise BackendUnavailable(f"{self.config.label} refused {what} ({self.last_error})") from None
        if self.down_since is not None:
            self._recovered()
        return result

    def _failed(self, exc, what):
        self.last_error = redact(f"{type(exc).__name__}: {exc}").replace(self.config.url or "\0", self.config.redacted)
        self._next_try = time.monotonic() + RETRY_AFTER_S
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()   # drop broken pooled sockets; the next try opens new ones
                except Exception:
                    pass
                self._client = None
            first = self.down_since is None
            if first:
                self.down_since = time.monotonic()
                self.outages += 1
        if first:
            log.warning("Shared backend %s is unreachable or refusing commands (%s, during %s). Until it is "
                        "back: rate limits and the semantic cache work per kernel, calls needing the class budget "
                        "are refused, ledger rows wait in memory. Retrying every %.0f s.", self.config.label,
                        self.last_error, what, RETRY_AFTER_S)

    def _recovered(self):
        down = time.monotonic() - self.down_since
        self.down_since = None
        log.warning("Shared backend %s is reachable again after %.1f s; shared limits, budget, cache and "
                    "ledger are back.", self.config.label, down)

    def ping(self):
        """True if Redis answers now (a fresh attempt even during an outage)."""
        self._next_try = 0.0
        try:
            return bool(self.run(lambda r: r.ping(), "ping"))
        except BackendUnavailable:
            return False

    def script(self, source):
        """A callable Lua script: script(keys=[...], args=[...]), reloaded after a Redis restart."""
        return _Script(self, source)

    def close(self):
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class _Script:
    def __init__(self, link, source):
        import hashlib
        self.link, self.source = link, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys=(), args=(), client=None):
        import redis

        def go(r):
            try:
                return r.evalsha(self.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                return r.eval(self.source, len(keys), *keys, *args)   # loads it for next time
        return self.link.run(go, "a script") if client is None else go(client)
