"""Part 5 (cost & performance monitoring) exercises."""
import re

from . import exercise, given, given_session

# Three short questions the budget exercise sends through the learner's session, one at a time.
BUDGET_QUESTIONS = ("Name one renewable energy source. Two words at most.",
                    "Name a second one. Two words at most.",
                    "Name a third one. Two words at most.")


def _worst_case(session, question):
    """What one question reserves before it is sent (as the session's budget computes it)."""
    from ...monitoring import pricing
    from ...resilience.budget import worst_case_cost
    price = pricing.lookup(session.model)
    output = session.max_tokens or (price.max_output_tokens if price else 0)
    return worst_case_cost(session.model, session.estimate_tokens(question), output, session.provider)


@exercise("05.two_calls", "a budget that allows exactly two calls")
def two_calls(found, session):
    from ...errors import BudgetExceededError
    if not given_session(found, session, "check('05.two_calls', budget_session)"):
        return
    budget = session.get_budget()
    if budget is None:
        found.fail("the session has no budget: create it with cost_limit=... (USD)")
        return
    if session.get_calls():
        found.fail(f"this session has already made {len(session.get_calls())} call(s): run the whole cell again, "
                   f"so the check starts from a fresh session")
        return
    if session.max_tokens is None:
        worst = _worst_case(session, BUDGET_QUESTIONS[0])
        found.fail(f"set max_tokens (e.g. max_tokens=20): without it each call reserves the model's whole output "
                   f"limit, ${worst:.4f} for {session.model}, however short the reply, so the budget says no "
                   f"long before the money is spent")
        return
    sent, refused = [], None
    for question in BUDGET_QUESTIONS:
        session.reset()   # each question stands alone: the worst cases stay comparable
        worst = _worst_case(session, question)
        try:
            reply = session.send_message(question)
        except BudgetExceededError as exc:
            refused = (question, worst, exc)
            break
        sent.append((question, worst, float(reply.cost or 0.0)))
    for n, (_question, worst, cost) in enumerate(sent, 1):
        found.info(f"call {n} sent: reserved ${worst:.6f} before sending, cost ${cost:.6f}")
    if refused:
        found.info(f"call {len(sent) + 1} refused before it was sent: it would have reserved ${refused[1]:.6f}")
    limit = budget["limit"]
    spent = sum(c for _, _, c in sent)
    if len(sent) == 2 and refused:
        found.ok(f"exactly two calls went through: ${spent:.6f} spent of your ${limit:g}, and the third was "
                 f"refused before it was sent")
        return
    if len(sent) == 3:
        low = sent[0][2] + sent[1][1]
        high = sent[0][2] + sent[1][2] + sent[2][1]
        found.fail(f"all three calls fit in cost_limit=${limit:g}: lower it. Two calls need at least "
                   f"${low:.6f} (the first call's cost plus the second's reservation), and the third is refused "
                   f"below ${high:.6f} (two calls' cost plus the third's reservation)")
        return
    first_worst = _worst_case(session, BUDGET_QUESTIONS[0])
    if not sent:
        found.fail(f"even the first call was refused: it reserves ${first_worst:.6f} (its prompt + 25% and "
                   f"max_tokens={session.max_tokens} of answer at {session.model}'s prices), more than "
                   f"cost_limit=${limit:g}. Raise it to a bit more than twice that")
        return
    need = sent[0][2] + refused[1]
    found.fail(f"only one call fit: after spending ${spent:.6f} the second call's reservation of "
               f"${refused[1]:.6f} passes cost_limit=${limit:g}. Raise it to at least ${need:.6f}")


@exercise("05.cheaper_summary", "the same one-sentence summary for at most half the cost")
def cheaper_summary(found, cheaper, reference):
    from ...response import ChatResponse
    for name, value in (("first", cheaper), ("second", reference)):
        if not given(found, value, ChatResponse, f"the {name} argument is a {{}}, not a reply of send_message(...): "
                                                 f"check('05.cheaper_summary', cheaper, first)"):
            return
    if cheaper is reference:
        found.todo("both arguments are the same reply: send your cheaper request and pass its reply first")
        return
    if cheaper.cost is None or reference.cost is None:
        found.fail(f"no price is known for {cheaper.model if cheaper.cost is None else reference.model}, so the "
                   f"costs cannot be compared: pick a model from the table above")
        return
    ratio = float(cheaper.cost) / float(reference.cost) if reference.cost else 1.0
    u, r = cheaper.usage, reference.usage
    found.info(f"first summary: {r.input_tokens} tokens in, {r.output_tokens} out, ${float(reference.cost):.6f}; "
               f"yours: {u.input_tokens} in, {u.output_tokens} out, ${float(cheaper.cost):.6f} ({_percent(ratio)})")
    text = str(cheaper).strip()
    if cheaper.finish_reason == "length":
        found.fail(f"your summary was cut off at max_tokens ({u.output_tokens} tokens): a cut answer is not "
                   f"cheaper, it is broken. Ask for fewer words instead, or raise max_tokens")
        return
    if not re.search(r"business[- ]?(travel|trip|related)|travel", text, re.I):
        found.fail(f"the summary no longer says what the passage is about (business travel): {text[:120]!r}. "
                   f"Keep the passage's first paragraph in the prompt")
        return
    if ratio > 0.5:
        advice = []
        if u.input_tokens > 3 * max(u.output_tokens, 1):
            advice.append(f"most of the cost is the {u.input_tokens} input tokens: send only the part of the "
                          f"passage the summary needs (e.g. its first paragraph: fact_card(...))")
        advice.append("or ask a cheaper model (gpt-4o-mini, claude-3-5-haiku: compare their prices in the team "
                      "table above)")
        found.fail(f"your summary costs {_percent(ratio)} of the first one, over half: " + "; ".join(advice))
        return
    found.ok(f"the same kind of summary for {_percent(ratio)} of the cost")
    found.info("the two levers add up: a prompt cut to what the task needs, on the smallest model that does the "
               "task well (for a summary like this, often 20-100x cheaper than gpt-4)")


def _percent(ratio):
    """0.46 -> '46%', 0.0046 -> '0.46%' (not '0%': a much cheaper model costs a fraction of a percent)."""
    return f"{ratio:.0%}" if ratio >= 0.1 else f"{ratio * 100:.2g}%"
