"""`grade_homework(DocumentQAAgent)`: scores the homework's document Q&A agent on what it does.

Rubric (the workshop text's homework; scoring.py says how each line is measured): index 10+
documents with RAGEngine, answer questions, semantic caching, track and report costs (25 each);
bonus: hybrid search, citation mode, multi-provider fallback (5 each).

The grader builds the agent, runs its setup() (counting what it indexes), then asks held-out
questions about documents it indexed (questions.py): question A, A in other words, question B, B
in other words, and question C with a fault injected on the primary provider (the local
backend's fault script). Three answers need the LLM, more if the cache misses. Nothing raises:
a missing piece scores 0 and says why. The kit's reference agent is refused.

On the local backend the grader answers with the extractive engine: it quotes the passages the
agent put in its prompt, so "grounded" measures the learner's retrieval and prompt, the same on
every run, rather than the wording of a 0.5B model (which stated the fact for 4 of 10 questions
with a correct solution's prompt). Live sessions answer with the live model.
"""
import contextlib
import os

from .attendee_code import describe
from .homework_grade import HomeworkGrade, HomeworkItem
from .questions import as_question, pick
from .scoring import (
    is_hit,
    score_answers,
    score_caching,
    score_citations,
    score_costs,
    score_fallback,
    score_hybrid,
    score_index,
)
from .watch import Watch

INDEX, ANSWERS, CACHING, COSTS = ("Index 10+ documents (RAGEngine)", "Answer questions",
                                  "Semantic caching", "Track and report costs")
HYBRID, CITATIONS, FALLBACK = "Hybrid search", "Citation mode", "Multi-provider fallback"
KEYS = {INDEX: "index", ANSWERS: "answers", CACHING: "caching", COSTS: "costs", HYBRID: "hybrid",
        CITATIONS: "citations", FALLBACK: "fallback"}
FAULT = 503   # the primary provider is unavailable: retried, then the session falls back
REFERENCE = ("this is the kit's reference agent (glwork.agents.CarbonQAAgent{}): the homework is your own "
             "Agent subclass, written in the notebook; it may use RAGEngine, ChatSession and "
             "SemanticCacheManager, not the reference solution")


class Refused(Exception):
    """A submission the grader does not score (the kit's reference agent)."""


def grade_homework(agent, questions=None, seed=None, engine=None):
    """Grade `agent`: your Agent subclass (the grader builds it with no arguments) or an instance of it.
    Returns a `HomeworkGrade` (Jupyter shows the table; `grade.points("caching")` gives one line's points).

    questions: for documents other than the carbon corpus, at least three dicts {"question",
        "paraphrase" (same meaning, other words), "doc" (id of the document with the answer),
        "require_all"/"forbid" (regexes the answer must / must not match)}.
    seed: picks other questions of the pool (default: $GLWORK_HOMEWORK_SEED, else the pool's order).
    engine: the local backend's engine while grading: "extractive" (default, or $GLWORK_HOMEWORK_ENGINE),
        "llama" (the local model) or "auto" (the model if installed).
    """
    items = [HomeworkItem(name, 0, 25, key=KEYS[name]) for name in (INDEX, ANSWERS, CACHING, COSTS)]
    items += [HomeworkItem(name, 0, 5, bonus=True, key=KEYS[name]) for name in (HYBRID, CITATIONS, FALLBACK)]
    grade = HomeworkGrade(items)
    pool = [as_question(q) for q in questions] if questions is not None else None
    if pool is not None and len(pool) < 3:
        raise ValueError("grade_homework(questions=...) needs at least three questions.")
    seed = seed if seed is not None else os.environ.get("GLWORK_HOMEWORK_SEED") or None
    engine = engine or os.environ.get("GLWORK_HOMEWORK_ENGINE") or "extractive"
    try:
        with Watch() as watch, _local_engine(engine):
            _grade(_build(agent, grade), grade, watch, pool, seed)
    except Refused as exc:
        return HomeworkGrade([HomeworkItem(i.name, 0, i.max_points, [], i.bonus, i.key) for i in items],
                             refused=str(exc))
    except _Stop:
        pass
    except Exception as exc:   # the attendee's bug becomes a note, never a traceback
        grade[ANSWERS].notes.append(f"grading stopped on an error: {describe(exc)}")
    if not grade[ANSWERS].notes:
        grade[ANSWERS].notes.append("needs indexed documents first (see Index 10+ documents)")
    for item in grade.items:
        if not item.notes:
            item.notes.append("not attempted" if item.bonus else "needs answers first (see Answer questions)")
    return grade


class _Stop(Exception):
    pass


@contextlib.contextmanager
def _local_engine(engine):
    """GLWORK_LOCAL_ENGINE=engine while grading (the local backend follows it per request)."""
    old = os.environ.get("GLWORK_LOCAL_ENGINE")
    os.environ["GLWORK_LOCAL_ENGINE"] = engine
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GLWORK_LOCAL_ENGINE", None)
        else:
            os.environ["GLWORK_LOCAL_ENGINE"] = old


