"""`check_step(n, agent)`: real assertions on the attendee's CarbonQAAgent, said in plain words.

Each step's check runs the agent (steps 2 and 3 call setup() and ask questions) and reports what
is right, what is wrong and how to fix it. Nothing raises: an unfinished step reads "not done yet".
Step 3's own questions are removed from the agent's cache and history afterwards, so step 4's run
starts as the text's does.
"""
import math

from .attendee_code import ask, describe, is_number, money, raised_value_error, source_scope, user_turns
from .report import Findings, StepCheck

TITLES = {1: "Create the agent structure", 2: "Implement setup()", 3: "Implement execute()",
          4: "Test the agent"}
# Step 3 asks its own questions (not step 4's, which would then come back from the cache).
FIRST, SIMILAR, OTHER = "What are Scope 3 emissions?", "What is Scope 3?", "What are Scope 2 emissions?"
# Step 4: the text's test queries.
QUERIES = ("What are Scope 1 emissions?", "What is Scope 1?", "Explain Scope 2 emissions",
           "What's the difference between Scope 1 and 2?")
RESULT_KEYS = ("answer", "sources", "cached", "cost", "tokens")
_last: dict[int, str] = {}


def check_step(n, agent):
    """Check step `n` (1-4) of the lab on `agent`; returns a StepCheck (Jupyter shows it)."""
    if n not in TITLES:
        raise ValueError(f"The lab has steps 1 to 4; check_step got {n!r}.")
    found = Findings()
    if _is_agent(agent, found):
        try:
            STEPS[n](agent, found)
        except Exception as exc:   # a bug in the attendee's code must read as advice, not a traceback
            found.fail(f"the check stopped on an error from your code: {describe(exc)}")
    result = StepCheck(n, TITLES[n], list(found))
    _last[n] = result.status
    return result


def passed(n):
    """True if the last `check_step(n, ...)` in this kernel passed."""
    return _last.get(n) == "passed"


def _is_agent(agent, found):
    from ..agents import Agent
    if agent is None:
        found.todo("there is no agent yet: create one with agent = CarbonQAAgent()")
        return False
    if isinstance(agent, type):
        found.fail(f"check_step got the class {agent.__name__}, not an agent: pass {agent.__name__}() instead")
        return False
    if not isinstance(agent, Agent):
        found.fail(f"the agent is a {type(agent).__name__}, which does not inherit from Agent: "
                   f"write class CarbonQAAgent(Agent): with `from glwork.agents import Agent`")
        return False
    return True


# ---- step 1: structure ---------------------------------------------------------------------------
def step1(agent, found):
    from ..agents import Agent
    found.ok(f"{type(agent).__name__} inherits from Agent")
    if (agent.name, agent.version) == ("carbon_qa_agent", "1.0.0"):
        found.ok("name 'carbon_qa_agent', version '1.0.0'")
    else:
        found.fail(f"the agent is called {agent.name!r} version {agent.version!r}; the text's is "
                   f"super().__init__(name=\"carbon_qa_agent\", version=\"1.0.0\")")
    missing = [a for a in ("rag", "session", "cache") if not hasattr(agent, a)]
    if missing:
        found.fail(f"__init__ does not set {', '.join('self.' + a for a in missing)}: set them to None there "
                   f"(setup() creates them in step 2)")
    else:
        found.ok("__init__ sets self.rag, self.session and self.cache")
    own = [m for m in ("setup", "execute", "teardown") if getattr(type(agent), m) is getattr(Agent, m)]
    if own:
        found.fail(f"{', '.join(m + '()' for m in own)} {'is' if len(own) == 1 else 'are'} not defined in "
                   f"{type(agent).__name__}: the class needs setup(), execute() and teardown()")
        return
    found.ok("setup(), execute() and teardown() are defined")
    saved = agent.input_data
    agent.input_data = {}
    try:
        agent.execute()
    except ValueError:
        found.ok("execute() refuses an input without a query (ValueError)")
    except Exception as exc:
        found.fail(f"with no query, execute() raised {describe(exc)}; it should first check the query and "
                   f"raise ValueError(\"No query provided\")")
    else:
        found.fail("with no query, execute() carried on: check it first and raise ValueError(\"No query provided\")")
    finally:
        agent.input_data = saved
    if getattr(agent, "session", None) is None:
        try:
            agent.teardown()
        except Exception as exc:
            found.fail(f"teardown() fails before setup() ran ({describe(exc)}): guard it with `if self.session:`")
        else:
            found.ok("teardown() is safe before setup() ran")


