"""Part 3's "Your turn" checks: each passes on its worked solution and fails, with specific advice, on
plausible wrong attempts. Only the cache runs (the local MiniLM embeddings): no LLM is called."""
import pytest

from glwork.lab import check, exercises
from glwork.lab.exercises.part3 import STOCK
from glwork.llm import SemanticCacheManager


def cache(threshold, **kw):
    return SemanticCacheManager(similarity_threshold=threshold, ttl=None, **kw)


def test_part3_exercises_are_registered():
    assert {"03.threshold", "03.invalidate"} <= set(exercises())


@pytest.mark.parametrize("solution", [lambda: cache(0.95), lambda: cache(0.9, guard=False)])
def test_threshold_solutions_pass(solution):
    result = check("03.threshold", solution())
    assert result.passed, str(result)
    assert "'What is Scope 1?' is served" in str(result) and "'Explain Scope 2 emissions' is not served" in str(result)


def test_threshold_with_the_glossary_alone_passes_with_a_warning_about_the_margin():
    result = check("03.threshold", cache(0.9, guard=False))
    assert "the margin is thin" in str(result)


@pytest.mark.parametrize("attempt,advice", [
    (lambda: cache(0.85, guard=False, glossary=None), "no threshold can serve one and refuse the other"),  # start
    (lambda: cache(0.70, guard=False, glossary=None), "no threshold can serve one and refuse the other"),
    (lambda: cache(0.99, guard=False), "Lower the threshold to at most 0.98"),
    (lambda: cache(0.70, guard=False), "a false hit. Turn the guard on"),
])
def test_threshold_wrong_attempts_fail_with_advice(attempt, advice):
    result = check("03.threshold", attempt())
    assert not result.passed and advice in str(result), str(result)


def test_threshold_check_leaves_the_learners_cache_as_it_was():
    c = cache(0.95)
    c.set("What is Scope 3?", "(an answer)")
    check("03.threshold", c)
    assert len(c) == 1 and c.get("What are Scope 1 emissions?") is None


def test_threshold_check_wants_the_cache_itself():
    from glwork.llm import ChatSession
    s = ChatSession(provider="openai", api_key="x" * 24, base_url="http://127.0.0.1:9/v1", semantic_cache=True)
    result = check("03.threshold", s)
    assert not result.passed and "not a SemanticCacheManager" in str(result) and "semantic_cache=" in str(result)


def stocked():
    c = cache(0.95)
    for q in STOCK:
        c.set(q, f"(the answer to: {q})")
    return c


@pytest.mark.parametrize("pattern", ["electricity*", "*electric*", "Electricity*"])
def test_invalidate_solutions_pass(pattern):
    c = stocked()
    c.invalidate_pattern(pattern)
    result = check("03.invalidate", c)
    assert result.passed, str(result)


@pytest.mark.parametrize("act,advice", [
    (lambda c: c.invalidate("electricity"), "invalidate(query) removes only the entries stored for exactly"),  # start
    (lambda c: c.invalidate_pattern("electricity"), "a pattern without * must match the rest"),
    (lambda c: c.invalidate_pattern("*Scope 2*"), "your pattern missed them"),
    (lambda c: c.clear(), "the cache is empty"),
    (lambda c: c.invalidate_pattern("*Scope*"), "that are still right were removed too"),
])
def test_invalidate_wrong_attempts_fail_with_advice(act, advice):
    c = stocked()
    act(c)
    result = check("03.invalidate", c)
    assert not result.passed and advice in str(result), str(result)


def test_invalidate_names_the_questions_left_behind():
    c = stocked()
    c.invalidate_pattern("*Scope 2*")
    assert "'Which grid electricity factor applies in France?'" in str(check("03.invalidate", c))
