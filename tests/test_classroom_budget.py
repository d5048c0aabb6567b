"""The class budget: one spend counter per day and month for every kernel, reserve-before-send,
atomic across processes, fail closed while Redis is away. Against a real redis-server."""
import json
import logging
import random
import time

import pytest

from glwork import config
from glwork.backends import redis_budget
from glwork.errors import BudgetExceededError, ConfigurationError
from glwork.llm import ChatSession
from glwork.resilience import class_budget as class_budget_module
from glwork.resilience.budget import Budget, session_budget
from glwork.resilience.class_budget import ClassBudget
from redis_server import StartLine, redis_server, redis_url, run_processes  # noqa: F401
from wire_server import Canned

KEY = "sk-test-classbudget-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_local_class_budget():
    yield
    config.configure(backend_url=None)
    ClassBudget(backend="local").set_limits(day=None, month=None)
    class_budget_module._local["spent"].clear()
    class_budget_module._local["reserved"].clear()
    class_budget_module._class_budgets.clear()


def reply(prompt_tokens=20, completion_tokens=10):
    body = {"id": "chatcmpl-class", "object": "chat.completion", "created": 1, "model": "gpt-4",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
    return Canned(200, {"content-type": "application/json"}, json.dumps(body).encode())


# ---- one process -----------------------------------------------------------------------------------
def test_limits_status_and_refusal_before_sending(redis_url):
    cb = ClassBudget()
    assert cb.shared and cb.get_limits() == {"day": None, "month": None}
    assert cb.set_limits(day=1.00, month=20.0) == {"day": 1.0, "month": 20.0}
    holds = [cb.reserve(0.30, model="gpt-4") for _ in range(3)]
    with pytest.raises(BudgetExceededError) as err:
        cb.reserve(0.30, provider="openai", model="gpt-4")
    assert "class's day budget $1.00" in str(err.value) and "not sent" in str(err.value)
    assert err.value.error_code == "budget_exceeded"
    status = ClassBudget().get_status()          # another handle (kernel) sees the same counters
    assert status["day"]["reserved"] == pytest.approx(0.90) and status["day"]["remaining"] == pytest.approx(0.10)
    for h in holds:
        h.settle(0.10)
    holds[0].settle(5.0)                          # settling twice books nothing more
    status = cb.get_status()
    assert status["day"]["spent"] == pytest.approx(0.30) and status["day"]["reserved"] == 0
    assert status["month"]["spent"] == pytest.approx(0.30) and status["month"]["limit"] == 20.0
    cb.set_limits(day=None)
    assert cb.get_limits() == {"day": None, "month": 20.0}


@pytest.mark.parametrize("bad", [0, -1, "10", True, float("inf")])
def test_bad_limits_are_refused_with_what_to_write(bad, redis_url):
    with pytest.raises(ConfigurationError, match="positive number of USD"):
        ClassBudget().set_limits(day=bad)
    with pytest.raises(ConfigurationError, match="Say which limit"):
        ClassBudget().set_limits()


def test_many_small_costs_add_up_exactly(redis_url):
    cb = ClassBudget()
    for _ in range(1000):
        cb.reserve(0.0001).settle(0.000011)       # 1,000 tiny calls: integer nano-USD, no float drift
    assert cb.get_status()["day"]["spent"] == pytest.approx(0.011, abs=1e-12)


def test_a_dead_kernels_reservation_expires(redis_url, monkeypatch):
    monkeypatch.setattr(redis_budget, "HOLD_TTL_S", 1)
    cb = ClassBudget()
    cb.set_limits(day=1.0)
    hold = cb.reserve(0.9)                         # never settled: the kernel "died"...
    cb._keeper.discard(hold.hold_id)               # ...so nobody renews its hold
    with pytest.raises(BudgetExceededError):
        cb.reserve(0.5)
    time.sleep(1.1)
    cb.reserve(0.5).settle(0.5)                    # the orphaned hold was released
    assert cb.get_status()["day"]["spent"] == pytest.approx(0.5)


def test_session_budget_attaches_the_class_budget_for_calls_that_spend_money(redis_url):
    from glwork.resilience.fallback import Route
    from glwork.resilience.retry import RetryPolicy
    from glwork.resilience.runner import Runner
    b = session_budget(None, "live")
    assert isinstance(b, Budget) and b.class_budget.shared and b.limit == float("inf")
    # Attached whatever the primary's mode (a live fallback behind a local primary spends money);
    # each route decides at send time: only routes that spend money reserve on the class budget.
    assert session_budget(None, "local").class_budget is not None
    runner = Runner([Route("openai", "gpt-4", mode="local")], RetryPolicy(), budget=b)
    assert [runner._reserves(Route("openai", "gpt-4", mode=m)) for m in ("live", "record", "replay", "local")] \
        == [True, True, False, False]
    runner.budget = session_budget(5.0, "replay")   # a cost_limit of its own: every route, priced as if
    assert runner._reserves(Route("openai", "gpt-4", mode="replay"))


def test_a_session_reserves_against_the_class_budget(redis_url, wire_server):
    ClassBudget().set_limits(day=0.01)
    s = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                    cost_limit=5.0, max_tokens=100)
    s._runner.budget = session_budget(5.0, s.mode)      # what ChatSession(cost_limit=...) builds
    wire_server.queue(reply(20, 10))
    s.send_message("Hello")
    spent = ClassBudget().get_status()["day"]["spent"]
    assert spent == pytest.approx((20 * 30 + 10 * 60) / 1e6)          # gpt-4 $30/$60 per 1M
    ClassBudget().set_limits(day=spent + 0.001)                        # less than one worst case left
    with pytest.raises(BudgetExceededError, match="class's day budget"):
        s.send_message("Hello again")
    assert len(wire_server.requests) == 1                               # refused before it was sent
    assert s.get_budget()["reserved"] == 0                              # the session's hold was undone