# ---- step 2: setup -------------------------------------------------------------------------------
def _set_up(agent, found, todo="setup() creates nothing yet: fill in its three TODOs (RAGEngine, ChatSession, "
                                "SemanticCacheManager)"):
    """Run setup() if nothing is set up yet; False if it failed or created nothing."""
    parts = [getattr(agent, a, None) for a in ("rag", "session", "cache")]
    if all(p is None for p in parts):
        try:
            agent.setup()
        except Exception as exc:
            found.fail(f"setup() raised {describe(exc)}")
            return False
        parts = [getattr(agent, a, None) for a in ("rag", "session", "cache")]
        if all(p is None for p in parts):
            found.todo(todo)
            return False
    return True


def step2(agent, found):
    if not _set_up(agent, found):
        return
    _check_rag(agent, found)
    _check_session(agent, found)
    _check_cache(agent, found)


def _check_rag(agent, found):
    from ..rag.engine import RAGEngine
    rag = getattr(agent, "rag", None)
    if rag is None:
        found.fail("self.rag is still None: create it in setup(), self.rag = RAGEngine(...)")
        return
    if not isinstance(rag, RAGEngine):
        found.fail(f"self.rag is a {type(rag).__name__}, not a RAGEngine")
        return
    docs = len(rag)
    if docs == 0:
        found.fail("the RAGEngine holds no documents: call self.rag.index_documents(self._load_documents()) "
                   "in setup()")
        return
    stats = rag.stats()
    found.ok(f"RAGEngine: {docs} documents in {stats['chunks']} chunks, top_k={rag.top_k}, "
             f"{rag.search_type} search")
    if docs < 10:
        found.warn(f"only {docs} documents are indexed (the text's three stubs?): the lab's _load_documents() "
                   f"returns the 38 documents of the carbon corpus")
    if rag.top_k > 5:
        found.warn(f"top_k={rag.top_k}: every passage goes into the prompt and is paid for; the text uses 3")


def _check_session(agent, found):
    from ..session import ChatSession
    session = getattr(agent, "session", None)
    if session is None:
        found.fail("self.session is still None: create it in setup(), self.session = ChatSession(...)")
        return
    if not isinstance(session, ChatSession):
        found.fail(f"self.session is a {type(session).__name__}, not a ChatSession")
        return
    if session.closed:
        found.fail("the session is closed (teardown() ran): create the agent again, or run its setup()")
        return
    if not session.system_message:
        found.fail("the ChatSession has no system_message: tell the model to answer from the provided context "
                   "and cite sources, as the text's does")
    else:
        found.ok(f"ChatSession: {session.provider} / {session.model} with a system message")
    t = session.temperature
    if t is None or t > 0.5:
        found.warn(f"temperature is {'the provider default (1.0)' if t is None else t}: factual answers want a "
                   f"low one; the text uses 0.3")


def _check_cache(agent, found):
    from ..cache import SemanticCacheManager
    cache = getattr(agent, "cache", None)
    if cache is None:
        found.fail("self.cache is still None: create it in setup(), self.cache = SemanticCacheManager(...)")
        return
    if not isinstance(cache, SemanticCacheManager):
        found.fail(f"self.cache is a {type(cache).__name__}, not a SemanticCacheManager")
        return
    found.ok(f"SemanticCacheManager: similarity_threshold={cache.similarity_threshold}, ttl={cache.ttl:g}s"
             if cache.ttl else f"SemanticCacheManager: similarity_threshold={cache.similarity_threshold}")
    if cache.similarity_threshold < 0.85:
        found.warn(f"similarity_threshold={cache.similarity_threshold} is loose: questions that only look alike "
                   f"may share an answer; the text uses 0.95")
    if cache.ttl is None:
        found.warn("ttl=None: cached answers never expire; the text keeps them an hour (ttl=3600)")


# ---- step 3: execute -----------------------------------------------------------------------------
def step3(agent, found):
    if not _set_up(agent, found, todo="step 3 needs a working setup(): fill in the TODOs of step 2 first"):
        return
    missing = [a for a in ("rag", "session", "cache") if getattr(agent, a, None) is None]
    if missing:
        found.fail(f"setup() left {', '.join('self.' + a for a in missing)} as None: finish step 2 first")
        return
    before = len(agent.history)
    rag_calls = _rag_calls(agent)
    try:
        _step3_runs(agent, found, rag_calls)
    finally:
        _forget(agent, before)


