"""The Agent lifecycle: setup once, validate, time, record, always tear down, clear errors."""
import json
import logging

import pytest

from glwork.agents import Agent, AgentError, AgentInputError


class Echo(Agent):
    input_schema = {"query": str}

    def __init__(self):
        super().__init__(name="echo", version="1.2.0")
        self.setups = self.teardowns = 0

    def setup(self):
        self.setups += 1

    def execute(self):
        if self.input_data["query"] == "boom":
            raise RuntimeError("exploded with sk-proj-" + "K" * 30)
        return {"answer": self.input_data["query"].upper(), "cost": 0.25}

    def teardown(self):
        self.teardowns += 1


def test_setup_runs_once_and_history_records_runs(caplog):
    a = Echo()
    with caplog.at_level(logging.INFO, logger="glwork.agents"):
        # no LLM call in the run: the missing "tokens" is filled in as 0
        assert a.execute_with_input({"query": "hi"}) == {"answer": "HI", "cost": 0.25, "tokens": 0}
        a.execute_with_input({"query": "again"})
    assert a.setups == 1 and len(a.history) == 2
    assert a.history[0].cost == 0.25 and a.history[0].duration_ms >= 0 and a.history[0].status == "ok"
    assert "echo v1.2.0: run 1 started" in caplog.text and "run finished" in caplog.text
    assert list(a.history_dataframe().columns) == ["input", "status", "duration_ms", "cost", "error"]


def test_explicit_setup_is_not_repeated_even_for_methods_assigned_later():
    class Late(Agent):
        def execute(self):
            return self.input_data
    calls = []
    Late.setup = lambda self: calls.append("setup")  # the lab assembles methods after the class
    a = Late(name="late")
    a.setup()
    a.execute_with_input({"query": "x"})
    assert calls == ["setup"]


@pytest.mark.parametrize("bad,match", [("text", "must be a dict"), ({}, "missing 'query'"),
                                       ({"query": 3}, "must be str")])
def test_bad_input_is_refused_before_anything_runs(bad, match):
    a = Echo()
    with pytest.raises(AgentInputError, match=match):
        a.execute_with_input(bad)
    assert a.setups == 0 and a.history == []


def test_execute_failure_names_agent_version_input_and_hides_keys():
    a = Echo()
    with pytest.raises(AgentError) as e:
        a.execute_with_input({"query": "boom"})
    msg = str(e.value)
    assert "echo v1.2.0" in msg and "'boom'" in msg and "RuntimeError" in msg and "KKKK" not in msg
    assert a.history[-1].status == "error" and "KKKK" not in a.history[-1].error
    assert isinstance(e.value.__cause__, RuntimeError)


def test_context_manager_always_tears_down():
    a = Echo()
    with pytest.raises(AgentError):
        with a:
            a.execute_with_input({"query": "boom"})
    assert a.setups == 1 and a.teardowns == 1


def test_agent_needs_a_name_and_execute():
    with pytest.raises(ValueError):
        Agent(name="")
    with pytest.raises(AgentError, match="must implement execute"):
        Agent(name="bare").execute_with_input({})


# ---- the lab's reference agent, CarbonQAAgent ------------------------------------------------------
import math  # noqa: E402

from glwork.agents import CarbonQAAgent, find_sources, lab_documents, scope_documents, scopes_named  # noqa: E402
from lab_helpers import agent_index, small_documents  # noqa: E402


@pytest.mark.parametrize("text,scopes", [
    ("What are Scope 1 emissions?", [1]), ("What's the difference between Scope 1 and 2?", [1, 2]),
    ("Compare scopes 1, 2 and 3", [1, 2, 3]), ("Scope 3 vs Scope 2?", [3, 2]), ("scope 12 of the contract", []),
    ("What is a carbon footprint?", [])])
def test_scopes_named(text, scopes):
    assert scopes_named(text) == scopes


