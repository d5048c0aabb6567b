"""A class on one key: 8 processes x 200 simulated calls through the rate limiter and the semantic
cache, on a shared Redis (loopback) vs the embedded backends (each process on its own).

Each process first makes its calls through the rate limiter (150 requests per 1 s window, the
"org key"; each call "takes" 2 ms), then asks as many lab questions (a Zipf-like draw from 60)
through the semantic cache, storing an answer on a miss. Measured in every process:
- limiter decision latency: one admission decision (a Lua script round trip on Redis), waits excluded;
- cache lookup latency: SemanticCacheManager.lookup, embedding included (HashingEmbedder, 384-d,
  so the store's cost is not hidden behind MiniLM's ~5-10 ms per question);
- achieved rate: the most grants in any 1 s window (all processes together) vs the configured 150;
- class hit rate: lookups answered from the cache.
Embedded, every process has its own window and cache: the class exceeds the key's limit about
8-fold and pays for each question once per process. Redis keeps the class under the limit and pays
once per question. Workers start together at a barrier (spawned processes, like kernels).

Usage: .venv/bin/python benchmarks/bench_classroom.py [calls_per_process]   (needs redis-server)
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PROCESSES = 8
LIMIT, WINDOW = 150, 1.0
QUESTIONS = 60
CALL_S = 0.002


def worker(url, n, seed, go_file):
    os.environ["GLWORK_LEDGER"] = "off"
    import glwork
    glwork.configure(backend_url=url or "local")
    import numpy as np

    from glwork.cache import HashingEmbedder, SemanticCacheManager
    from glwork.resilience.limiter import RateLimiter

    limiter = RateLimiter(LIMIT, window=WINDOW, notify=None, name="org-key")
    cache = SemanticCacheManager(embedder=HashingEmbedder(384), guard=False, similarity_threshold=0.99)
    decisions, lookups, grants, hits = [], [], [], 0
    try_once = limiter._try

    def timed_try(tokens):
        t0 = time.perf_counter()
        out = try_once(tokens)
        decisions.append(time.perf_counter() - t0)
        return out
    limiter._try = timed_try
    rng = np.random.default_rng(seed)
    draws = np.minimum(rng.zipf(1.3, n), QUESTIONS) - 1
    cache.get("warm up the embedder and the store")
    open(os.path.join(os.path.dirname(go_file), f"ready-{os.path.basename(go_file)}-{seed}"), "w").close()
    while not os.path.exists(go_file):
        time.sleep(0.005)
    for _ in range(n):                  # 1. every call through the org key's limiter
        grant = limiter.acquire(100)
        # The admission time by the deciding clock: Redis's (server time) or this machine's monotonic
        # clock (one for all processes on Linux); the time we see it here is later by a scheduler's whim.
        grants.append(grant.time)
        time.sleep(CALL_S)
    for q in draws:                     # 2. the lab questions through the cache
        question = f"lab question number {int(q)} about emissions factors"
        t0 = time.perf_counter()
        hit = cache.lookup(question)
        lookups.append(time.perf_counter() - t0)
        if hit is not None:
            hits += 1
        else:
            cache.store(question, f"answer to question {int(q)}")
    return decisions, lookups, grants, hits


def most_in_window(times, window=WINDOW):
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + window:
            j += 1
        best = max(best, j - i)
    return best


def run(url, n, tmp):
    import concurrent.futures
    import multiprocessing
    go_file = os.path.join(tmp, f"go-{'redis' if url else 'local'}")
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(PROCESSES, mp_context=ctx) as pool:
        futures = [pool.submit(worker, url, n, k, go_file) for k in range(PROCESSES)]
        while len([f for f in os.listdir(tmp) if f.startswith(f"ready-{os.path.basename(go_file)}")]) < PROCESSES:
            time.sleep(0.02)           # spawned workers import numpy, faiss and glwork first
        open(go_file, "w").close()
        results = [f.result() for f in futures]
    decisions = [d for r in results for d in r[0]]
    lookups = [x for r in results for x in r[1]]
    grants = [g for r in results for g in r[2]]
    hits = sum(r[3] for r in results)
    span = max(grants) - min(grants) if grants else 0.0
    return decisions, lookups, grants, hits, span


def pct(values, q):
    import numpy as np
    return 1000 * float(np.percentile(values, q)) if values else float("nan")


def start_redis(tmp):
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: run `make setup` (Debian package redis-server).")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", tmp, "--loglevel", "warning"], stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as c:
                c.sendall(b"PING\r\n")
                if c.recv(8).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("redis-server did not start")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"{PROCESSES} processes x {n} simulated calls; limiter {LIMIT} requests per {WINDOW:g} s window "
          f"(one org key); {QUESTIONS} lab questions, Zipf-distributed; load average before: "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(tmp)
        try:
            for label, target in (("redis (shared)", url), ("embedded (per process)", None)):
                decisions, lookups, grants, hits, span = run(target, n, tmp)
                rows.append((label, decisions, lookups, grants, hits, span))
        finally:
            proc.terminate()
            proc.wait(10)
    total = PROCESSES * n
    print(f"\n{'backend':<24}{'decision ms':>20}{'lookup ms':>20}{'calls':>8}{'hit rate':>10}"
          f"{'max/window':>12}{'configured':>12}{'mean rate/s':>13}")
    print(f"{'':<24}{'median / p99':>20}{'median / p99':>20}")
    for label, decisions, lookups, grants, hits, span in rows:
        rate = len(grants) / span if span else float("nan")
        print(f"{label:<24}{pct(decisions, 50):>10.3f} / {pct(decisions, 99):<7.3f}"
              f"{pct(lookups, 50):>10.3f} / {pct(lookups, 99):<7.3f}{len(grants):>8}"
              f"{100.0 * hits / total:>9.1f}%{most_in_window(grants):>12}{LIMIT:>12}{rate:>13.1f}")
    print("\ncalls = calls admitted by the limiter; max/window = most admitted in any 1 s window, all processes "
          "together, against the configured limit (the guarantee);\nmean rate = calls / time from the first "
          "admission to the last (a sliding window admits a full window at once, then the limit per window: "
          "so slightly above it).")


if __name__ == "__main__":
    main()