def _step3_runs(agent, found, rag_calls):
    first, err = ask(agent, FIRST)
    if err:
        found.fail(f"execute() failed on {FIRST!r}: {err}")
        return
    if first is None:
        found.todo("execute() returns nothing yet: fill in the TODOs of step 3 (check the cache, ask RAG + LLM, "
                   "cache the result, return the answer with its sources)")
        return
    if not _result_shape(first, FIRST, found, cached=False):
        return
    found.ok(f"{FIRST!r}: answered by the LLM from {len(first['sources'])} sources, cost {money(first['cost'])}, "
             f"{first['tokens']} tokens")

    again, err = ask(agent, SIMILAR)
    if err:
        found.fail(f"execute() failed on {SIMILAR!r}: {err}")
        return
    if not isinstance(again, dict) or not again.get("cached"):
        found.fail(f"{SIMILAR!r} asks the same as {FIRST!r} but was not served from the cache: look the query up "
                   f"with self.cache.get(query) first, and store the result with self.cache.set(query, {{...}})")
    else:
        _cached_shape(again, first, found)

    session = agent.session
    spent_before, tokens_before = _session_totals(session)
    other, err = ask(agent, OTHER)
    if err:
        found.fail(f"execute() failed on {OTHER!r}: {err}")
        return
    if not _result_shape(other, OTHER, found, cached=None):
        return
    if other["cached"]:
        found.fail(f"{OTHER!r} was served the cached answer about Scope 3: the cache hands out answers to "
                   f"questions that only look alike. Keep similarity_threshold=0.95 and the guard on (the default)")
    else:
        found.ok(f"{OTHER!r} was not served the Scope 3 answer")
        _running_totals(other, session, spent_before, tokens_before, found)

    refused, err = raised_value_error(agent, "")
    if refused:
        found.ok("an empty query is refused with ValueError")
    else:
        found.fail("an empty query should be refused with ValueError(\"No query provided\")"
                   + (f", but execute() raised {err}" if err else ", but execute() went on"))

    if user_turns(session) > 1:
        found.warn("the session keeps every earlier question with its context, so each prompt (and its cost) "
                   "grows: call self.session.reset() before self.session.send_message(prompt)")
    extra = _rag_calls(agent) - rag_calls
    if extra:
        found.warn(f"rag.query() had the LLM write an answer that execute() does not use ({extra} extra paid calls "
                   f"here): self.rag.retrieve(query) returns the sources without calling the LLM")


def _result_shape(result, query, found, cached):
    """False (with the reason) unless `result` is the dict step 4 prints."""
    if not isinstance(result, dict):
        found.fail(f"execute() should return a dict with {', '.join(RESULT_KEYS)}; for {query!r} it returned "
                   f"a {type(result).__name__}")
        return False
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        found.fail(f"the result for {query!r} has no {', '.join(repr(k) for k in missing)}: step 4 prints "
                   f"result['answer'], result['sources'], result['cached'], result['cost'] and result['tokens']")
        return False
    good = True
    if not isinstance(result["answer"], str) or not result["answer"].strip():
        found.fail(f"the answer to {query!r} is empty: return the LLM's reply as 'answer'")
        good = False
    sources = result["sources"]
    if not isinstance(sources, list) or not sources:
        found.fail(f"no sources for {query!r}: return the passages RAG found (id, score, content of each)")
        good = False
    elif not all(isinstance(s, dict) and {"id", "score", "content"} <= set(s) and is_number(s["score"])
                 for s in sources):
        found.fail("each source needs 'id', 'score' (a number) and 'content': step 4 prints src['id'] and "
                   "src['score']")
        good = False
    if cached is False and result["cached"]:
        found.fail(f"{query!r} came back cached=True although nothing was asked before: is the cache left over "
                   f"from an earlier run? Create the agent again")
        good = False
    if not is_number(result["cost"]) or result["cost"] < 0:
        found.fail(f"'cost' should be the question's cost in dollars (a number), got {result['cost']!r}")
        good = False
    if not isinstance(result["tokens"], int) or (not result["cached"] and result["tokens"] <= 0):
        found.fail(f"'tokens' should be the tokens the question used (a whole number), got {result['tokens']!r}")
        good = False
    return good


def _cached_shape(hit, first, found):
    problems = []
    # A result without "tokens" gets the measured 0 from Agent.execute_with_input (the text's step 3 omits it).
    if hit.get("tokens", 0) != 0:
        problems.append(f"a cache hit uses no tokens, but 'tokens' is {hit['tokens']!r}: return 0")
    if hit.get("cost") != 0:
        problems.append(f"a cache hit costs nothing, but 'cost' is {hit.get('cost')!r}: return 0")
    if not hit.get("sources"):
        problems.append("the cached result has no sources: cache them with the answer")
    for p in problems:
        found.fail(p)
    if not problems:
        found.ok(f"{SIMILAR!r} came from the cache: cost $0.0000, 0 tokens")
    if str(hit.get("answer")) != str(first["answer"]):
        found.warn("the cached answer is not the first answer: cache the answer you returned")


def _session_totals(session):
    try:
        return float(session.get_cost()), session.get_token_count()
    except Exception:
        return math.nan, None