def test_lab_documents_are_the_corpus_plus_scope_overviews_made_of_corpus_text():
    docs = lab_documents()
    assert len(docs) == 38 and len({d["id"] for d in docs}) == 38
    scope1, scope2, scope3 = scope_documents()
    assert [d["id"] for d in (scope1, scope2, scope3)] == ["scope1", "scope2", "scope3"]
    # the ESRS glossary's definitions, verbatim, and the GHG categories of each scope
    assert "Direct GHG emissions from sources that are owned or controlled by the undertaking." in scope1["content"]
    assert "purchased or acquired electricity, steam, heat or cooling" in scope2["content"]
    assert "Stationary Combustion" in scope1["content"] and "Business Travels" in scope3["content"]
    assert scope1["metadata"]["scope"] == 1 and scope1["metadata"]["sources"][0] == "esrs-sec0890"


def test_scope_documents_refuse_a_corpus_without_the_glossary(tmp_path):
    from glwork.errors import ConfigurationError
    corpus = tmp_path / "carbon-corpus"
    (corpus / "ghg_protocol_categories").mkdir(parents=True)
    (corpus / "sections.jsonl").write_text("")
    with pytest.raises(ConfigurationError, match="ESRS glossary entry 'Scope 1 GHG emissions'.*changed"):
        scope_documents(path=corpus)


class FakeRAG:
    """retrieve() over fixed scores, honouring {"scope": {"$in": [...]}} filters."""

    def __init__(self, chunks):
        self.chunks = chunks   # (doc id, scope or None, score)
        self.calls = []

    def retrieve(self, query, top_k=3, filters=None):
        self.calls.append(filters)
        keep = [c for c in self.chunks if not filters or c[1] in filters["scope"]["$in"]]
        keep.sort(key=lambda c: -c[2])
        return [{"id": d, "score": s, "content": d, "metadata": {} if sc is None else {"scope": sc}}
                for d, sc, s in keep[:top_k]]


def test_find_sources_gives_each_named_scope_its_best_document_one_passage_per_document():
    rag = FakeRAG([("ghg-scope3-03", 3, 0.49), ("scope2", 2, 0.47), ("scope2", 2, 0.46), ("heat", 2, 0.41),
                   ("esrs-e1-6", None, 0.40), ("scope1", 1, 0.31)])
    # plain retrieval would give ghg-scope3-03, scope2, scope2: no Scope 1 at all
    assert [s["id"] for s in find_sources(rag, "What's the difference between Scope 1 and 2?")] == \
        ["scope1", "scope2", "heat"]
    assert [s["id"] for s in find_sources(rag, "What is a carbon footprint?")] == \
        ["ghg-scope3-03", "scope2", "heat"]
    assert rag.calls[-1] is None   # no scope named: no filter


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return agent_index(tmp_path_factory.mktemp("carbon-index"))


@pytest.fixture
def local(monkeypatch, _clean_provider_env):
    monkeypatch.setenv("GLWORK_MODE", "local")
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")   # fast answers; the lifecycle is the point


def test_carbon_agent_answers_caches_and_prices_each_question(local, index_dir):
    with CarbonQAAgent(documents=small_documents(), index_dir=index_dir) as agent:
        assert agent.index_info["loaded_from"].startswith(str(index_dir)) and len(agent.rag) == 12
        first = agent.execute_with_input({"query": "What are Scope 1 emissions?"})
        assert set(first) == {"answer", "sources", "cached", "cost", "tokens"} and first["answer"].strip()
        assert [s["id"] for s in first["sources"]][0] == "scope1" and len(first["sources"]) == 3
        assert all(s["content"].endswith("...") and len(s["content"]) <= 203 for s in first["sources"])
        assert first["cached"] is False and first["cost"] > 0 and first["tokens"] > 0

        hit = agent.execute_with_input({"query": "What is Scope 1?"})
        assert hit["cached"] is True and hit["cost"] == 0 and hit["tokens"] == 0
        assert hit["answer"] == first["answer"] and hit["sources"] == first["sources"]

        other = agent.execute_with_input({"query": "Explain Scope 2 emissions"})
        calls = agent.session.get_calls()
        assert other["cached"] is False and len(calls) == 2
        # this question's own cost and tokens, not the session's running totals
        assert math.isclose(other["cost"], calls[1].cost) and other["tokens"] == calls[1].usage.total_tokens
        assert other["cost"] < agent.session.get_cost()
        # one question per conversation: the prompt does not carry the earlier ones
        assert [m["role"] for m in agent.session.get_conversation_history()] == ["system", "user", "assistant"]

        report = agent.cost_report()
        assert report["queries"] == 3 and report["cache_hits"] == 1 and report["llm_calls"] == 2
        assert math.isclose(report["total_cost"], first["cost"] + other["cost"], abs_tol=1e-6)
        assert report["tokens"] == first["tokens"] + other["tokens"] and report["cost_is_estimate"]
        assert report["cost_saved"] > 0
        assert [r.cost for r in agent.history] == [first["cost"], 0, other["cost"]]
    assert agent.session.closed   # teardown ran


