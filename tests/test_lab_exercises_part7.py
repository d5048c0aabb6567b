"""Part 7's "Your turn" checks pass on their worked solutions and fail, with specific advice, on
plausible wrong attempts. The checks' questions are answered by the kit's real local server with a
scripted engine (live mode): each test decides what the "model" writes."""
import pytest

from exercise_engine import engine, engine_server, session  # noqa: F401 (fixtures)
from glwork.lab import check

LONG = ("Scope 2 covers the indirect greenhouse gas emissions from the generation of the electricity, steam, "
        "heat or cooling that a company buys and consumes. The emissions physically occur at the power plant, "
        "but the company accounts for them because its demand causes them. A company reports both a "
        "location-based total and a market-based total, as the GHG Protocol Scope 2 Guidance requires.")
SHORT = "Emissions from generating the electricity a company buys; report location-based and market-based totals."
RULE = "Answer in at most two sentences, under 40 words."


def system(req):
    return next((m["content"] for m in req.messages if m["role"] == "system"), "")


def obeys_length_rule(req):
    return SHORT if "40 words" in system(req) else LONG


def test_under_40_words_solution_passes(engine_server, engine):
    engine.reply = obeys_length_rule
    result = check("07.under_40_words", session(engine_server, system_message=f"Answer from the context. {RULE}",
                                               max_tokens=200))
    assert result.passed, str(result)
    assert "both answers are under 40 words" in str(result) and "answer 1 (13 words)" in str(result)
    # the check's questions arrive with their passage, and each stands alone
    assert all("Context:\n[1] " in r.messages[-1]["content"] and len(r.messages) == 2 for r in engine.requests)


@pytest.mark.parametrize("kwargs,advice", [
    ({"system_message": "You are a carbon accounting expert.", "max_tokens": 200}, "answer 1 has 62 words"),
    ({"system_message": "Be brief.", "max_tokens": 30}, "max_tokens=30 cuts answers off mid-sentence"),
    ({"max_tokens": 200}, "the session has no system message"),
])
def test_under_40_words_wrong_attempts_fail_with_advice(engine_server, engine, kwargs, advice):
    engine.reply = obeys_length_rule
    result = check("07.under_40_words", session(engine_server, **kwargs))
    assert not result.passed and advice in str(result), str(result)


def test_under_40_words_a_refusal_is_not_an_answer(engine_server, engine):
    engine.reply = lambda req: "I don't have enough information."
    result = check("07.under_40_words", session(engine_server, system_message=RULE, max_tokens=200))
    assert not result.passed and "does not answer" in str(result)


def test_under_40_words_a_cut_answer_fails(engine_server, engine):
    engine.reply = lambda req: LONG * 3
    result = check("07.under_40_words", session(engine_server, system_message=RULE, max_tokens=120))
    assert not result.passed and "hit max_tokens and was cut off" in str(result)


def varies_with_temperature(req):
    if req.temperature is not None and req.temperature > 0.3:
        return f"Scope 2 emissions come from purchased electricity (variant {req.seed})."
    if req.temperature:
        if req.seed == 2:
            return "Scope 2: purchased electricity."
        return "Scope 2 emissions come from purchased electricity."
    return "Scope 2 emissions come from purchased electricity."


def test_same_answer_solution_passes(engine_server, engine):
    engine.reply = varies_with_temperature
    factual = session(engine_server, temperature=0.0, max_tokens=40, seed=7)
    result = check("07.same_answer", factual)
    assert result.passed and "the same answer 3 times out of 3" in str(result)
    assert [r.seed for r in engine.requests] == [1, 2, 3] and factual.seed == 7   # the learner's seed is restored


@pytest.mark.parametrize("temperature,advice", [
    (0.8, "temperature=0.8 gave 3 different answers in 3 tries"),
    (0.1, "Try temperature=0"),
    (None, "the session has no temperature"),
])
def test_same_answer_wrong_attempts_fail_with_advice(engine_server, engine, temperature, advice):
    engine.reply = varies_with_temperature
    result = check("07.same_answer", session(engine_server, temperature=temperature, max_tokens=40))
    assert not result.passed and advice in str(result), str(result)


def test_checks_read_a_wrong_argument_as_advice():
    for exercise in ("07.under_40_words", "07.same_answer"):
        result = check(exercise, "You are helpful")
        assert not result.passed and "not a ChatSession" in str(result)
