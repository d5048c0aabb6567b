"""Part 4's "Your turn" checks: each passes on its worked solution and fails, with specific advice, on
plausible wrong attempts. The storm is served by the local backend's fault injection (extractive
engine: no model is loaded), with the real waits of the learner's settings (a few seconds)."""
import pytest

from glwork.lab import check, exercises
from glwork.llm import ChatSession, RateLimiter, RetryPolicy


@pytest.fixture
def extractive(monkeypatch):
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")
    monkeypatch.delenv("GLWORK_MODE", raising=False)


def storm_session(**settings):
    return ChatSession(provider="openai", model="gpt-4", max_tokens=5, name="storm", mode="local", **settings)


def test_part4_exercises_are_registered():
    ids = exercises()
    assert {"04.retry_storm", "04.rate_limiter"} <= set(ids)


@pytest.mark.parametrize("settings", [
    {"max_retries": 6, "retry_delay": 0.2},
    {"retry_policy": RetryPolicy(max_retries=6, retry_delay=1.0, max_delay=0.5)},
])
def test_retry_storm_solutions_pass(extractive, settings):
    result = check("04.retry_storm", storm_session(**settings))
    assert result.passed, str(result)
    assert "answered on attempt 7" in str(result) and "within the 3 s limit" in str(result)


@pytest.mark.parametrize("settings,advice", [
    ({}, "Raise max_retries to at least 6"),                                    # the starting point
    ({"max_retries": 6}, "over the 3 s limit"),                                # enough retries, default backoff
    ({"max_retries": 6, "retry_delay": 1.0, "exponential_backoff": False}, "over the 3 s limit"),
])
def test_retry_storm_wrong_attempts_fail_with_advice(extractive, settings, advice):
    result = check("04.retry_storm", storm_session(**settings))
    assert not result.passed and advice in str(result)
    if "over the" in advice:
        assert "retry_delay" in str(result) and "max_delay" in str(result)


def test_retry_storm_does_not_make_the_learner_sit_through_waits_past_the_limit(extractive):
    import time
    start = time.perf_counter()
    result = check("04.retry_storm", storm_session(max_retries=6, retry_delay=5.0))   # would wait 5 s + 10 s
    assert not result.passed and "did not make you sit through" in str(result)
    assert time.perf_counter() - start < 12


@pytest.mark.parametrize("session,advice", [
    (lambda: ChatSession(provider="openai", model="gpt-4", mode="local", max_retries=6), "has no name"),
    (lambda: ChatSession(provider="openai", model="gpt-4", name="storm", mode="live", max_retries=6,
                         api_key="x" * 24, base_url="http://127.0.0.1:9/v1"), "mode='local'"),
    (lambda: RetryPolicy(max_retries=6), "not a ChatSession"),
])
def test_retry_storm_needs_the_named_local_session(extractive, session, advice):
    result = check("04.retry_storm", session())
    assert not result.passed and advice in str(result)


def test_retry_storm_clears_its_script_so_the_next_call_is_not_hit(extractive):
    s = storm_session()                       # gives up after 3 of the 6 failures
    assert not check("04.retry_storm", s).passed
    assert s.send_message("Hello").attempts == 1


@pytest.mark.parametrize("limiter", [
    RateLimiter(max_requests_per_minute=6, max_tokens_per_minute=2000),
    RateLimiter(max_requests_per_minute=60, max_tokens_per_minute=2000),
    RateLimiter(max_requests_per_minute=4),
])
def test_rate_limiter_solutions_pass(limiter):
    result = check("04.rate_limiter", limiter)
    assert result.passed and "within 2 minutes" in str(result)


@pytest.mark.parametrize("limiter,advice", [
    (RateLimiter(max_requests_per_minute=6), "set max_tokens_per_minute=2000"),          # the starting point
    (RateLimiter(max_requests_per_minute=60, max_tokens_per_minute=90000), "12 requests (the account allows 6)"),
    (RateLimiter(max_requests_per_minute=3, max_tokens_per_minute=2000), "raise it to 6"),
    (RateLimiter(max_requests_per_minute=6, max_tokens_per_minute=1500), "set it to 2000"),
    (RateLimiter(max_requests_per_minute=2), "with max_tokens_per_minute=2000, or to 4 on its own"),
    (RateLimiter(max_requests_per_minute=6, max_tokens_per_minute=300), "no question could ever be sent"),
    (RateLimiter(max_requests_per_minute=8, max_tokens_per_minute=8000), "would answer 429"),
])
def test_rate_limiter_wrong_attempts_fail_with_advice(limiter, advice):
    result = check("04.rate_limiter", limiter)
    assert not result.passed and advice in str(result), str(result)


def test_rate_limiter_check_takes_a_rate_limiter():
    result = check("04.rate_limiter", {"max_requests_per_minute": 6})
    assert not result.passed and "not a RateLimiter" in str(result)
