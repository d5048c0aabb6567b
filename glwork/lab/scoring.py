"""The homework's rubric lines, each scored from what the grader measured (see watch.py).

Workshop text, "Homework Assignment": index 10+ documents with RAGEngine, an agent that answers
questions, semantic caching, track and report costs (25 points each); bonus: hybrid search,
citation mode, multi-provider fallback (5 each).
"""
import math
import re

from .attendee_code import describe, is_number
from .watch import same_money

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def is_hit(run, original):
    """`run` was served from a cache: no LLM call, the answer `original` got from one."""
    return (run is not None and run.ok and original.ok and original.llm_calls > 0 and run.llm_calls == 0
            and run.answer != "" and run.answer == original.answer)


def served_again(runs):
    """How many runs gave, without an LLM call, an answer an earlier run got from one (cache hits)."""
    written, hits = set(), 0
    for run in runs:
        if run.ok and run.llm_calls == 0 and run.answer in written:
            hits += 1
        elif run.ok and run.llm_calls:
            written.add(run.answer)
    return hits


def score_index(item, rag, indexed):
    if rag is None:
        item.notes.append("no RAGEngine on the agent: create one in setup() (self.rag = RAGEngine(...)) and "
                          "index your documents")
        return
    own, held = len(indexed), len(rag)
    if own >= 10:
        item.points = 25
        item.notes.append(f"setup() indexed {own} documents ({rag.stats()['chunks']} chunks)")
    elif own:
        item.points = 10
        item.notes.append(f"setup() indexed only {own} documents: index at least 10")
    else:
        item.points = 5
        item.notes.append(
            f"the RAGEngine holds {held} documents, but your setup() indexed none of them (a saved index, or "
            f"one built outside the agent): the homework counts what setup() indexes with index_documents()"
            if held else "a RAGEngine exists but holds no documents: call self.rag.index_documents([...]) in setup()")


def score_answers(item, asked, known_docs):
    """`asked`: [(Question, Run)]. Shape 5, written by an LLM from the agent's own index 5, grounded 15."""
    runs = [run for _, run in asked]
    if all(run.answer and run.sources and len(run.source_ids) == len(run.sources) for run in runs):
        item.points += 5
    else:
        item.notes.append("return a dict with a non-empty 'answer' and 'sources' (a list of dicts, each with "
                          "the document's 'id')")
    unknown = sorted({i for run in runs for i in run.source_ids if i not in known_docs})
    if any(run.llm_calls == 0 and run.says("cached") for run in runs):
        item.notes.append("a first question was already in your cache (one kept on disk?): grade with an empty "
                          "cache, so that the grader sees your agent answer")
    elif any(run.llm_calls == 0 for run in runs):
        item.notes.append("an answer was not written by an LLM (no ChatSession call): send the question and "
                          "the retrieved passages to your ChatSession")
    elif unknown:
        item.notes.append(f"sources that are not documents of your index: {', '.join(unknown[:3])}")
    elif runs and all(run.sources for run in runs):
        item.points += 5
    share = 15 / len(asked)
    for q, run in asked:
        why = q.wrong(run.answer) if q.require_all or q.forbid else None
        if why is None and not run.llm_calls:
            why = "was not written by an LLM"
        elif why is None and q.doc and q.doc not in run.source_ids:
            why = (f"its sources do not include {q.doc}, the document that holds the fact"
                   + ("" if q.doc in known_docs else " (it is not in your index)"))
        if why is None:
            item.points += share
            item.notes.append(f"{q.question!r}: grounded" + (f" in {q.doc}" if q.doc else ""))
        else:
            item.notes.append(f"{q.question!r}: the answer {why}")
    item.points = round(item.points, 2)


def score_caching(item, pairs, repeat, other, first):
    """`pairs`: [(paraphrase run, original run)]; `repeat`: the first question asked again (or None);
    `other`: a different question, asked after `first`."""
    hits = 0
    for run, original in pairs:
        if is_hit(run, original):
            hits += 1
            flagged = run.says("cached") is True
            item.points += 10 if flagged else 8
            item.notes.append(f"{run.query!r} was served from the cache" +
                              ("" if flagged else " (the result should say so: 'cached': True)"))
        elif not run.ok:
            item.notes.append(f"{run.query!r} failed: {run.error or 'no result dict'}")
        elif run.says("cached") and run.llm_calls:
            item.notes.append(f"{run.query!r} says 'cached' but made {run.llm_calls} LLM call(s): "
                              f"a cache hit answers without calling the model")
        elif not run.llm_calls and original.llm_calls:
            item.notes.append(f"{run.query!r} was answered without an LLM call, but not with the answer "
                              f"{original.query!r} got: return the cached answer as it was")
        else:
            item.notes.append(f"{run.query!r} (the same question as {original.query!r} in other words) was "
                              f"answered again ({run.llm_calls} LLM call(s)), not from a cache")
    if not hits:
        if is_hit(repeat, first):
            item.points += 5
            item.notes.append("only the exact question is cached: look answers up by meaning with "
                              "SemanticCacheManager")
        return
    if other.ok and other.llm_calls == 0 and other.answer == first.answer:
        item.notes.append(f"{other.query!r} got the cached answer of {first.query!r} (a false hit)")
    elif other.ok:
        item.points += 5
        item.notes.append(f"{other.query!r} (another question) was not served a cached answer")