def test_carbon_agent_refuses_bad_input_with_clear_errors(local, index_dir):
    agent = CarbonQAAgent(documents=small_documents(), index_dir=index_dir)
    with pytest.raises(AgentInputError, match="missing 'query'"):
        agent.execute_with_input({"question": "What is Scope 1?"})
    with pytest.raises(AgentInputError, match="'query' must be str"):
        agent.execute_with_input({"query": 1})
    refused = "carbon_qa_agent v1.0.0: execute\\(\\) raised ValueError: No query provided"
    with pytest.raises(AgentError, match=refused) as e:
        agent.execute_with_input({"query": "  "})
    assert isinstance(e.value.__cause__, ValueError) and agent.history[-1].status == "error"
    agent.teardown()


def test_carbon_agent_saves_its_index_once_and_reloads_it(local, tmp_path):
    docs = small_documents()[:4]
    first = CarbonQAAgent(documents=docs, index_dir=tmp_path)
    first.setup()
    assert first.index_info["saved_to"] == str(first.index_path()) and first.rag.embedded_chunks > 0
    again = CarbonQAAgent(documents=docs, index_dir=tmp_path)
    again.setup()
    assert again.index_info["loaded_from"] == str(first.index_path()) and again.rag.embedded_chunks == 0
    changed = CarbonQAAgent(documents=docs[:3], index_dir=tmp_path)   # other documents: another index
    assert changed.index_path() != first.index_path()
    for a in (first, again):
        a.teardown()


def test_carbon_agent_without_documents_says_what_to_do(local):
    from glwork.errors import ConfigurationError
    with pytest.raises(ConfigurationError, match="no documents to index"):
        CarbonQAAgent(documents=[]).setup()


def test_carbon_agent_citation_mode_resolves_markers_to_source_ids(local, index_dir):
    agent = CarbonQAAgent(documents=small_documents(), index_dir=index_dir, citation_mode=True)
    sources = [{"id": "scope1"}, {"id": "scope2"}]
    answer, citations = agent._citations("Direct[1]. Indirect[2]. Other[7].", sources)
    assert answer == "Direct[1]. Indirect[2]. Other." and citations == ["[1] scope1", "[2] scope2"]


def test_a_run_measures_its_llm_calls_and_fills_in_missing_usage(wire_server):
    # The workshop's step 3 returns no "tokens" for a cache hit, and its step 4 prints result["tokens"].
    from glwork.llm import ChatSession
    from wire_server import Canned

    class Asker(Agent):
        def setup(self):
            self.session = ChatSession(provider="openai", model="gpt-4", base_url=wire_server.url + "/v1",
                                       api_key="sk-test-agent-0123456789abcdef", max_tokens=20)

        def execute(self):
            if self.input_data.get("cached"):
                return {"answer": "from the cache", "cached": True, "cost": 0}
            return {"answer": str(self.session.send_message(self.input_data["query"])), "cached": False}

    body = {"id": "chatcmpl-agent", "object": "chat.completion", "created": 1, "model": "gpt-4",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Direct emissions."},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}
    wire_server.queue(Canned(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    agent = Asker(name="asker")
    asked = agent.execute_with_input({"query": "What is Scope 1?"})
    assert asked["tokens"] == 15 and asked["cost"] > 0          # measured from the call it made
    hit = agent.execute_with_input({"query": "What is Scope 1?", "cached": True})
    assert hit["tokens"] == 0 and hit["cost"] == 0
    assert [r.llm_calls for r in agent.history] == [1, 0] and agent.history[0].tokens == 15
