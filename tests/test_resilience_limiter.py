"""RateLimiter: sliding window, shared by threads, asyncio, corrections, visible waits. Fake clock only."""
import asyncio
import random
import threading

import pytest

from glwork import errors
from glwork.llm import ChatSession
from glwork.resilience.clock import FakeClock, VirtualClock
from glwork.resilience.limiter import RateLimiter
from glwork.resilience.retry import RetryPolicy
from wire_server import cassette, openai_rate_limit

KEY = "sk-test-limiter-0123456789abcdef"


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


def max_in_any_window(grants, window=60.0):
    """(most requests, most tokens) in any window [t, t + 60) that starts at a grant."""
    grants = sorted((g.time, g.tokens) for g in grants)
    worst_n = worst_tok = 0
    j = 0
    for i, (t, _) in enumerate(grants):
        j = max(j, i)
        while j < len(grants) and grants[j][0] < t + window:
            j += 1
        worst_n = max(worst_n, j - i)
        worst_tok = max(worst_tok, sum(tok for _, tok in grants[i:j]))
    return worst_n, worst_tok


def test_requests_per_minute_sliding_window_single_thread():
    clock = FakeClock()
    lim = RateLimiter(max_requests_per_minute=3, clock=clock, sleep=clock.sleep, notify=None)
    times = []
    for _ in range(7):
        lim.acquire()
        times.append(clock())
        clock.advance(10)   # each call takes 10 s
    # 3 at once-ish (0, 10, 20), then each waits for the grant 60 s before it to leave the window
    assert times == [0, 10, 20, 60, 70, 80, 120]


@pytest.mark.parametrize("clock_kind", ["virtual", "fake"])
def test_eight_threads_never_exceed_either_limit_in_any_window(clock_kind):
    # VirtualClock: the threads' calls overlap in simulated time as they would in real time;
    # FakeClock: time races ahead. The limits must hold either way.
    clock = VirtualClock() if clock_kind == "virtual" else FakeClock()
    rpm, tpm = 20, 5_000
    lim = RateLimiter(max_requests_per_minute=rpm, max_tokens_per_minute=tpm, clock=clock, sleep=clock.sleep,
                      notify=None)
    plans = []
    for k in range(8):
        rng = random.Random(k)
        plans.append([(rng.randint(50, 900), rng.uniform(0.1, 3.0), rng.uniform(0.3, 1.0)) for _ in range(25)])

    def worker(plan):
        try:
            for reserve, duration, used in plan:
                grant = lim.acquire(reserve)
                clock.sleep(duration)                        # the call takes a while
                grant.settle(int(reserve * used))            # real usage is lower than reserved
        finally:
            if clock_kind == "virtual":
                clock.leave()

    if clock_kind == "virtual":
        clock.add_threads(8)
    threads = [threading.Thread(target=worker, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    grants = list(lim.history)
    assert len(grants) == 200
    n, tok = max_in_any_window(grants)
    assert n <= rpm and tok <= tpm
    assert lim.get_stats()["waits"] > 0


def test_settle_frees_tokens_for_the_next_request():
    clock = FakeClock()
    lim = RateLimiter(max_requests_per_minute=None, max_tokens_per_minute=1000, clock=clock, sleep=clock.sleep,
                      notify=None)
    g = lim.acquire(900)
    g.settle(100)                      # it used far less than it reserved
    lim.acquire(800)
    assert clock() == 0                # no wait
    lim.acquire(500)                   # 900 in the window now: waits for the first grant to expire
    assert clock() == 60


def test_a_request_larger_than_the_token_limit_fails_at_once():
    lim = RateLimiter(max_tokens_per_minute=1000, notify=None)
    with pytest.raises(errors.ConfigurationError, match="never fit"):
        lim.acquire(1001)


def test_long_waits_are_announced_at_most_once_a_minute():
    clock = FakeClock()
    said = []
    lim = RateLimiter(max_requests_per_minute=2, clock=clock, sleep=clock.sleep, notify=said.append)
    for _ in range(5):          # waits at t=0 and t=60, 60 s each
        lim.acquire()
    assert len(said) == 2 and "2 requests/min" in said[0] and "waiting 60.0 s" in said[0]
    short = RateLimiter(max_requests_per_minute=600, clock=clock, sleep=clock.sleep, notify=said.append)
    for _ in range(700):        # waits of 0.1 s are not worth a message
        short.acquire()
        clock.advance(0.1)
    assert len(said) == 2 and short.get_stats()["waits"] > 0


def test_acquire_async_awaits_without_blocking():
    clock = FakeClock()
    lim = RateLimiter(max_requests_per_minute=2, clock=clock, sleep=clock.sleep, notify=None)

    async def main():
        return [(await lim.acquire_async(sleep=clock.async_sleep)).time for _ in range(5)]

    assert asyncio.run(main()) == [0, 0, 60, 60, 120]


def test_session_uses_the_limiter_for_every_attempt(wire_server):
    clock = FakeClock()
    lim = RateLimiter(max_requests_per_minute=60, max_tokens_per_minute=90000, clock=clock, sleep=clock.sleep,
                      notify=None)
    wire_server.queue(openai_rate_limit("1"), *cassette("openai/chat_nonstream_basic.yaml"))
    s = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                    rate_limiter=lim, max_tokens=50, retry_policy=RetryPolicy(sleep=clock.sleep, jitter=0))
    s.send_message("Hello there")
    first, second = lim.history
    assert first.tokens == 0                     # refused with HTTP 429: no tokens were used
    assert second.tokens == 25                   # corrected to the reply's real usage
    assert s.estimate_tokens() + 50 > 25


def test_workshop_loop_shares_one_limiter(wire_server):
    clock = FakeClock()
    limiter = RateLimiter(max_requests_per_minute=60, max_tokens_per_minute=90000, clock=clock, sleep=clock.sleep,
                          notify=None)
    a = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                    rate_limiter=limiter)
    b = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                    rate_limiter=limiter)
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml") * 70)
    for i in range(70):
        (a if i % 2 else b).send_message(f"Query {i}")
        a.reset(), b.reset()
    assert clock() == 60.0 and max_in_any_window(limiter.history)[0] == 60
