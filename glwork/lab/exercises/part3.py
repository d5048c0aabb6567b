"""Part 3 (semantic caching) exercises. Both run on the cache alone: embeddings are local, no LLM call."""
from . import exercise, given

# The workshop lab's sequence: a paraphrase that must be served, another scope's question that must not.
STORED = "What are Scope 1 emissions?"
PARAPHRASE = "What is Scope 1?"
OTHER = "Explain Scope 2 emissions"
EXERCISE_SCOPE = {"user": "exercise-03.threshold"}   # keeps the check's entry apart from the learner's own

# The invalidation exercise's cache: the notebook stocks these (the `stocked` list of section 5).
STOCK = ("What was the EU ETS allowance price in 2023?", "Is purchased electricity Scope 1 or Scope 2?",
         "Which fuels count as Scope 1?", "What is Scope 3?", "Carbon taxes: how do they work?",
         "Which grid electricity factor applies in France?", "What is carbon footprint?",
         "How is carbon offset quality verified?", "Does electricity for EV charging count as Scope 2?")
STALE = tuple(q for q in STOCK if "electricity" in q.lower())


def _is_cache(found, cache, exercise_id, name):
    from ...cache import SemanticCacheManager
    hint = (" (pass the SemanticCacheManager itself; a ChatSession takes one as semantic_cache=...)"
            if hasattr(cache, "send_message") else "")
    return given(found, cache, SemanticCacheManager,
                 "the argument is a {}, not a SemanticCacheManager" + hint + f": check({exercise_id!r}, {name})")


def _row(cache, question, scope):
    """explain()'s row for the stored question in the exercise's scope: cosine, score, decision, reason."""
    rows = [r for r in cache.explain(question, scope=scope, k=10)
            if r["query"] == STORED and not r["reason"].startswith("other scope")]
    return rows[0] if rows else None


def _setting(cache):
    glossary = f"glossary={cache.glossary.name!r}" if cache.glossary else "glossary=None"
    guard = "guard=False" if cache.guard is None else "guard on"
    return f"threshold {cache.similarity_threshold:g}, {guard}, {glossary}"


@exercise("03.threshold", "a threshold or guard setting that serves the paraphrase but not the Scope 2 question")
def threshold(found, cache):
    if not _is_cache(found, cache, "03.threshold", "cache"):
        return
    cache.set(STORED, "(the answer about Scope 1)", scope=EXERCISE_SCOPE)
    try:
        para, other = _row(cache, PARAPHRASE, EXERCISE_SCOPE), _row(cache, OTHER, EXERCISE_SCOPE)
    finally:
        cache.invalidate(STORED, scope=EXERCISE_SCOPE)   # leave the learner's cache as it was
    if para is None or other is None:
        found.fail("the check could not find its cached question again: did the cache's path or max_entries "
                   "change while it ran? Run the cell again")
        return
    t = cache.similarity_threshold
    served, refused = para["decision"] == "HIT", other["decision"] != "HIT"
    if served:
        found.ok(f"{PARAPHRASE!r} is served the answer cached for {STORED!r} (score {para['score']:.3f} >= {t:g})")
    if refused:
        found.ok(f"{OTHER!r} is not served the Scope 1 answer: {other['reason']}")
    if served and refused:
        if t < 0.8:
            found.info(f"a threshold of {t:g} also serves many look-alike questions that ask something else; "
                       f"keep it at 0.9 or more where a wrong answer is expensive")
        if cache.guard is None:
            found.info(f"with the glossary alone the margin is thin: any threshold between {other['score']:.2f} "
                       f"and {para['score']:.2f} works here, but a Scope 2 question worded closer to a cached "
                       f"Scope 1 one would slip through; the guard's rules refuse a different Scope number "
                       f"whatever the similarity")
        return
    plain = cache.guard is None and not cache.glossary
    if plain and other["score"] >= para["score"]:
        found.fail(f"with plain cosine ({_setting(cache)}) the Scope 2 question scores {other['score']:.3f}, "
                   f"higher than the paraphrase's {para['score']:.3f}: no threshold can serve one and refuse the "
                   f"other. Turn the glossary back on (glossary='ghg' makes 'Scope 1 emissions' and 'Scope 1' "
                   f"the same words) or the guard (guard=True: its rules refuse a different Scope number)")
        return
    if not served:
        why = "" if para["reason"].startswith("score") else f" ({para['reason']})"
        found.fail(f"{PARAPHRASE!r} is not served: score {para['score']:.3f} is below your threshold {t:g}{why}. "
                   f"Lower the threshold to at most {int(para['score'] * 100) / 100:.2f}"
                   + ("" if cache.glossary else ", or turn the glossary on (glossary='ghg')"))
    if not refused:
        found.fail(f"{OTHER!r} is served the answer about Scope 1 (score {other['score']:.3f} >= {t:g}): a false "
                   f"hit. Turn the guard on (guard=True: its rules refuse a different Scope number), or raise "
                   f"the threshold above {other['score']:.3f}")


@exercise("03.invalidate", "remove every cached answer about electricity, and nothing else")
def invalidate(found, answers):
    if not _is_cache(found, answers, "03.invalidate", "answers"):
        return
    present = {q for q in STOCK if any(r["query"] == q and r["cosine"] > 0.999 for r in answers.explain(q, k=3))}
    if not present:
        if len(answers) == 0:
            found.fail("the cache is empty: you removed the answers that are still right too "
                       "(clear() empties it). Run the cell again from the top and remove only the electricity ones")
        else:
            found.fail("the cache holds none of the questions of the `stocked` list: fill it as the cell does")
        return
    stale_left = [q for q in STALE if q in present]
    good_gone = [q for q in STOCK if q not in STALE and q not in present]
    if stale_left:
        if len(stale_left) == len(STALE):
            advice = ("invalidate(query) removes only the entries stored for exactly that question, and a pattern "
                      "without * must match the rest of the question too; invalidate_pattern('electricity*') "
                      "matches the stored text from the start of any word")
        else:
            advice = "your pattern missed them: match the word itself, invalidate_pattern('electricity*')"
        found.fail(f"{len(stale_left)} of the {len(STALE)} answers about electricity are still cached: "
                   f"{', '.join(repr(q) for q in stale_left)}: {advice}")
    else:
        found.ok(f"the {len(STALE)} answers about electricity are gone")
    if good_gone:
        found.fail(f"{len(good_gone)} answer(s) that are still right were removed too: "
                   f"{', '.join(repr(q) for q in good_gone)}. Remove by the word 'electricity' only")
    elif not stale_left:
        found.ok(f"the other {len(STOCK) - len(STALE)} answers are still served")