def _running_totals(result, session, spent_before, tokens_before, found):
    """Catch the text's slip: session.get_cost() / get_token_count() are the session's running totals."""
    spent_after, tokens_after = _session_totals(session)
    cost, tokens = result["cost"], result["tokens"]
    if not math.isnan(spent_before) and spent_before > 0 and math.isclose(cost, spent_after, abs_tol=1e-9):
        found.fail(f"'cost' is the session's running total (self.session.get_cost()): this question would show "
                   f"{money(cost)} though it cost {money(spent_after - spent_before)}. Return the reply's own cost, "
                   f"answer.cost")
    if tokens_before and tokens == tokens_after:
        found.fail(f"'tokens' is the session's running total (self.session.get_token_count()): this question would "
                   f"show {tokens} though it used {tokens_after - tokens_before}. Return answer.usage.total_tokens")


def _rag_calls(agent):
    session = getattr(getattr(agent, "rag", None), "answering_session", None)   # created only by rag.query()
    try:
        return len(session.get_calls()) if session is not None else 0
    except Exception:
        return 0


def _forget(agent, before):
    """Undo step 3's questions: drop them from the cache, the run history and the conversation."""
    cache = getattr(agent, "cache", None)
    for q in (FIRST, SIMILAR, OTHER):
        try:
            cache.invalidate(q)
        except Exception:
            pass
    del agent.history[before:]
    try:
        agent.session.reset()
    except Exception:
        pass


# ---- step 4: the test run ------------------------------------------------------------------------
def step4(agent, found):
    runs = {r.input.get("query"): r for r in agent.history if isinstance(r.input, dict)}
    if not runs:
        found.todo("the agent has not answered anything yet: run the test above (agent = test_agent())")
        return
    missing = [q for q in QUERIES if q not in runs]
    if missing:
        found.fail(f"the run did not ask {', '.join(repr(q) for q in missing)}: step 4 asks the text's four "
                   f"questions with agent.execute_with_input({{\"query\": query}})")
        return
    results = {}
    for q in QUERIES:
        r = runs[q]
        if r.status != "ok":
            found.fail(f"{q!r} failed: {r.error}")
        elif not isinstance(r.output, dict) or "cached" not in r.output:
            found.fail(f"{q!r} returned no result dict: finish step 3 first")
        else:
            results[q] = r.output
    if len(results) < len(QUERIES):
        return
    q1, q2, q3, q4 = (results[q] for q in QUERIES)
    if q1["cached"]:
        found.fail(f"{QUERIES[0]!r} came from the cache on the first run: test with a new agent")
    else:
        found.ok(f"{QUERIES[0]!r}: answered by the LLM, cost {money(q1.get('cost', 0))}, {q1.get('tokens')} tokens")
    if q2["cached"] and q2.get("cost") == 0 and q2.get("tokens") == 0:
        found.ok(f"{QUERIES[1]!r}: Cached: True, Cost: $0.0000, Tokens: 0 (semantic cache hit)")
    elif q2["cached"]:
        found.fail(f"{QUERIES[1]!r} was a cache hit but reports cost {q2.get('cost')!r} and tokens "
                   f"{q2.get('tokens')!r}: a hit costs $0 and 0 tokens")
    else:
        found.fail(f"{QUERIES[1]!r} was not served from the cache although it asks what {QUERIES[0]!r} asked")
    for q, r in ((QUERIES[2], q3), (QUERIES[3], q4)):
        if r["cached"]:
            found.fail(f"{q!r} was served a cached answer to another question: keep the cache's guard on and "
                       f"similarity_threshold at 0.95")
    _scope_sources(QUERIES[0], q1, {1}, found)
    _scope_sources(QUERIES[3], q4, {1, 2}, found)
    session = getattr(agent, "session", None)
    if session is not None and not getattr(session, "closed", True):
        found.warn("the session is still open: end the test with agent.teardown() (or use `with agent:`)")
    spent = sum(r.get("cost") or 0 for r in results.values() if is_number(r.get("cost")))
    hits = sum(1 for r in results.values() if r["cached"])
    found.info(f"{len(results)} questions, {hits} from the cache: {money(spent)} spent")


def _scope_sources(query, result, wanted, found):
    scopes = {source_scope(s) for s in result.get("sources") or [] if isinstance(s, dict)}
    ids = ", ".join(str(s.get("id")) for s in result.get("sources") or [] if isinstance(s, dict))
    lacking = sorted(wanted - scopes)
    if not lacking:
        found.ok(f"{query!r} was answered from Scope {' and '.join(map(str, sorted(wanted)))} documents ({ids})")
    else:
        found.warn(f"{query!r} was answered without a Scope {' or '.join(map(str, lacking))} document ({ids}). "
                   f"all-MiniLM-L6-v2 hardly tells 'Scope 1' from 'Scope 2'; glwork.agents.find_sources(self.rag, "
                   f"query) adds the best document of each scope a question names")


STEPS = {1: step1, 2: step2, 3: step3, 4: step4}
