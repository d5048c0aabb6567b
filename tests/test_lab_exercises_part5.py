"""Part 5's "Your turn" checks pass on their worked solutions and fail, with specific advice, on
plausible wrong attempts. The budget exercise's calls are answered by the kit's real local server
(a scripted engine, live mode), so the session's real budget decides what is sent."""
import pytest

from exercise_engine import engine, engine_server, session  # noqa: F401 (fixtures)
from glwork.lab import check
from glwork.lab.exercises import part5
from glwork.llm import ChatResponse, Usage


def spend_of_three(server):
    """What each of the three budget questions reserves and costs, measured on a session without a limit."""
    probe = session(server, max_tokens=20)
    worst, cost = [], []
    for q in part5.BUDGET_QUESTIONS:
        probe.reset()
        worst.append(part5._worst_case(probe, q))
        cost.append(float(probe.send_message(q).cost))
    return worst, cost


def test_two_calls_solution_passes(engine_server, engine):
    worst, cost = spend_of_three(engine_server)
    low, high = cost[0] + worst[1], cost[0] + cost[1] + worst[2]
    assert low < high
    result = check("05.two_calls", session(engine_server, max_tokens=20, cost_limit=(low + high) / 2))
    assert result.passed, str(result)
    assert "exactly two calls went through" in str(result) and "refused before it was sent" in str(result)


@pytest.mark.parametrize("kwargs,advice", [
    ({"max_tokens": 20, "cost_limit": 10.0}, "all three calls fit in cost_limit=$10: lower it"),
    ({"max_tokens": 20, "cost_limit": 0.0001}, "even the first call was refused"),
    ({"cost_limit": 0.01}, "set max_tokens"),
    ({"max_tokens": 20}, "the session has no budget"),
])
def test_two_calls_wrong_attempts_fail_with_advice(engine_server, engine, kwargs, advice):
    result = check("05.two_calls", session(engine_server, **kwargs))
    assert not result.passed and advice in str(result), str(result)


def test_two_calls_with_room_for_one_says_how_much_to_add(engine_server, engine):
    worst, cost = spend_of_three(engine_server)
    result = check("05.two_calls", session(engine_server, max_tokens=20, cost_limit=cost[0] + worst[1] * 0.9))
    assert not result.passed and "only one call fit" in str(result)
    assert f"at least ${cost[0] + worst[1]:.6f}" in str(result)


def test_two_calls_needs_a_fresh_session(engine_server, engine):
    used = session(engine_server, max_tokens=20, cost_limit=1.0)
    used.send_message("Hello")
    result = check("05.two_calls", used)
    assert not result.passed and "already made 1 call" in str(result)


def test_two_calls_reads_a_wrong_argument_as_advice():
    result = check("05.two_calls", "gpt-4")
    assert not result.passed and "not a ChatSession" in str(result)


def reply(text, inp, out, cost, finish="stop"):
    return ChatResponse(text, usage=Usage(input_tokens=inp, output_tokens=out), cost=cost, finish_reason=finish)


FIRST = reply("Business travel covers employees' trips in vehicles owned by third parties.", 420, 30, 0.0144)


def test_cheaper_summary_solution_passes():
    result = check("05.cheaper_summary", reply("Business travel: employees' work trips by air, rail, bus or car.",
                                               110, 18, 0.0044), FIRST)
    assert result.passed and "31%" in str(result)


@pytest.mark.parametrize("attempt,advice", [
    (reply("Business travel covers employees' work trips in third-party vehicles.", 400, 20, 0.0132),
     "most of the cost is the 400 input tokens"),
    (reply("Business travel covers employees", 120, 5, 0.004, finish="length"), "cut off at max_tokens"),
    (reply("It is about emissions.", 110, 6, 0.0037), "no longer says what the passage is about"),
])
def test_cheaper_summary_wrong_attempts_fail_with_advice(attempt, advice):
    result = check("05.cheaper_summary", attempt, FIRST)
    assert not result.passed and advice in str(result), str(result)


def test_cheaper_summary_needs_two_replies():
    assert "not done yet" in str(check("05.cheaper_summary", FIRST, FIRST)).lower()
    result = check("05.cheaper_summary", "a summary", FIRST)
    assert not result.passed and "not a reply of send_message" in str(result)