def test_embedded_class_budget_is_this_kernels_own(monkeypatch):
    monkeypatch.delenv("GLWORK_BACKEND_URL", raising=False)
    assert session_budget(None, "live") is None                        # nothing set: as before
    cb = ClassBudget()
    assert not cb.shared and cb.label.startswith("local")
    cb.set_limits(day=0.5)
    b = session_budget(None, "live")
    hold = b.reserve(0.4, "openai", "gpt-4")
    with pytest.raises(BudgetExceededError):
        b.reserve(0.2, "openai", "gpt-4")
    hold.settle(0.1)
    assert cb.get_status()["day"]["spent"] == pytest.approx(0.1)


# ---- Redis away: fail closed -------------------------------------------------------------------
def test_redis_down_refuses_calls_fast_while_a_limit_is_set(redis_server, redis_url, caplog):
    cb = ClassBudget()
    cb.set_limits(day=5.0)
    cb.reserve(0.01).settle(0.01)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="glwork"):
        t0 = time.monotonic()
        with pytest.raises(BudgetExceededError) as err:
            cb.reserve(0.01, provider="openai", model="gpt-4")
        assert time.monotonic() - t0 < 1.0
    assert "cannot be reached" in str(err.value) and "not" in str(err.value)
    assert "unreachable" in caplog.text


def test_redis_down_without_a_limit_lets_calls_through_and_counts_them_later(redis_server, redis_url):
    cb = ClassBudget()
    cb.reserve(0.02).settle(0.02)                  # seen: no class limit set
    redis_server.kill()
    hold = cb.reserve(0.05)                        # nothing to protect: allowed
    hold.settle(0.03)                              # kept until Redis answers again
    redis_server.start()                           # (an empty Redis: no persistence in tests)
    time.sleep(1.05)
    assert cb.get_status()["day"]["spent"] == pytest.approx(0.03)


# ---- many kernels ------------------------------------------------------------------------------
def budget_worker(seed, line):
    """One 'kernel' spending until the class budget refuses it for good; the costs it settled."""
    cb = ClassBudget()
    rng = random.Random(seed)
    line.arrive()
    settled, refusals = [], 0
    while True:
        worst = rng.uniform(0.005, 0.05)
        try:
            hold = cb.reserve(worst, model="gpt-4")
        except BudgetExceededError:
            refusals += 1
            if cb.get_status()["day"]["remaining"] < 0.05 or refusals > 200:
                return settled, refusals
            time.sleep(0.002)
            continue
        time.sleep(rng.uniform(0, 0.003))           # the call is in flight
        cost = round(worst * rng.uniform(0.3, 1.0), 6)
        hold.settle(cost)
        settled.append(cost)


def test_eight_processes_never_pass_the_shared_budget(redis_url, tmp_path):
    limit = 2.0
    ClassBudget().set_limits(day=limit)
    line = StartLine(tmp_path / "start")
    results = run_processes(budget_worker, [(k, line) for k in range(8)], start_line=line)
    costs = [c for settled, _ in results for c in settled]
    status = ClassBudget().get_status()["day"]
    assert sum(costs) <= limit + 1e-9
    assert status["spent"] == pytest.approx(sum(costs), abs=1e-8) and status["reserved"] == 0
    assert all(refusals >= 1 for _, refusals in results)       # every kernel was stopped by it
    assert sum(costs) > limit * 0.8                             # ...near the limit, not long before

def test_every_live_session_reserves_against_the_class_budget(redis_url, wire_server):
    ClassBudget().set_limits(day=0.01)
    s = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1", api_key=KEY,
                    max_tokens=100)                                   # no cost_limit of its own
    assert s.get_budget() is None and s._runner.budget.class_budget.shared
    wire_server.queue(reply(20, 10))
    s.send_message("Hello")
    spent = ClassBudget().get_status()["day"]["spent"]
    assert spent == pytest.approx((20 * 30 + 10 * 60) / 1e6)
    ClassBudget().set_limits(day=spent + 0.001)
    with pytest.raises(BudgetExceededError, match="class's day budget"):
        s.send_message("Hello again")
    assert len(wire_server.requests) == 1
