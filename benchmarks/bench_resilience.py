"""Resilience figures: RateLimiter accuracy on simulated time, and what retries cost when unused.

1. Limiter accuracy: many threads hammer one RateLimiter for 2 minutes of SIMULATED time (VirtualClock:
   runs in about a second). Prints achieved vs configured requests/min and tokens/min, and the most
   seen in any 60 s window (must never pass the limit).
2. Retry overhead: seconds per successful call with retries disabled (max_retries=0) vs enabled
   but unused (max_retries=3), interleaved blocks; once against a local HTTP server (the full path)
   and once with an in-process adapter (the session's own cost, no I/O).

Usage: .venv/bin/python benchmarks/bench_resilience.py [calls]
"""
import os
import random
import statistics
import sys
import threading
import time

os.environ.setdefault("GLWORK_LEDGER", "off")   # measure the call path, not the disk

import loopback  # noqa: E402  (benchmarks/loopback.py, beside this script)

from glwork.resilience.clock import VirtualClock  # noqa: E402
from glwork.resilience.limiter import RateLimiter  # noqa: E402
from glwork.resilience.retry import RetryPolicy  # noqa: E402
from glwork.response import Completion, Usage  # noqa: E402
from glwork.session import ChatSession  # noqa: E402

SIM_SECONDS = 120.0


def worst_windows(grants, window=60.0):
    grants = sorted((g.time, g.tokens) for g in grants)
    most_n = most_tok = 0
    j = 0
    for i, (t, _) in enumerate(grants):
        j = max(j, i)
        while j < len(grants) and grants[j][0] < t + window:
            j += 1
        most_n = max(most_n, j - i)
        most_tok = max(most_tok, sum(tok for _, tok in grants[i:j]))
    return most_n, most_tok


def limiter_accuracy(rpm, tpm, threads=16, seed=1):
    clock = VirtualClock()
    lim = RateLimiter(max_requests_per_minute=rpm, max_tokens_per_minute=tpm, clock=clock, sleep=clock.sleep,
                      notify=None, history=1_000_000)
    settled = []

    def worker(k):
        rng = random.Random(seed * 100 + k)
        try:
            while True:
                reserve = rng.randint(100, 900)
                g = lim.acquire(reserve)
                if g.time >= SIM_SECONDS:
                    g.settle(0)
                    return
                clock.sleep(rng.uniform(0.2, 2.0))                  # the call takes a while
                used = int(reserve * rng.uniform(0.6, 1.0))         # real usage below the reservation
                g.settle(used)
                settled.append(used)
        finally:
            clock.leave()

    clock.add_threads(threads)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    grants = [g for g in lim.history if g.time < SIM_SECONDS]
    n, tok = worst_windows(grants)
    minutes = SIM_SECONDS / 60
    print(f"  limits {rpm} req/min, {tpm} tok/min, {threads} threads, {SIM_SECONDS:.0f} s simulated "
          f"({wall:.2f} s wall):")
    print(f"    achieved {len(grants) / minutes:8.1f} req/min ({100 * len(grants) / minutes / rpm:5.1f}% of limit), "
          f"{sum(g.tokens for g in grants) / minutes:9.0f} tok/min used "
          f"({100 * sum(g.tokens for g in grants) / minutes / tpm:5.1f}%)")
    print(f"    most in any 60 s window: {n} requests (limit {rpm}), {tok} tokens (limit {tpm})"
          f"  -> {'OK' if n <= rpm and tok <= tpm else 'OVER LIMIT'}")
    return n <= rpm and tok <= tpm




class InstantAdapter:
    def create(self, req):
        return Completion("Atlantic Ocean.", [], Usage(22, 3), "gpt-4o-mini-2024-07-18", "stop")

    def close(self):
        pass


def interleaved(fns, n, block=50):
    times = {name: [] for name in fns}
    names = list(fns)
    for i in range(0, n, block):
        order = names if (i // block) % 2 == 0 else names[::-1]
        for name in order:
            t = time.perf_counter()
            for _ in range(block):
                fns[name]()
            times[name].append((time.perf_counter() - t) / block * 1e6)
    return {k: statistics.median(v) for k, v in times.items()}


def retry_overhead(n):
    server, base = loopback.start()

    def session(retries, instant=False):
        s = ChatSession(provider="openai", model="gpt-4o-mini", base_url=base, api_key="bench-key-0000",
                        retry_policy=RetryPolicy(max_retries=retries))
        if instant:
            s._runner.routes[0].adapter = InstantAdapter()

        def call():
            s.send_message("Which ocean?")
            s.reset()
        return call

    for label, instant, count in (("local HTTP server", False, n), ("in-process adapter", True, n * 10)):
        fns = {"max_retries=0": session(0, instant), "max_retries=3": session(3, instant)}
        for f in fns.values():
            for _ in range(50):
                f()
        med = interleaved(fns, count)
        off, on = med["max_retries=0"], med["max_retries=3"]
        print(f"  {label:20s} {count:6d} calls each: retries off {off:8.1f} us/call, "
              f"on (unused) {on:8.1f} us/call, difference {on - off:+6.1f} us ({100 * (on / off - 1):+.1f}%)")
    server.shutdown()


def main(n=1000):
    print("RateLimiter accuracy (sliding window, VirtualClock):")
    ok = limiter_accuracy(rpm=600, tpm=1_000_000)            # request-bound
    ok &= limiter_accuracy(rpm=10_000, tpm=200_000)          # token-bound
    ok &= limiter_accuracy(rpm=60, tpm=90_000, threads=8)    # the workshop's limits
    print("Retry overhead (median of interleaved blocks):")
    retry_overhead(n)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000) else 1)
