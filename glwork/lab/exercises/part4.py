"""Part 4 (error handling & resilience) exercises."""
import random
import time

from . import exercise, given

# The provider is overloaded (two 503s, no hint how long to wait), then rate-limits the backlog
# (four 429s asking for 250 ms each). Served by the local backend to the learner's named session.
STORM = (503, 503) + ({"status": 429, "retry_after": 0.25},) * 4
WAIT_LIMIT = 3.0            # seconds a user may spend waiting between attempts
STORM_QUESTION = "Reply with one word: OK"

# The rate-limit exercise's account and workload.
ACCOUNT_RPM, ACCOUNT_TPM = 6, 2000
QUESTIONS, RESERVED = 12, 450   # each reserves ~50 prompt tokens + max_tokens=400


def _label(spec):
    if isinstance(spec, dict):
        return f"{spec['status']} (Retry-After {spec['retry_after']:g} s)"
    return f"{spec} (no Retry-After)"


def _story(waits):
    """"503 → 1.06 s, 503 → 2.05 s, 429 → 0.25 s ×4": each failure of the storm and the wait after it."""
    parts = []
    for spec, w in zip(STORM, waits):
        text = f"{spec['status'] if isinstance(spec, dict) else spec} → {w:.2f} s"
        if parts and parts[-1][0] == text:
            parts[-1][1] += 1
        else:
            parts.append([text, 1])
    return ", ".join(t if n == 1 else f"{t} ×{n}" for t, n in parts)


def _named(session):
    # Only a session created with name= sends its name to the backend, so only it draws the script.
    return session.options.name is not None


@exercise("04.retry_storm", "retry settings that get through a scripted 429 storm within a time limit")
def retry_storm(found, session):
    from ...errors import LLMError
    from ...session import ChatSession
    from ..faults import scripted_faults
    if not given(found, session, ChatSession, "the argument is a {}, not a ChatSession: "
                                               "check('04.retry_storm', storm_session)"):
        return
    if session.mode != "local":
        found.fail(f"the session runs in {session.mode!r} mode: the storm is played by the kit's local backend, "
                   f"so create it with mode='local' (as in the exercise cell)")
        return
    if not _named(session):
        found.fail("the session has no name: the storm is scripted for one named session, "
                   "so create it with name='storm' (as in the exercise cell)")
        return
    policy = session.retry_policy
    waits, skipped = [], []

    def sleep(seconds):   # real waits up to the limit; beyond it, counted but not sat through
        if sum(waits) + seconds <= WAIT_LIMIT + 1e-9:
            time.sleep(seconds)
        else:
            skipped.append(seconds)
        waits.append(seconds)

    saved = policy.sleep, policy.rng
    policy.sleep, policy.rng = sleep, random.Random(4)   # the same jitter on every run
    seen = len(session.get_retry_events())
    error = None
    try:
        with scripted_faults(session.name, STORM):
            session.send_message(STORM_QUESTION)
    except LLMError as exc:
        error = exc
    finally:
        policy.sleep, policy.rng = saved
    events = session.get_retry_events()[seen:]
    attempts = len([e for e in events if e["action"] == "retry"]) + 1
    story = _story(waits)
    if error is not None:
        if getattr(error, "error_code", None) == "not_in_cassette" or not error.retryable:
            found.fail(f"the call failed with {type(error).__name__} ({error.error_code}), not with the storm's "
                       f"errors: {str(error)[:160]}")
            return
        found.fail(f"the session gave up after {attempts} attempt(s) with {error.status_code} "
                   f"({error.error_code}): max_retries={policy.max_retries} allows {policy.max_retries + 1} "
                   f"attempts, and the storm is {len(STORM)} failures in a row. Raise max_retries to at "
                   f"least {len(STORM)}")
        if story:
            found.info(f"the waits so far: {story}")
        return
    found.ok(f"got through the storm: {len(STORM)} failures, answered on attempt {len(STORM) + 1}")
    total = sum(waits)
    if total > WAIT_LIMIT + 1e-9:
        backoff = [w for spec, w in zip(STORM, waits) if not isinstance(spec, dict)]
        found.fail(f"but the waits add up to {total:.2f} s, over the {WAIT_LIMIT:g} s limit ({story}). "
                   f"The 503s carry no Retry-After, so your backoff decides their waits "
                   f"({' and '.join(f'{w:.2f} s' for w in backoff)}: retry_delay={policy.retry_delay:g}"
                   f"{', doubled after each attempt' if policy.exponential_backoff else ''}, plus up to 25% "
                   f"jitter). Start lower (e.g. retry_delay=0.2), or cap each wait with "
                   f"retry_policy=RetryPolicy(..., max_delay=...); the 429s' own 0.25 s waits are fixed")
        if skipped:
            found.info(f"the check did not make you sit through the {sum(skipped):.2f} s past the limit")
        return
    found.ok(f"waited {total:.2f} s in all, within the {WAIT_LIMIT:g} s limit ({story})")
    if policy.retry_delay < 0.05:
        found.info(f"retry_delay={policy.retry_delay:g} retries an overloaded provider almost at once; "
                   f"a tenth of a second or more gives it room to recover and still fits the limit")
    if not policy.exponential_backoff:
        found.info("without exponential backoff, clients that failed together keep retrying together; "
                   "a small retry_delay with backoff on spreads them out and still fits the limit")
    if policy.max_retries > 3 * len(STORM):
        found.info(f"max_retries={policy.max_retries} also means a user waits through that many attempts "
                   f"in a real outage; a few more than the failures you expect is enough")


