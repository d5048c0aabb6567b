"""Tables for the monitoring notebooks (Part 5, Part 7 §5): each call of a session, where its answer
came from, and whether its cost is money spent or an estimate of a free call.

    calls_table(session, other_session)   # one row per call
    latency_note(session)                 # "2,310 ms, recorded ..." for the last call

A replayed call costs nothing and takes a few milliseconds: the kit prices it "as if" at the
requested model's rates (cost_is_estimate) and reports the latency measured when it was recorded.
A call answered now by the local model is free too. Only live calls are billed. (The cost ledger
keeps the same distinction: CostTracker counts money only, CostTracker(include_free=True) adds the
as-if prices, get_cost_summary() shows both.)
"""
SPEND = {"live": "billed", "recorded": "free (replayed), priced as if", "local": "free (local model), priced as if"}
ANSWERED = {"live": "live", "recorded": "replayed", "local": "local model"}


def _source(record):
    return getattr(record, "source", None) or "live"


def calls_table(*sessions):
    """Every call of the given sessions as a DataFrame: who answered, tokens, cost and what it is."""
    import pandas as pd
    rows = []
    for session in sessions:
        for n, c in enumerate(session.get_calls(), 1):
            src = _source(c)
            rows.append({"session": session.name if session.name and not session.name.startswith("session-")
                         else "(unnamed)", "call": n, "asked for": c.requested_model,
                         "answered by": f"{c.model} ({ANSWERED.get(src, src)})",
                         "input tokens": c.usage.input_tokens, "output tokens": c.usage.output_tokens,
                         "cost $": None if c.cost is None else round(float(c.cost), 6),
                         "cost is": SPEND.get(src, src)
                         + (", estimated" if src == "live" and c.cost_is_estimate else "")
                         + ("" if c.status == "ok" else f" ({c.status})")})
    if not rows:
        return pd.DataFrame(columns=["session", "call", "asked for", "answered by", "input tokens",
                                     "output tokens", "cost $", "cost is"])
    return pd.DataFrame(rows).set_index(["session", "call"])


def latency_note(session_or_response):
    """The last call's latency in words, saying whether it was measured now or when it was recorded."""
    if hasattr(session_or_response, "get_calls"):
        calls = session_or_response.get_calls()
        if not calls:
            return "no call yet"
        c = calls[-1]
        ms, src, model = c.latency_ms, _source(c), c.model
    else:
        r = session_or_response
        ms, src, model = r.latency_ms, getattr(r, "source", None) or "live", r.model
    if ms is None:
        return "latency unknown"
    if src == "recorded":
        return (f"{ms:,.0f} ms: measured when the call was recorded ({model} on the recording machine); "
                f"replaying it took a few ms")
    if src == "local":
        return f"{ms:,.0f} ms: measured now ({model}, the local model on this machine)"
    return f"{ms:,.0f} ms: measured now (live, {model})"

