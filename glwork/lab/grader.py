"""`grade_homework(agent)`: scores the homework's document Q&A agent, requirement by requirement.

Requirements (25 points each): index 10+ documents with RAGEngine; answer questions; semantic
caching; track and report costs. Bonuses (5 each): hybrid search, citation mode, multi-provider
fallback. The grader asks the agent three questions (a question, a paraphrase of it, another
question), so it costs two LLM calls. Nothing raises: a missing piece scores 0 and says why.
"""
import math

from .probe import ask, describe, is_number
from .report import Grade, GradeItem

INDEX, ANSWERS, CACHING, COSTS = ("Index 10+ documents (RAGEngine)", "Answer questions",
                                  "Semantic caching", "Track and report costs")
HYBRID, CITATIONS, FALLBACK = "Hybrid search", "Citation mode", "Multi-provider fallback"


def grade_homework(agent, question="What are Scope 1 emissions?", paraphrase="What is Scope 1?",
                   other_question="What are Scope 2 emissions?"):
    """Grade `agent` (an Agent taking {"query": ...}); returns a `Grade` (Jupyter shows the table).

    For documents other than the carbon corpus, pass a `question` they answer, a `paraphrase` of it
    (same meaning, other words: the cache should serve it) and an `other_question` that must not
    get the first answer.
    """
    items = {name: GradeItem(name, 0, 25) for name in (INDEX, ANSWERS, CACHING, COSTS)}
    items.update({name: GradeItem(name, 0, 5, bonus=True) for name in (HYBRID, CITATIONS, FALLBACK)})
    try:
        _grade(agent, items, question, paraphrase, other_question)
    except Exception as exc:   # the attendee's bug becomes a note, never a traceback
        items[ANSWERS].notes.append(f"grading stopped on an error from your code: {describe(exc)}")
    for item in items.values():
        if not item.notes:
            item.notes.append("not attempted" if item.bonus else "needs answers first (see Answer questions)")
    return Grade(list(items.values()))


def _part(agent, kind):
    """The agent's component of class `kind`: self.rag / self.session / self.cache, or any attribute."""
    for value in vars(agent).values():
        if isinstance(value, kind):
            return value
    return None


def _grade(agent, items, question, paraphrase, other_question):
    from ..agents import Agent
    from ..cache import SemanticCacheManager
    from ..rag.engine import RAGEngine
    from ..session import ChatSession
    if agent is None or isinstance(agent, type) or not isinstance(agent, Agent):
        what = "nothing" if agent is None else "a class, not an agent" if isinstance(agent, type) \
            else f"a {type(agent).__name__}, not an Agent"
        items[ANSWERS].notes.append(f"grade_homework got {what}: pass an instance of your Agent subclass")
        return
    if not getattr(agent, "_ready", False):
        try:
            agent.setup()
        except Exception as exc:
            items[INDEX].notes.append(f"setup() raised {describe(exc)}")
            return
    rag, session = _part(agent, RAGEngine), _part(agent, ChatSession)
    cache = _part(agent, SemanticCacheManager)
    _grade_index(rag, items[INDEX])

    first, err = ask(agent, question)
    if not _grade_answer(first, err, question, items[ANSWERS]):
        return
    calls = _calls(session)
    again, err = ask(agent, paraphrase)
    new_calls = _calls(session) - calls
    other, err2 = ask(agent, other_question)
    runs = [r for r in (first, again, other) if isinstance(r, dict)]
    _grade_cache(agent, items[CACHING], cache, session, question, paraphrase, other_question,
                 again, err, new_calls, other, err2, runs)
    _grade_costs(agent, items[COSTS], session, runs)
    _grade_bonus(rag, session, runs, items)


def _grade_index(rag, item):
    if rag is None:
        item.notes.append("no RAGEngine on the agent: create one in setup() (self.rag = RAGEngine(...)) and "
                          "index your documents")
        return
    docs = len(rag)
    if docs >= 10:
        item.points = 25
        item.notes.append(f"{docs} documents in {rag.stats()['chunks']} chunks")
    elif docs:
        item.points = 10
        item.notes.append(f"only {docs} documents indexed: index at least 10")
    else:
        item.points = 5
        item.notes.append("a RAGEngine exists but holds no documents: call rag.index_documents([...])")