@exercise("04.rate_limiter",
          "a RateLimiter that keeps two sessions under the account's limits, without waiting longer than needed")
def rate_limiter(found, limiter):
    from ...errors import ConfigurationError
    from ...resilience.limiter import RateLimiter
    if not given(found, limiter, RateLimiter,
                 "the argument is a {}, not a RateLimiter: check('04.rate_limiter', limiter)"):
        return
    try:
        sent = _simulate(limiter.max_requests, limiter.max_tokens)
    except ConfigurationError:
        found.fail(f"max_tokens_per_minute={limiter.max_tokens} is below the {RESERVED} tokens one question "
                   f"reserves, so no question could ever be sent: the account allows {ACCOUNT_TPM:,} a minute")
        return
    worst_requests, worst_tokens, at = _busiest_minute(sent)
    over = []
    if worst_requests > ACCOUNT_RPM:
        over.append(f"{worst_requests} requests (the account allows {ACCOUNT_RPM})")
    if worst_tokens > ACCOUNT_TPM:
        over.append(f"{worst_tokens:,} tokens (the account allows {ACCOUNT_TPM:,})")
    if over:
        advice = []
        if worst_tokens > ACCOUNT_TPM:
            advice.append(f"the provider counts max_tokens={RESERVED - 50} in full for every request, however "
                          f"short the reply: set max_tokens_per_minute={ACCOUNT_TPM}")
        if worst_requests > ACCOUNT_RPM:
            advice.append(f"set max_requests_per_minute={ACCOUNT_RPM} or lower")
        found.fail(f"in the minute from {at:g} s your limiter let through {' and '.join(over)}: the provider "
                   f"would answer 429. {'; '.join(advice).capitalize()}")
        return
    found.ok(f"no minute holds more than {ACCOUNT_RPM} requests or {ACCOUNT_TPM:,} tokens: the provider never says 429")
    best = _simulate(ACCOUNT_RPM, ACCOUNT_TPM)[-1]
    last = sent[-1]
    if last > best + 1e-6:
        fits = ACCOUNT_TPM // RESERVED
        if limiter.max_tokens and limiter.max_tokens // RESERVED < min(fits, ACCOUNT_RPM):
            why = (f"max_tokens_per_minute={limiter.max_tokens:,} fits only {limiter.max_tokens // RESERVED} "
                   f"questions of {RESERVED} tokens a minute, where the account's {ACCOUNT_TPM:,} fit {fits}: "
                   f"set it to {ACCOUNT_TPM}")
        else:
            why = (f"max_requests_per_minute={limiter.max_requests} lets only {limiter.max_requests} a minute "
                   f"through, where the account allows {min(fits, ACCOUNT_RPM)} (its {ACCOUNT_TPM:,} tokens hold "
                   f"{fits} questions of {RESERVED}): raise it to {ACCOUNT_RPM}"
                   + ("" if limiter.max_tokens and limiter.max_tokens <= ACCOUNT_TPM else
                      f" with max_tokens_per_minute={ACCOUNT_TPM}, or to {fits} on its own"))
        found.fail(f"but the {QUESTIONS} questions take {last / 60:g} minutes where the account allows them in "
                   f"{best / 60:g}: {why}")
        return
    found.ok(f"all {QUESTIONS} questions sent within {last / 60:g} minutes, as fast as the account allows")


def _simulate(rpm, tpm):
    """Send times (simulated seconds) of the workload through a limiter with these caps."""
    from ...resilience.clock import FakeClock
    from ...resilience.limiter import RateLimiter
    clock = FakeClock()
    twin = RateLimiter(rpm, tpm, clock=clock, sleep=clock.sleep, notify=None, backend="local")
    return [twin.acquire(RESERVED).time for _ in range(QUESTIONS)]


def _busiest_minute(sent):
    """(requests, tokens, start) of the 60-second window holding the most tokens."""
    best = (0, 0, 0.0)
    for start in sent:
        n = sum(1 for t in sent if start <= t < start + 60)
        best = max(best, (n, n * RESERVED, start), key=lambda b: (b[1], -b[2]))
    return best
