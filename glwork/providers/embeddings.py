"""OpenAI embedding requests, tracked like chat calls: reserved on the class budget before they are
sent (live and record modes), admitted by a RateLimiter if one is given, retried by the kit's
RetryPolicy (the SDK's own retries are off, so each attempt is seen), and recorded: one `llm_call`
event per request (ledger, alerts, health monitor), an `llm_charge` for an attempt that may have
been billed without an answer (a timeout, a cut connection)."""
import time

from .. import config, errors, events
from ..monitoring import pricing
from ..response import USD, Usage
from ..tokens import estimate_tokens
from .base import map_sdk_error

NAME = "embeddings"      # the `session` of their ledger rows


def create(client, model, texts, mode, limiter=None, retry=None, name=NAME):
    """`client.embeddings.create(model=model, input=texts)`, tracked; raises LLMError (mapped)."""
    import openai

    from ..monitoring import health, ledger
    from ..resilience.budget import PROMPT_MARGIN, session_budget, spends_money
    from ..resilience.retry import RetryPolicy
    from ..resilience.runner import may_be_billed
    ledger.ensure_default()     # recorded even in code that never made a ChatSession
    health.ensure_default()
    retry = retry or RetryPolicy()
    tokens = sum(estimate_tokens(t) for t in texts)
    budget = session_budget(None) if spends_money(mode) else None
    start = time.perf_counter()

    def attempt():
        hold = None
        if budget is not None:
            price = pricing.lookup(model, "openai")
            if price is None:
                raise errors.BudgetExceededError(
                    f"No price is known for embedding model {model!r}, so the class budget cannot bound this "
                    f"request and it was not sent. Add one with glwork.monitoring.pricing.register_price"
                    f"({model!r}, input=..., output=0).", provider="openai")
            hold = budget.reserve(tokens * PROMPT_MARGIN * price.input / 1e6, "openai", model)
        grant = limiter.acquire(tokens) if limiter is not None else None
        try:
            resp = client.embeddings.create(model=model, input=texts)
        except BaseException as exc:
            mapped = map_sdk_error(exc, openai, "openai") if isinstance(exc, Exception) else None
            failure = mapped or exc
            billed = may_be_billed(failure)
            if grant is not None and not billed:
                grant.settle(0)
            cost = pricing.cost_of(Usage(tokens, 0), model) if billed else 0.0
            if hold is not None:
                hold.settle(cost)
            if billed:
                _record("llm_charge", model, model, Usage(tokens, 0), cost, True, start, mode, name,
                        getattr(failure, "error_code", None) or "interrupted")
            if mapped is None:
                raise
            raise mapped from None
        used = (resp.usage.prompt_tokens or 0) if resp.usage is not None else tokens
        usage = Usage(used, 0)
        served = resp.model or model
        # The answering model's price, else the requested one's, flagged (e.g. the local backend's MiniLM).
        priced = served if pricing.lookup(served, "openai") or not pricing.lookup(model, "openai") else model
        cost, estimate = pricing.cost_of(usage, priced), priced != served
        if hold is not None:
            hold.settle(cost)
        if grant is not None:
            grant.settle(used)
        _record("llm_call", served, model, usage, cost, estimate, start, mode, name, "ok")
        return resp

    def retried(exc, n, wait):
        events.emit("llm_retry", time=time.time(), session=name, provider="openai", model=model, attempt=n,
                    error_code=exc.error_code, status_code=exc.status_code, retryable=exc.retryable,
                    retry_after=exc.retry_after, wait=round(wait, 3), action="retry", latency_ms=None)
    return retry.call(attempt, on_retry=retried)


def _record(kind, served, model, usage, cost, estimate, start, mode, name, status):
    from ..session import CallRecord
    record = CallRecord("openai", served, model, usage, None if cost is None else USD(cost), estimate,
                        (time.perf_counter() - start) * 1000, status=status, source=config.source_of(mode))
    events.emit(kind, record=record, session=name, status=status, time=record.time, provider="openai",
                model=served, mode=mode, source=record.source)