def score_costs(item, agent, runs, first_run_index):
    """Per-answer cost and tokens (10), cost_report() (15), checked against the measured LLM calls."""
    answered = [r for r in runs if r.ok]
    for key, points, measured, same in (("cost", 5, lambda r: r.cost, same_money),
                                        ("tokens", 5, lambda r: r.tokens, lambda a, b: a == b)):
        missing = [r for r in answered if not r.said_itself(key)]
        wrong = [r for r in answered if r.said_itself(key) and not same(r.says(key), measured(r))]
        if missing:
            item.notes.append(f"execute() returns no {key!r} (the kit filled it in): report each answer's {key}")
        elif wrong:
            r = wrong[0]
            item.notes.append(f"{r.query!r} says {key} {r.says(key)!r}, but its LLM calls used {measured(r)!r} "
                              f"(report this answer's own {key}; 0 for a cache hit)")
        else:
            item.points += points
    if not item.notes:
        item.notes.append("every answer reports its own cost and tokens")
    _score_report(item, agent, runs, first_run_index)


def _score_report(item, agent, runs, first):
    report_fn = getattr(agent, "cost_report", None)
    if not callable(report_fn):
        item.notes.append("no cost_report() method: return the total cost, queries, cache hits and tokens")
        return
    try:
        report = report_fn()
    except Exception as exc:
        item.notes.append(f"cost_report() raised {describe(exc)}")
        return
    if not isinstance(report, dict):
        item.notes.append("cost_report() returns nothing yet" if report is None else
                          f"cost_report() returned a {type(report).__name__}: return a dict")
        return
    item.points += 5
    earlier = [r for r in agent.history[:first]]
    measured = [r.cost for r in runs]
    total = None if any(c is None for c in measured) else sum(measured) + sum(
        r.cost for r in earlier if is_number(r.cost) and not math.isnan(r.cost))
    if not is_number(report.get("total_cost")) and report.get("total_cost") is not None:
        item.notes.append("cost_report()['total_cost'] is not a number")
    elif "total_cost" not in report:
        item.notes.append("cost_report() has no 'total_cost'")
    elif same_money(report["total_cost"], total):
        item.points += 5
        item.notes.append(f"cost_report(): total_cost matches the {len(agent.history)} runs")
    else:
        item.notes.append(f"cost_report() says total_cost {report['total_cost']!r}, but the answers cost "
                          f"{total!r}")
    hits = served_again(runs) + sum(1 for r in earlier if isinstance(r.output, dict) and r.output.get("cached"))
    ok_runs = sum(1 for r in agent.history if r.status == "ok")
    queries, cached = report.get("queries"), report.get("cache_hits")
    if queries in (ok_runs, len(agent.history)) and cached == hits:
        item.points += 5
    else:
        item.notes.append(f"cost_report() says queries={queries!r}, cache_hits={cached!r}; the agent ran "
                          f"{ok_runs} queries, {hits} from the cache")


def score_hybrid(item, runs, rag):
    searches = [s for r in runs for s in r.searches]
    if searches and all(s == "hybrid" for s in searches):
        item.points = 5
        item.notes.append(f"retrieval used hybrid search ({len(searches)} searches)")
    elif rag is not None and rag.search_type == "hybrid":
        item.notes.append(f"RAGEngine(search_type='hybrid'), but the answers' retrieval used "
                          f"{', '.join(sorted(set(searches))) or 'no search'}")
    elif "hybrid" in searches:
        item.notes.append("some retrieval was not hybrid")


def score_citations(item, asked):
    """Every answer carries [n] markers that name one of its sources, and cites the fact's document."""
    problems = []
    for q, run in asked:
        numbers = [int(n) for m in MARKER.finditer(run.answer) for n in re.split(r"\s*,\s*", m.group(1))]
        ids = run.source_ids
        if not numbers:
            problems.append(f"{q.question!r}: no [n] citation markers in the answer")
        elif any(not 1 <= n <= len(ids) for n in numbers):
            problems.append(f"{q.question!r}: markers {sorted(set(numbers))} but only {len(ids)} sources")
        elif q.doc and q.doc not in {ids[n - 1] for n in numbers}:
            problems.append(f"{q.question!r}: cites {sorted(set(numbers))}, not the source holding the fact")
    if problems:
        item.notes += problems
    elif asked:
        item.points = 5
        item.notes.append("every answer cites its sources as [n] markers that resolve to them")


def score_fallback(item, run, primary, injected, consumed):
    if run is None:
        return
    if consumed < injected:
        item.notes.append(f"the injected fault did not reach the primary ({consumed}/{injected} consumed)")
        return
    served = [e for e in run.calls if e.get("fallback_used") or e.get("provider") != primary.provider]
    if run.ok and run.answer and served:
        e = served[0]
        item.points = 5
        item.notes.append(f"the primary failed ({injected} injected errors) and {e.get('provider')}/"
                          f"{e['record'].requested_model} answered")
    elif run.ok and run.answer:
        item.notes.append("an answer came back, but from no other provider or model")
    else:
        item.notes.append(f"the primary failed ({injected} injected errors) and nothing else answered: "
                          f"{run.error or 'no answer'}")
