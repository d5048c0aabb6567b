"""glwork.lab.check_step: for each step of the lab, a deliberately broken agent is caught with a
message that says what to fix, and a right one passes. Answers come from the local backend's
extractive engine (fast); the index is built once and reloaded by each agent's setup()."""
import pytest

import glwork.lab as lab
from glwork.agents import Agent, CarbonQAAgent, find_sources
from glwork.lab.checks import FIRST, OTHER, QUERIES, SIMILAR
from glwork.llm import ChatSession, RAGEngine, SemanticCacheManager
from lab_helpers import agent_index, build_index, small_documents


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("lab-index") / "store")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return agent_index(tmp_path_factory.mktemp("lab-agent-index"))


@pytest.fixture(autouse=True)
def local(monkeypatch, _clean_provider_env):
    monkeypatch.setenv("GLWORK_MODE", "local")
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")


def fails_with(result, *phrases):
    text = "\n".join(result.messages("fail"))
    assert result.status == "failed", result
    for phrase in phrases:
        assert phrase in text, result


# ---- the text's agent, step by step -------------------------------------------------------------
class Scaffold(Agent):
    """The text's step 1, as the lab gives it."""

    def __init__(self):
        super().__init__(name="carbon_qa_agent", version="1.0.0")
        self.rag = None
        self.session = None
        self.cache = None

    def setup(self):
        pass

    def execute(self):
        query = self.input_data.get("query")
        if not query:
            raise ValueError("No query provided")

    def teardown(self):
        if self.session:
            self.session.close()


def text_setup(index, system_message="You are a carbon accounting expert. Answer using the provided context.",
               cache=lambda: SemanticCacheManager(similarity_threshold=0.95, ttl=3600), temperature=0.3):
    def setup(self):
        self.rag = RAGEngine.load(index)   # the text indexes here; the tests reload a saved index
        self.session = ChatSession(provider="openai", model="gpt-4", system_message=system_message,
                                   temperature=temperature, max_tokens=60)
        self.cache = cache()
    return setup


def text_execute(self):
    """The text's step 3, verbatim: it keeps the conversation, reports running totals, and has no
    'tokens' on a cache hit."""
    query = self.input_data.get("query")
    cached_response = self.cache.get(query) if query else None
    if not query:
        raise ValueError("No query provided")
    if cached_response:
        return {"answer": cached_response["answer"], "sources": cached_response["sources"], "cached": True,
                "cost": 0}
    rag_response = self.rag.query(query, include_sources=True)
    context = "\n\n".join([f"Source {i+1}: {doc['content']}" for i, doc in enumerate(rag_response.sources)])
    answer = self.session.send_message(f"Context:\n{context}\n\nQuestion: {query}\n\nPlease answer based on "
                                       f"the context above. Cite sources by number.")
    result = {"answer": answer, "sources": [{"id": s["id"], "score": s["score"], "content": s["content"][:200]}
                                            for s in rag_response.sources],
              "cached": False, "cost": self.session.get_cost(), "tokens": self.session.get_token_count()}
    self.cache.set(query, {"answer": answer, "sources": result["sources"]})
    return result


def fixed_execute(self):
    """The solution's step 3."""
    query = self.input_data.get("query")
    if not query:
        raise ValueError("No query provided")
    hit = self.cache.get(query)
    if hit:
        return {**hit, "cached": True, "cost": 0, "tokens": 0}
    sources = find_sources(self.rag, query)
    context = "\n\n".join(f"Source {i+1}: {s['content']}" for i, s in enumerate(sources))
    self.session.reset()
    answer = self.session.send_message(f"Context:\n{context}\n\nQuestion: {query}")
    result = {"answer": str(answer), "sources": [{"id": s["id"], "score": s["score"], "content": s["content"][:200]}
                                                 for s in sources],
              "cached": False, "cost": answer.cost, "tokens": answer.usage.total_tokens}
    self.cache.set(query, {"answer": result["answer"], "sources": result["sources"]})
    return result


def agent_class(**methods):
    return type("CarbonQAAgent", (Scaffold,), methods)


# ---- step 1 ---------------------------------------------------------------------------------------
def test_step1_passes_the_texts_structure():
    result = lab.check_step(1, Scaffold())
    assert result.status == "passed" and lab.passed(1), result
    assert "execute() refuses an input without a query (ValueError)" in result.messages("ok")


def test_step1_catches_a_class_that_is_not_an_agent():
    class CarbonQAAgent:
        rag = session = cache = None
    fails_with(lab.check_step(1, CarbonQAAgent()), "does not inherit from Agent", "class CarbonQAAgent(Agent):")
    assert not lab.passed(1)
    fails_with(lab.check_step(1, Scaffold), "got the class Scaffold, not an agent: pass Scaffold()")