def _grade_answer(result, err, question, item):
    if err:
        item.notes.append(f"{question!r} failed: {err}")
        return False
    if result is None:
        item.notes.append("execute() returns nothing yet: return a dict with the answer and its sources")
        return False
    if not isinstance(result, dict):
        item.points = 5 if str(result).strip() else 0
        item.notes.append(f"execute() returned a {type(result).__name__}: return a dict with 'answer' and 'sources'")
        return False
    if isinstance(result.get("answer"), str) and result["answer"].strip():
        item.points += 15
        item.notes.append(f"answered {question!r}")
    else:
        item.notes.append("the result has no answer text ('answer')")
    sources = result.get("sources")
    if isinstance(sources, list) and sources and all(isinstance(s, dict) and "id" in s for s in sources):
        item.points += 10
        item.notes.append(f"{len(sources)} sources: {', '.join(str(s['id']) for s in sources)}")
    else:
        item.notes.append("no sources: return the retrieved passages as 'sources' (each with an 'id')")
    return True


def _calls(session):
    try:
        return len(session.get_calls())
    except Exception:
        return 0


def _grade_cache(agent, item, cache, session, question, paraphrase, other_question, again, err, new_calls,
                 other, err2, runs):
    hooked = session is not None and getattr(session, "_cache", None) is not None
    if cache is None and not hooked:
        item.notes.append("no SemanticCacheManager on the agent (nor ChatSession(semantic_cache=True))")
    if err:
        item.notes.append(f"{paraphrase!r} failed: {err}")
        return
    flagged = isinstance(again, dict) and bool(again.get("cached"))
    served = flagged or (session is not None and new_calls == 0)
    if served:
        item.points += 15
        item.notes.append(f"{paraphrase!r} was served from the cache")
        if not isinstance(again, dict) or "cached" not in again:
            item.notes.append("(the result does not say so: add 'cached': True/False)")
        if isinstance(again, dict) and again.get("cost") == 0:
            item.points += 5
        else:
            item.notes.append("a cache hit should report 'cost': 0")
    else:
        repeat, _ = ask(agent, question)
        if isinstance(repeat, dict) and repeat.get("cached"):
            item.points += 8
            item.notes.append(f"only the exact question is cached; {paraphrase!r} (same meaning) missed: "
                              f"look answers up by meaning with SemanticCacheManager")
            runs.append(repeat)
        else:
            item.notes.append(f"{paraphrase!r} (the same question in other words) was answered again, not "
                              f"from a cache")
    if err2:
        item.notes.append(f"{other_question!r} failed: {err2}")
    elif isinstance(other, dict) and other.get("cached"):
        item.notes.append(f"{other_question!r} got a cached answer to another question (a false hit)")
    elif served:
        item.points += 5
        item.notes.append(f"{other_question!r} was not served the wrong answer")


def _grade_costs(agent, item, session, runs):
    if runs and all(is_number(r.get("cost")) for r in runs):
        item.points += 5
        item.notes.append("every answer reports its cost")
    else:
        item.notes.append("each result should carry 'cost' (dollars)")
    if runs and all(isinstance(r.get("tokens"), int) for r in runs):
        item.points += 5
        item.notes.append("and its tokens")
    else:
        item.notes.append("each result should carry 'tokens'")
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
        item.notes.append(f"cost_report() returned a {type(report).__name__}: return a dict")
        return
    item.points += 10
    total = next((report[k] for k in ("total_cost", "total", "cost") if is_number(report.get(k))), None)
    if total is None:
        item.notes.append("cost_report() has no 'total_cost'")
        return
    candidates = [sum(r.output.get("cost") or 0 for r in agent.history
                      if isinstance(r.output, dict) and is_number(r.output.get("cost"))
                      and not math.isnan(r.output.get("cost")))]
    if session is not None:
        candidates.append(float(session.get_cost()))
    if any(math.isclose(total, c, rel_tol=0.01, abs_tol=1e-6) for c in candidates):
        item.points += 5
        item.notes.append(f"cost_report(): total ${total:.4f}")
    else:
        item.notes.append(f"cost_report() says ${total:.4f}, but the answers cost ${candidates[0]:.4f}")


def _grade_bonus(rag, session, runs, items):
    if rag is not None and rag.search_type == "hybrid":
        items[HYBRID].points = 5
        items[HYBRID].notes.append(f"hybrid search (alpha={rag.alpha})")
    cited = [r for r in runs if r.get("citations")]
    if cited:
        items[CITATIONS].points = 5
        items[CITATIONS].notes.append(f"answers carry citations, e.g. {cited[0]['citations'][0]}")
    elif rag is not None and rag.citation_mode:
        items[CITATIONS].points = 5
        items[CITATIONS].notes.append("RAGEngine(citation_mode=True)")
    routes = getattr(getattr(session, "_runner", None), "routes", [])
    if len(routes) > 1:
        items[FALLBACK].points = 5
        items[FALLBACK].notes.append("falls back to " + ", ".join(f"{r.provider}/{r.model}" for r in routes[1:]))
