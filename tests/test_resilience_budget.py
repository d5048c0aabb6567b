"""cost_limit: refused before sending, never exceeded by concurrent threads, unknown prices refused."""
import json
import threading

import pytest

from glwork import errors
from glwork.llm import BudgetExceededError, ChatSession
from glwork.monitoring import pricing
from glwork.resilience.budget import DEFAULT_MAX_TOKENS, PROMPT_MARGIN, Budget, worst_case_cost
from wire_server import Canned, cassette

KEY = "sk-test-budget-0123456789abcdef"


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


def reply(prompt_tokens=20, completion_tokens=10, model="gpt-4"):
    body = {"id": "chatcmpl-budget", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
    return Canned(200, {"content-type": "application/json"}, json.dumps(body).encode())


def session(srv, **kw):
    return ChatSession(provider="openai", model="gpt-4", base_url=srv.url + "/v1", api_key=KEY, **kw)


def test_a_call_that_could_pass_the_limit_is_refused_before_it_is_sent(wire_server):
    # gpt-4: $30 in / $60 out per 1M. 1,000 max_tokens cost up to $0.06 of output alone.
    s = session(wire_server, cost_limit=0.05, max_tokens=1000)
    with pytest.raises(BudgetExceededError) as e:
        s.send_message("Hello")
    assert e.value.error_code == "budget_exceeded" and not e.value.retryable
    assert wire_server.requests == [] and s.get_cost() == 0


def test_spend_is_settled_with_the_real_cost_and_later_calls_refused(wire_server):
    worst = worst_case_cost("gpt-4", session(wire_server).estimate_tokens("Hello"), 100)
    s = session(wire_server, cost_limit=worst * 2.5, max_tokens=100)
    wire_server.queue(reply(20, 100), reply(20, 100))
    s.send_message("Hello")
    s.reset()
    s.send_message("Hello")
    b = s.get_budget()
    assert b["spent"] == pytest.approx(2 * (20 * 30 + 100 * 60) / 1e6) and b["reserved"] == 0
    assert b["spent"] <= b["limit"]
    s.reset()
    with pytest.raises(BudgetExceededError):   # a third worst case no longer fits
        s.send_message("Hello")
    assert len(wire_server.requests) == 2


def test_without_max_tokens_the_reservation_covers_the_models_own_output_limit(wire_server):
    # Issue 15 item 7: no cap is sent (a reasoning model keeps its reply); the worst case is the
    # model's output limit (gpt-4: 8,192 tokens), so a small limit refuses and says why.
    wire_server.queue(reply())
    session(wire_server, cost_limit=10.00).send_message("Hello")
    assert "max_tokens" not in wire_server.requests[0].json
    with pytest.raises(BudgetExceededError, match=r"up to \$0\.49"):   # 8,192 x $60 / 1M + the prompt
        session(wire_server, cost_limit=0.40).send_message("Hello")
    wire_server.queue(reply())
    session(wire_server).send_message("Hello")
    assert "max_tokens" not in wire_server.requests[1].json   # no budget: the request is unchanged


def test_a_model_with_no_known_output_limit_is_capped_and_told(wire_server, caplog):
    pricing.register_price("my-capped-model", input=1.0, output=2.0)
    try:
        wire_server.queue(reply(model="my-capped-model"))
        s = ChatSession(provider="openai", model="my-capped-model", base_url=wire_server.url + "/v1", api_key=KEY,
                        cost_limit=1.0)
        s.send_message("Hello")
    finally:
        pricing._extra.pop("my-capped-model", None)
    assert wire_server.requests[0].json["max_tokens"] == DEFAULT_MAX_TOKENS
    assert "capped at 1024 tokens" in caplog.text and "max_tokens=" in caplog.text


def test_eight_threads_never_exceed_the_limit(wire_server):
    # Each call costs its full worst case, so at most floor(limit / worst) calls may run.
    probe = session(wire_server)
    prompt = probe.estimate_tokens("Hello")
    worst = worst_case_cost("gpt-4", prompt, 50)
    limit = worst * 5.5
    s = session(wire_server, cost_limit=limit, max_tokens=50)
    import math
    real_prompt = math.ceil(prompt * PROMPT_MARGIN)
    wire_server.queue(*[reply(real_prompt, 50) for _ in range(40)])
    refused, done = [], []

    def worker():
        for _ in range(5):
            try:
                done.append(s.send_message("Hello"))
            except BudgetExceededError:
                refused.append(1)
            s.reset()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # (a concurrent thread's turns may be in the history, which only makes a reservation larger)
    assert 1 <= len(done) <= 5 and len(done) + len(refused) == 40 and len(wire_server.requests) == len(done)
    assert s.get_cost() <= limit and s.get_budget()["reserved"] == 0


def test_budget_object_under_contention():
    b = Budget(1.0)
    ok = []

    def worker():
        for _ in range(1000):
            try:
                hold = b.reserve(0.003)
            except BudgetExceededError:
                continue
            hold.settle(0.002)
            ok.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert b.spent <= 1.0 and b.reserved == pytest.approx(0) and len(ok) == 499


def test_unknown_price_is_refused_with_a_way_out(wire_server):
    s = ChatSession(provider="openai", model="my-private-model", base_url=wire_server.url + "/v1", api_key=KEY,
                    cost_limit=1.0)
    with pytest.raises(BudgetExceededError, match="register_price"):
        s.send_message("Hello")
    assert wire_server.requests == []
    pricing.register_price("my-private-model", input=1.0, output=2.0)
    try:
        wire_server.queue(reply(model="my-private-model"))
        assert s.send_message("Hello") == "ok"
    finally:
        pricing._extra.pop("my-private-model", None)


def test_failed_calls_release_their_reservation(wire_server):
    s = session(wire_server, cost_limit=1.0, max_retries=0)
    wire_server.queue(*cassette("openai/error_401_invalid_api_key.yaml"))
    with pytest.raises(errors.AuthenticationError):
        s.send_message("Hello")
    assert s.get_budget()["reserved"] == 0 and s.get_budget()["spent"] == 0


def test_workshop_arguments_and_validation(wire_server):
    s = ChatSession(model="gpt-4", cost_limit=10.00, api_key=KEY, base_url=wire_server.url + "/v1")
    assert s.get_budget()["limit"] == 10.0 and session(wire_server).get_budget() is None
    for bad in (0, -1, "10", True, float("inf")):
        with pytest.raises(errors.ConfigurationError):
            session(wire_server, cost_limit=bad)