def test_step1_catches_the_wrong_name_and_missing_attributes():
    class Named(Scaffold):
        def __init__(self):
            Agent.__init__(self, name="qa", version="0.1")
    fails_with(lab.check_step(1, Named()), "called 'qa' version '0.1'", 'name="carbon_qa_agent"',
               "__init__ does not set self.rag, self.session, self.cache")


def test_step1_catches_execute_that_does_not_check_the_query_first():
    def execute(self):
        return self.cache.get(self.input_data.get("query"))
    fails_with(lab.check_step(1, agent_class(execute=execute)()), "with no query, execute() raised AttributeError",
               'raise ValueError("No query provided")')


def test_step1_catches_a_teardown_that_fails_before_setup_and_missing_methods():
    def teardown(self):
        self.session.close()
    fails_with(lab.check_step(1, agent_class(teardown=teardown)()), "teardown() fails before setup() ran",
               "if self.session:")

    class NoExecute(Agent):
        def __init__(self):
            super().__init__(name="carbon_qa_agent", version="1.0.0")
            self.rag = self.session = self.cache = None
    fails_with(lab.check_step(1, NoExecute()), "setup(), execute(), teardown() are not defined")


def test_no_agent_yet_is_not_done_rather_than_an_error():
    result = lab.check_step(1, None)
    assert result.status == "todo" and "agent = CarbonQAAgent()" in result.messages("todo")[0]
    with pytest.raises(ValueError, match="steps 1 to 4"):
        lab.check_step(5, Scaffold())


# ---- step 2 ---------------------------------------------------------------------------------------
def test_step2_unfilled_setup_is_not_done_yet():
    result = lab.check_step(2, Scaffold())
    assert result.status == "todo" and "fill in its three TODOs" in result.messages("todo")[0]


def test_step2_passes_the_texts_setup(index):
    result = lab.check_step(2, agent_class(setup=text_setup(index))())
    assert result.passed, result
    assert any("RAGEngine: 12 documents" in m for m in result.messages("ok"))


def test_step2_catches_an_index_without_documents_a_missing_cache_and_system_message():
    def setup(self):
        self.rag = RAGEngine()
        self.session = ChatSession(provider="openai", model="gpt-4")
    fails_with(lab.check_step(2, agent_class(setup=setup)()), "holds no documents",
               "self.rag.index_documents(self._load_documents())", "no system_message",
               "self.cache is still None")


def test_step2_reports_setup_errors_and_wrong_types(index):
    def broken(self):
        raise RuntimeError("index file missing")
    fails_with(lab.check_step(2, agent_class(setup=broken)()), "setup() raised RuntimeError: index file missing")

    def wrong(self):
        self.rag, self.session, self.cache = {}, "openai", {}
    fails_with(lab.check_step(2, agent_class(setup=wrong)()), "self.rag is a dict, not a RAGEngine",
               "self.session is a str, not a ChatSession", "self.cache is a dict, not a SemanticCacheManager")


def test_step2_warns_about_a_hot_temperature_and_a_loose_cache(index):
    setup = text_setup(index, temperature=1.2,
                       cache=lambda: SemanticCacheManager(similarity_threshold=0.7, ttl=None, guard=False))
    result = lab.check_step(2, agent_class(setup=setup)())
    assert result.passed, result
    warnings = "\n".join(result.messages("warn"))
    assert "temperature is 1.2" in warnings and "similarity_threshold=0.7 is loose" in warnings
    assert "never expire" in warnings


# ---- step 3 ---------------------------------------------------------------------------------------
def test_step3_unfilled_execute_is_not_done_yet(index):
    agent = agent_class(setup=text_setup(index))()
    result = lab.check_step(3, agent)
    assert result.status == "todo" and "fill in the TODOs of step 3" in result.messages("todo")[0]
    result = lab.check_step(3, Scaffold())
    assert result.status == "todo" and "fill in the TODOs of step 2 first" in result.messages("todo")[0]


def test_step3_catches_the_texts_running_totals_and_warns_about_its_costs(index):
    # (The text's cache hit omits "tokens": Agent.execute_with_input fills in the measured 0, so that is fine.)
    agent = agent_class(setup=text_setup(index), execute=text_execute)()
    result = lab.check_step(3, agent)
    assert "no 'tokens'" not in "\n".join(result.messages("fail"))
    fails_with(result, "'cost' is the session's running total", "answer.cost",
               "'tokens' is the session's running total", "answer.usage.total_tokens")
    warnings = "\n".join(result.messages("warn"))
    assert "self.session.reset()" in warnings
    assert "rag.query() had the LLM write an answer that execute() does not use (2 extra paid calls" in warnings


def test_step3_passes_the_fixed_execute_and_leaves_no_trace(index):
    agent = agent_class(setup=text_setup(index), execute=fixed_execute)()
    result = lab.check_step(3, agent)
    assert result.passed and lab.passed(3), result
    assert not result.messages("warn"), result
    # the check's own questions are gone: step 4 starts with an empty cache and history
    assert agent.history == [] and all(agent.cache.get(q) is None for q in (FIRST, SIMILAR, OTHER))
    assert agent.session.get_conversation_history()[1:] == []