def _build(agent, grade):
    from ..agents import Agent, CarbonQAAgent
    if isinstance(agent, type) and issubclass(agent, CarbonQAAgent) or isinstance(agent, CarbonQAAgent):
        cls = agent if isinstance(agent, type) else type(agent)
        raise Refused(REFERENCE.format("" if cls is CarbonQAAgent else f", subclassed as {cls.__name__}"))
    if isinstance(agent, type) and issubclass(agent, Agent):
        try:
            return agent()
        except Exception as exc:
            grade[ANSWERS].notes.append(f"{agent.__name__}() failed: {describe(exc)} (the grader builds your "
                                        f"agent with no arguments)")
            raise _Stop from exc
    if not isinstance(agent, Agent):
        what = "nothing" if agent is None else f"a {type(agent).__name__}"
        grade[ANSWERS].notes.append(f"grade_homework got {what}: pass your Agent subclass (or an instance)")
        raise _Stop
    return agent


def _grade(agent, grade, watch, pool, seed):
    from ..rag.engine import RAGEngine
    first_run = len(agent.history)
    try:
        watch.setup(agent)
    except NotImplementedError:
        grade[INDEX].notes.append("setup() is not written yet (replace '# YOUR CODE HERE' and the "
                                  "NotImplementedError with your code)")
    except Exception as exc:
        grade[INDEX].notes.append(f"setup() raised {describe(exc)}")
    _refuse_composed(agent)
    engines = [v for v in vars(agent).values() if isinstance(v, RAGEngine)]
    rag = next((e for e in engines if id(e) in watch.indexed), engines[0] if engines else None)
    indexed = watch.indexed.get(id(rag), set())
    score_index(grade[INDEX], rag, indexed)
    if rag is None or not len(rag):
        raise _Stop
    known = set(indexed) or set(rag.documents)
    qa, qb, qc = pick(known, 3, seed, pool)

    a = watch.ask(agent, qa.question)
    _refuse_delegation(watch)
    if not a.ok:
        grade[ANSWERS].notes.append(f"{qa.question!r} failed: {a.error}" if a.error else
                                    "execute() returns nothing yet: return a dict with the answer and its sources"
                                    if a.result is None else
                                    f"execute() returned a {type(a.result).__name__}: return a dict")
        raise _Stop
    a2 = watch.ask(agent, qa.paraphrase)
    repeat = None if is_hit(a2, a) else watch.ask(agent, qa.question)
    b = watch.ask(agent, qb.question)
    b2 = watch.ask(agent, qb.paraphrase)
    c, primary, injected, consumed = _ask_with_fault(agent, watch, qc.question, a, grade[FALLBACK])
    _refuse_delegation(watch)
    asked = [(qa, a), (qb, b)]
    score_answers(grade[ANSWERS], asked, known)
    by = sorted({f"{e.get('provider')}/{e['record'].model} ({e.get('mode')})" for r in (a, b) for e in r.calls})
    if by:
        grade[ANSWERS].notes.append("answered by " + ", ".join(by))
    score_caching(grade[CACHING], [(a2, a), (b2, b)], repeat, b, a)
    runs = [r for r in (a, a2, repeat, b, b2, c) if r is not None]
    score_costs(grade[COSTS], agent, runs, first_run)
    score_hybrid(grade[HYBRID], [a, b], rag)
    score_citations(grade[CITATIONS], asked)
    score_fallback(grade[FALLBACK], c, primary, injected, consumed)


def _refuse_composed(agent):
    from ..agents import CarbonQAAgent
    for name, value in vars(agent).items():
        if isinstance(value, CarbonQAAgent):
            raise Refused(REFERENCE.format(f", as self.{name}"))


def _refuse_delegation(watch):
    if watch.reference_used:
        raise Refused(REFERENCE.format(", called from your agent"))


def _sessions(agent):
    from ..session import ChatSession
    found = [v for v in vars(agent).values() if isinstance(v, ChatSession)]
    for v in vars(agent).values():
        inner = getattr(v, "answering_session", None)   # RAGEngine.query()'s own session
        if isinstance(inner, ChatSession) and inner not in found:
            found.append(inner)
    return found


def _ask_with_fault(agent, watch, question, answered, item):
    """Ask `question` while the session that answered before fails with HTTP 503 on every attempt
    of its primary route: (run, session, faults injected, faults consumed)."""
    from .. import local
    names = {e.get("session") for e in answered.calls}
    primary = next((s for s in _sessions(agent) if s.name in names), None)
    if primary is None:
        item.notes.append("no ChatSession of the agent answered: keep yours as an attribute (self.session)")
        return None, None, 0, 0
    if primary.mode != "local":
        item.notes.append(f"your session runs in {primary.mode} mode; the grader injects the fault into the "
                          f"local backend: grade offline (GLWORK_MODE=local) to score the fallback")
        return None, primary, 0, 0
    # Requests of a named session carry its name (x-glwork-session) and get their own script.
    target = primary.name if primary.options.name else None
    label = target or "(global)"
    injected = primary.retry_policy.max_retries + 1
    before = local.fault_stats()["injected"]["by_session"].get(label, 0)
    local.inject_faults([FAULT] * injected, session=target)
    try:
        run = watch.ask(agent, question)
    finally:
        consumed = local.fault_stats()["injected"]["by_session"].get(label, 0) - before
        local.clear_faults(target) if target else local.inject_faults([])
    return run, primary, injected, consumed
