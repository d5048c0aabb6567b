"""Issue 15, items 5, 8 and 9 against a real redis-server: a Redis that refuses writes (a read-only
replica, out of memory at maxmemory) degrades every part as an outage would, never crashes a call;
a long call keeps its class-budget hold past the hold's lifetime; settles queued during an outage
are not lost when the kernel exits."""
import contextlib
import os
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from fault_helpers import ASK, ledger_path, server, session  # noqa: F401
from glwork.backends import redis_budget
from glwork.cache import HashingEmbedder, SemanticCacheManager
from glwork.errors import BudgetExceededError
from glwork.monitoring.ledger import CostTracker
from glwork.resilience import class_budget as class_budget_module
from glwork.resilience.class_budget import ClassBudget
from glwork.resilience.limiter import RateLimiter
from redis_server import free_port, redis_server, redis_url  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_budgets():
    class_budget_module._class_budgets.clear()
    yield
    class_budget_module._class_budgets.clear()


def admin(url):
    return redis.Redis.from_url(url, socket_timeout=2)


HOW = ["read-only replica", "maxmemory"]


@contextlib.contextmanager
def refusing(url, how):
    """Redis reachable but refusing every write: a replica of a master that is gone, or out of memory."""
    r = admin(url)
    if how == "read-only replica":
        r.replicaof("127.0.0.1", free_port())
    else:
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("maxmemory", "1")
    try:
        yield
    finally:
        if how == "read-only replica":
            r.replicaof("no", "one")
        else:
            r.config_set("maxmemory", "0")
        r.close()


def set_up_shared_state(redis_url):
    """What a class has before the fault: a class limit, a cached answer, some ledger rows."""
    ClassBudget().set_limits(day=10.0)
    cache = SemanticCacheManager(embedder=HashingEmbedder(), guard=False, similarity_threshold=0.9)
    cache.set("What is scope 1?", "Direct emissions.")
    return cache


# ---- item 9: every Redis error degrades, none crashes --------------------------------------------------
@pytest.mark.parametrize("how", HOW)
def test_the_class_budget_fails_closed_with_a_budget_error(redis_url, how):
    cb = ClassBudget()
    cb.set_limits(day=10.0)
    cb.get_status()
    with refusing(redis_url, how):
        with pytest.raises(BudgetExceededError, match="cannot be reached"):      # was ReadOnlyError / OOM
            cb.reserve(0.01, provider="openai", model="gpt-4")


def test_the_budget_refusal_of_a_session_stays_a_budget_error(redis_url, server, ledger_path):
    ClassBudget().set_limits(day=10.0)
    s = session(server, "refused-by-redis")
    with refusing(redis_url, "read-only replica"):
        with pytest.raises(BudgetExceededError):
            s.send_message(ASK)


@pytest.mark.parametrize("how", HOW)
def test_the_limiter_falls_back_to_this_kernels_window(redis_url, how):
    limiter = RateLimiter(100, notify=None, name=f"refused-{how}")
    with refusing(redis_url, how):
        grant = limiter.acquire(10)
        assert grant.key is None                   # admitted locally, not crashed
        grant.settle(5)


@pytest.mark.parametrize("how", HOW)
def test_a_cache_hit_and_a_store_survive_a_refusing_redis(redis_url, how):
    cache = set_up_shared_state(redis_url)
    with refusing(redis_url, how):
        assert cache.get("What is scope 1?") == "Direct emissions."    # the hit's touch was refused
        cache.set("What is scope 2?", "Purchased energy.")              # stored in this kernel
        assert cache.get("What is scope 2?") == "Purchased energy."


@pytest.mark.parametrize("how", HOW)
def test_ledger_rows_wait_while_redis_refuses_and_are_sent_after(redis_url, how):
    tracker = CostTracker()
    with refusing(redis_url, how):
        tracker.add_row(provider="openai", model="gpt-4", cost=0.5, session="refused")   # was: crash
        assert tracker._shared.pending == 1
    tracker._shared.backend.link.ping()
    assert tracker.get_total_cost() == pytest.approx(0.5) and tracker._shared.pending == 0


# ---- item 8: long calls keep their hold -----------------------------------------------------------------
def test_a_call_longer_than_the_hold_lifetime_keeps_its_reservation(redis_url, monkeypatch):
    monkeypatch.setattr(redis_budget, "HOLD_TTL_S", 1)
    cb = ClassBudget()
    cb.set_limits(day=1.0)
    hold = cb.reserve(0.9)                        # a call still running...
    time.sleep(1.6)                               # ...past the hold's lifetime
    with pytest.raises(BudgetExceededError):      # its $0.90 still protects the class (was released)
        cb.reserve(0.5)
    hold.settle(0.2)
    status = cb.get_status()["day"]
    assert status["spent"] == pytest.approx(0.2) and status["reserved"] == 0


def test_a_slowly_read_stream_keeps_its_class_hold(redis_url, monkeypatch, server, ledger_path):
    monkeypatch.setattr(redis_budget, "HOLD_TTL_S", 1)
    ClassBudget().set_limits(day=10.0)
    s = session(server, "slow-reader")
    pieces = []
    for piece in s.stream_message(ASK):
        pieces.append(piece)
        if len(pieces) == 1:
            time.sleep(1.6)
            ClassBudget().reserve(0.0001).release()      # sweeps expired holds
            assert ClassBudget().get_status()["day"]["reserved"] > 0.009   # the stream's own
    status = ClassBudget().get_status()["day"]
    assert status["reserved"] == 0 and status["spent"] == pytest.approx(float(s.get_cost()))


def test_an_unknown_cost_books_the_worst_case_on_the_shared_class_budget(redis_url):
    cb = ClassBudget()
    cb.reserve(0.3).settle(None)                       # was booked as $0
    assert cb.get_status()["day"]["spent"] == pytest.approx(0.3)


# ---- item 5: settles queued during an outage are flushed at exit ------------------------------------------
KERNEL = """
import os, sys, time
from glwork.resilience.class_budget import ClassBudget, EXIT_TIMEOUT_S
import glwork.resilience.budget as b
b.EXIT_TIMEOUT_S = 0.5
cb = ClassBudget()
cb.get_status()                                   # seen: no class limit, so an outage lets calls through
hold = cb.reserve(0.05, model="gpt-4")
open(sys.argv[1], "w").close()                    # tell the test: reserved
while not os.path.exists(sys.argv[2]):            # wait until Redis is killed
    time.sleep(0.05)
hold.settle(0.03)                                 # cannot reach Redis: kept in memory...
print("pending", cb.pending)
"""


def test_settles_queued_during_an_outage_survive_the_kernels_exit(redis_server, redis_url, ledger_path, tmp_path):
    reserved, killed = tmp_path / "reserved", tmp_path / "killed"
    env = {**os.environ, "GLWORK_BACKEND_URL": redis_url, "GLWORK_LEDGER": str(ledger_path)}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KERNEL), str(reserved), str(killed)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not reserved.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    redis_server.kill()
    killed.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0 and "pending 1" in out, err
    assert "saved to" in err                       # ...and saved to a side file at exit
    redis_server.start()                           # (an empty Redis: no persistence in tests)
    from glwork import backends
    backends._backends.clear()
    assert ClassBudget().get_status()["day"]["spent"] == pytest.approx(0.03)   # sent by the next kernel
    assert ClassBudget().get_status()["day"]["spent"] == pytest.approx(0.03)   # ...once
