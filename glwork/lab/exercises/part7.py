"""Part 7 (best practices) exercises."""
import re

from . import exercise, given_session

WORD_LIMIT = 40
# Questions whose full answer tempts a model to write a paragraph; each comes with its passage.
SHORT_QUESTIONS = (
    ("ghg-scope2-01-purchased-electricity",
     "Explain what Scope 2 emissions from purchased electricity are and how a company should report them."),
    ("ghg-scope3-06-business-travels",
     "What does the business travel category include, and which trips does it leave out?"),
)
SAME_QUESTION = ("ghg-scope2-01-purchased-electricity", "In one sentence: what are Scope 2 emissions?")
SEEDS = (1, 2, 3)
DECLINES = re.compile(r"(don't|do not|doesn't|does not) (have|contain|provide) enough information|i don't know", re.I)


def _grounded(doc_id, question):
    from ..show import fact_card
    return f"Context:\n[1] {fact_card(doc_id)}\n\nQuestion: {question}"


def _words(text):
    return len(re.findall(r"\S+", str(text)))


@exercise("07.under_40_words", "a system message that keeps answers under 40 words")
def under_40_words(found, session):
    if not given_session(found, session, "check('07.under_40_words', short)"):
        return
    if not (session.system_message or "").strip():
        found.fail("the session has no system message: pass system_message=my_system_message")
        return
    if session.max_tokens is not None and session.max_tokens < 100:
        found.fail(f"max_tokens={session.max_tokens} cuts answers off mid-sentence instead of making them short: "
                   f"keep max_tokens=200 and put the length rule in the system message")
        return
    too_long, refused, cut = [], [], []
    for n, (doc_id, question) in enumerate(SHORT_QUESTIONS, 1):
        session.reset()
        reply = session.send_message(_grounded(doc_id, question))
        text = str(reply).strip()
        words = _words(text)
        found.info(f"answer {n} ({words} words): {text}")
        if reply.finish_reason == "length":
            cut.append(n)
        elif DECLINES.search(text) or words < 5:
            refused.append(n)
        elif words > WORD_LIMIT:
            too_long.append((n, words))
    if cut:
        found.fail(f"answer {', '.join(map(str, cut))} hit max_tokens and was cut off: the model did not keep it "
                   f"short by itself. Make the length rule explicit, e.g. 'Reply in one sentence of at most 30 words.'")
    elif too_long:
        which = ", ".join(f"answer {n} has {w} words" for n, w in too_long)
        found.fail(f"{which}. Say the limit as a rule the model can follow: a number of sentences and of words, "
                   f"aimed below {WORD_LIMIT} (models overshoot a word count), last in the system message, e.g. "
                   f"'Reply in one sentence of at most 30 words.'")
    elif refused:
        found.fail(f"answer {', '.join(map(str, refused))} does not answer: each question comes with the passage "
                   f"that answers it. Keep the length rule, but do not tell the model to refuse")
    else:
        found.ok(f"both answers are under {WORD_LIMIT} words, complete, and answer the question")


@exercise("07.same_answer", "a temperature that gives the same answer to a factual question every time")
def same_answer(found, session):
    if not given_session(found, session, "check('07.same_answer', factual)"):
        return
    t = session.temperature
    if t is None:
        found.fail("the session has no temperature: create it with temperature=...")
        return
    answers, saved = [], session.seed
    try:
        for seed in SEEDS:   # the learner's own session (its endpoint, model, temperature), one seed per try
            session.seed = seed
            session.reset()
            answers.append(str(session.send_message(_grounded(*SAME_QUESTION))).strip())
    finally:
        session.seed = saved
    for seed, text in zip(SEEDS, answers):
        found.info(f"seed {seed}: {text}")
    distinct = len({" ".join(a.lower().split()) for a in answers})
    if session.provider == "anthropic" and session.mode != "live":
        found.info("Anthropic's API has no seed: the local backend samples each repeat alike, so the answers "
                   "cannot differ here; run it with provider='openai' to see temperature at work")
    if distinct == 1:
        found.ok(f"temperature={t:g}: the same answer {len(SEEDS)} times out of {len(SEEDS)}")
        if t > 0.3:
            found.info(f"{t:g} happened to repeat here; across many questions, 0-0.2 keeps factual answers stable")
        return
    if t > 0.3:
        found.fail(f"temperature={t:g} gave {distinct} different answers in {len(SEEDS)} tries: at that temperature "
                   f"the sampler strays from the most likely words. Lower it (the workshop uses 0.1 for facts)")
    else:
        found.fail(f"temperature={t:g} still gave {distinct} different answers: a small model's top words are often "
                   f"near-ties that another seed tips. Try temperature=0, where the sampler always takes the most "
                   f"likely word")