def test_step3_catches_an_agent_that_never_uses_its_cache(index):
    def execute(self):
        result = fixed_execute(self)
        self.cache.clear()
        return result
    fails_with(lab.check_step(3, agent_class(setup=text_setup(index), execute=execute)()),
               "'What is Scope 3?' asks the same as 'What are Scope 3 emissions?' but was not served from the cache",
               "self.cache.get(query)")


def test_step3_catches_a_cache_that_serves_look_alike_questions(index):
    loose = text_setup(index, cache=lambda: SemanticCacheManager(similarity_threshold=0.8, guard=False))
    fails_with(lab.check_step(3, agent_class(setup=loose, execute=fixed_execute)()),
               "'What are Scope 2 emissions?' was served the cached answer about Scope 3")


def test_step3_catches_a_wrong_result_shape_and_errors(index):
    def no_sources(self):
        result = fixed_execute(self)
        return {"answer": result["answer"], "cached": False, "cost": result["cost"], "tokens": result["tokens"]}
    fails_with(lab.check_step(3, agent_class(setup=text_setup(index), execute=no_sources)()),
               "has no 'sources'", "step 4 prints")

    def text_only(self):
        return str(fixed_execute(self)["answer"])
    fails_with(lab.check_step(3, agent_class(setup=text_setup(index), execute=text_only)()),
               "should return a dict with answer, sources, cached, cost, tokens", "returned a str")

    def boom(self):
        if not self.input_data.get("query"):
            raise ValueError("No query provided")
        raise KeyError("doc['text']")
    fails_with(lab.check_step(3, agent_class(setup=text_setup(index), execute=boom)()),
               "execute() failed on 'What are Scope 3 emissions?': KeyError")


def test_step3_catches_an_empty_query_that_is_not_refused(index):
    def execute(self):
        if not self.input_data.get("query"):
            return {"answer": "", "sources": [], "cached": False, "cost": 0, "tokens": 0}
        return fixed_execute(self)
    fails_with(lab.check_step(3, agent_class(setup=text_setup(index), execute=execute)()),
               'an empty query should be refused with ValueError("No query provided"), but execute() went on')


# ---- step 4 ---------------------------------------------------------------------------------------
def run_test(agent, queries=QUERIES):
    agent.setup()
    for q in queries:
        agent.execute_with_input({"query": q})
    agent.teardown()
    return agent


def test_step4_before_the_test_ran_is_not_done_yet(index):
    result = lab.check_step(4, agent_class(setup=text_setup(index), execute=fixed_execute)())
    assert result.status == "todo" and "agent = test_agent()" in result.messages("todo")[0]


def test_step4_passes_the_reference_agent(index_dir):
    agent = run_test(CarbonQAAgent(documents=small_documents(), index_dir=index_dir))
    result = lab.check_step(4, agent)
    assert result.passed and not result.messages("warn"), result
    oks = "\n".join(result.messages("ok"))
    assert "'What is Scope 1?': Cached: True, Cost: $0.0000, Tokens: 0" in oks
    assert "answered from Scope 1 and 2 documents (scope1, scope2" in oks
    assert "4 questions, 1 from the cache" in result.messages("info")[0]
    assert "PASSED" in repr(result) and "✓" in repr(result) and "color" in result._repr_html_()


def test_step4_catches_a_missed_cache_hit_and_an_open_session(index):
    def execute(self):
        result = fixed_execute(self)
        self.cache.clear()
        return result
    agent = agent_class(setup=text_setup(index), execute=execute)()
    agent.setup()
    for q in QUERIES:
        agent.execute_with_input({"query": q})
    result = lab.check_step(4, agent)
    fails_with(result, "'What is Scope 1?' was not served from the cache")
    assert "end the test with agent.teardown()" in "\n".join(result.messages("warn"))


def test_step4_warns_when_the_difference_question_misses_a_scope(index):
    def execute(self):   # plain retrieval: all-MiniLM-L6-v2 cannot tell Scope 1 from Scope 2
        result = fixed_execute(self)
        if not result["cached"] and "difference" in self.input_data["query"]:
            result["sources"] = [s for s in result["sources"] if s["id"] != "scope1"]
        return result
    result = lab.check_step(4, run_test(agent_class(setup=text_setup(index), execute=execute)()))
    assert result.passed, result
    assert "answered without a Scope 1 document" in "\n".join(result.messages("warn"))


def test_step4_catches_a_run_that_skipped_questions(index):
    agent = run_test(agent_class(setup=text_setup(index), execute=fixed_execute)(), QUERIES[:2])
    fails_with(lab.check_step(4, agent), "the run did not ask 'Explain Scope 2 emissions'")
