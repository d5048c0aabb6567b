"""Redis killed in the middle of a class: 8 kernels keep working through the limiter, the cache,
the budget and the ledger; each part takes its documented fallback, nothing crashes or hangs, and
everything is shared again once Redis is back. Against a real redis-server, killed with SIGKILL."""
import threading
import time

from glwork.resilience.budget import ClassBudget
from redis_server import StartLine, redis_server, redis_url, run_processes, wait_until  # noqa: F401

KILL_AT, RESTART_AT, END_AT = 1.5, 3.5, 6.0   # seconds after the start


def kernel(k, line):
    """One attendee's kernel doing a little of everything in a loop; what it saw."""
    import os
    os.environ["GLWORK_ATTENDEE"] = f"student-{k}"
    from glwork.cache import HashingEmbedder, SemanticCacheManager
    from glwork.errors import BudgetExceededError
    from glwork.monitoring.ledger import CostTracker
    from glwork.resilience.budget import ClassBudget
    from glwork.resilience.limiter import RateLimiter

    limiter = RateLimiter(10_000, window=1.0, notify=None, name="outage")
    cache = SemanticCacheManager(embedder=HashingEmbedder(), guard=False, similarity_threshold=0.9)
    budget = ClassBudget()
    tracker = CostTracker()
    seen = {"shared_grants": 0, "local_grants": 0, "refused_unreachable": 0, "refused_other": 0,
            "rows": [], "hits": 0, "slowest": 0.0, "iterations": 0}
    start_at = line.arrive()
    i = 0
    while time.time() < start_at + END_AT:
        t0 = time.monotonic()
        grant = limiter.acquire(10)
        seen["shared_grants" if grant.key else "local_grants"] += 1
        question = f"question {i % 5} from the lab sheet"
        if cache.get(question) is not None:
            seen["hits"] += 1
        else:
            cache.set(question, f"answer {i % 5}")
        try:
            budget.reserve(0.001, model="gpt-4").settle(0.0005)
        except BudgetExceededError as exc:
            seen["refused_unreachable" if "cannot be reached" in str(exc) else "refused_other"] += 1
        ts = time.time()
        tracker.add_row(provider="openai", model="gpt-4", cost=0.0005, session=f"k{k}", ts=ts)
        seen["rows"].append(ts)
        seen["slowest"] = max(seen["slowest"], time.monotonic() - t0)
        seen["iterations"] += 1
        i += 1
        time.sleep(0.03)
    tracker._shared.push()
    seen["pending"] = tracker._shared.pending
    return seen


def test_redis_killed_mid_class_every_part_falls_back_and_recovers(redis_server, redis_url, tmp_path):
    ClassBudget().set_limits(day=1000.0)
    line = StartLine(tmp_path / "start")
    times = {}

    def chaos():
        start_at = line.wait_go()
        wait_until(start_at + KILL_AT)
        redis_server.kill()
        times["killed"] = time.time()
        wait_until(start_at + RESTART_AT)
        redis_server.start()
        times["restarted"] = time.time()
    thread = threading.Thread(target=chaos)
    thread.start()
    try:
        results = run_processes(kernel, [(k, line) for k in range(8)], start_line=line)
    finally:
        thread.join()
    for seen in results:
        assert seen["iterations"] > 5
        assert seen["slowest"] < 3.0                       # no call ever hung on the dead server
        assert seen["local_grants"] > 0 and seen["shared_grants"] > 0     # limiter: local, then shared again
        assert seen["refused_unreachable"] > 0 and seen["refused_other"] == 0   # budget: fail closed
        assert seen["pending"] == 0                        # ledger: nothing left waiting
    # Every row written from the kill on reached Redis (rows before it died with the server,
    # which keeps no data on disk in tests).
    from glwork.monitoring.ledger import CostTracker
    after_kill = sum(1 for seen in results for ts in seen["rows"] if ts >= times["killed"])
    tracker = CostTracker()
    stored = tracker.to_dataframe()
    assert after_kill > 0 and (stored["ts"] >= times["killed"]).sum() == after_kill
    # The cache is shared again: the kernels' answers stored after the restart are in Redis.
    assert tracker._shared.backend.link.run(lambda r: r.zcard("glwork:cache:ids")) > 0
