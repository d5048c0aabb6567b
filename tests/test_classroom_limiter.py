"""RateLimiter shared through Redis: one window for every kernel, the same waiting behaviour,
and a per-kernel fallback (never a hang) while Redis is away. Against a real redis-server;
windows of 1-2 s instead of 60 s keep the tests fast (the rule is the same)."""
import asyncio
import logging
import random
import time

import pytest

from glwork.errors import ConfigurationError
from glwork.resilience.clock import FakeClock
from glwork.resilience.limiter import RateLimiter
from redis_server import StartLine, redis_server, redis_url, run_processes  # noqa: F401


def most_in_any_window(grants, window):
    """(most requests, most tokens) in any window [t, t + window) starting at a grant."""
    grants = sorted(grants)
    worst_n = worst_tok = 0
    for i, (t, _) in enumerate(grants):
        inside = [tok for s, tok in grants[i:] if s < t + window]
        worst_n, worst_tok = max(worst_n, len(inside)), max(worst_tok, sum(inside))
    return worst_n, worst_tok


def limiter_worker(n, seed, line, rpm, tpm, window):
    """One 'kernel': n requests of random size through the shared limiter; [(grant time, tokens)]."""
    lim = RateLimiter(max_requests_per_minute=rpm, max_tokens_per_minute=tpm, window=window, notify=None,
                      name="class-limit")
    rng = random.Random(seed)
    line.arrive()
    out = []
    for _ in range(n):
        tokens = rng.randint(50, 300)
        grant = lim.acquire(tokens)
        assert grant.key is not None, "admitted by the shared window, not a local fallback"
        out.append((grant.time, tokens))
    return out


def test_eight_processes_never_exceed_either_limit_in_any_window(redis_url, tmp_path):
    rpm, tpm, window, per_process = 8, 1500, 1.0, 4
    line = StartLine(tmp_path / "start")     # spawned workers import glwork first, then start together
    results = run_processes(limiter_worker, [(per_process, k, line, rpm, tpm, window) for k in range(8)],
                            start_line=line)
    grants = [g for r in results for g in r]
    assert len(grants) == 8 * per_process
    most_n, most_tok = most_in_any_window(grants, window)
    assert most_n <= rpm and most_tok <= tpm
    # ...and the limit was what held them back: 32 requests of ~175 tokens need several windows.
    span = max(t for t, _ in grants) - min(t for t, _ in grants)
    total_tokens = sum(tok for _, tok in grants)
    assert span >= max(len(grants) / rpm, total_tokens / tpm) - 1.5 * window


def test_two_limiters_of_one_name_share_a_window_other_names_do_not(redis_url):
    a = RateLimiter(3, window=2.0, notify=None, name="openai-org")
    b = RateLimiter(3, window=2.0, notify=None, name="openai-org")
    other = RateLimiter(3, window=2.0, notify=None, name="anthropic-org")
    for _ in range(3):
        a.acquire()
    t0 = time.monotonic()
    grant = b.acquire()            # the window is full from a's grants: b waits for the oldest
    waited = time.monotonic() - t0
    assert waited > 1.5 and grant.key is not None
    t0 = time.monotonic()
    other.acquire()
    assert time.monotonic() - t0 < 1.0              # another name: its own window, no wait
    stats = b.get_stats()
    assert stats["shared"].startswith("redis://127.0.0.1") and stats["waits"] >= 1
    assert stats["requests_in_window"] >= 1 and stats["max_requests_per_minute"] == 3


def test_tokens_window_and_settle_are_class_wide(redis_url):
    a = RateLimiter(None, 1000, window=2.0, notify=None, name="tpm")
    b = RateLimiter(None, 1000, window=2.0, notify=None, name="tpm")
    g = a.acquire(900)
    assert b.get_stats()["tokens_in_window"] == 900
    g.settle(200)                 # the call used fewer tokens than reserved: the room comes back
    assert b.get_stats()["tokens_in_window"] == 200
    t0 = time.monotonic()
    b.acquire(700)
    assert time.monotonic() - t0 < 0.5
    with pytest.raises(ConfigurationError, match="can never fit"):
        b.acquire(1001)


def test_long_waits_are_announced_as_before(redis_url):
    said = []
    lim = RateLimiter(1, window=1.0, notify=said.append, notify_after=0.2, name="announce")
    lim.acquire()
    lim.acquire()
    assert said and "1 requests/min reached" in said[0]


def test_asyncio_callers_wait_without_blocking(redis_url):
    lim = RateLimiter(2, window=1.0, notify=None, name="async")

    async def main():
        t0 = time.monotonic()
        grants = await asyncio.gather(*(lim.acquire_async() for _ in range(3)))
        return grants, time.monotonic() - t0
    grants, took = asyncio.run(main())
    assert all(g.key for g in grants) and took > 0.7


def test_own_clock_or_backend_local_keeps_the_limiter_in_process(redis_url):
    clock = FakeClock()
    virtual = RateLimiter(2, clock=clock, sleep=clock.sleep, notify=None)
    assert virtual._shared is None and "shared" not in virtual.get_stats()
    assert RateLimiter(2, backend="local")._shared is None
    assert RateLimiter(2, backend=redis_url, notify=None)._shared is not None


def test_redis_killed_falls_back_to_this_kernels_window_then_back(redis_server, redis_url, caplog):
    lim = RateLimiter(5, window=2.0, notify=None, name="failover")
    assert lim.acquire().key is not None
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="glwork"):
        t0 = time.monotonic()
        grants = [lim.acquire() for _ in range(5)]     # local window: 5 per 2 s still holds
        assert time.monotonic() - t0 < 1.5               # no hang on the dead server
        assert all(g.key is None for g in grants)
        t0 = time.monotonic()
        lim.acquire()                                  # the 6th waits for the local window
        assert time.monotonic() - t0 > 0.5
        assert "unreachable" in lim.get_stats()["shared"]
    assert "unreachable" in caplog.text and "rate limits" in caplog.text
    redis_server.start()
    time.sleep(1.05)
    assert lim.acquire().key is not None               # shared again, by itself
    assert lim.get_stats()["shared"].startswith("redis://")
