"""Part 2's "Your turn" checks: each passes on its worked solution and fails, with specific advice, on
plausible wrong attempts. Retrieval runs for real (local all-MiniLM-L6-v2 over a slice of the carbon
corpus, the workshop's doc2 included); the cited answer is made by hand, so no model is called."""
import pytest

from glwork.lab import check, exercises, load_carbon_corpus
from glwork.llm import RAGEngine, RAGResponse

E1_6_Q = "Which emissions must a company disclose in metric tonnes of CO2 equivalent?"
DIESEL_Q = "How do we report the diesel burned by our own fleet of trucks?"
# The documents the three exercises are about, and the ones that compete with them.
IDS = ("esrs-e1-6", "esrs-e1-7", "esrs-e1-8", "esrs-e1-4-part2", "esrs-e1-5", "ghg-scope3-02-capital-goods",
       "ghg-scope1-02-mobile-combustion", "ghg-scope3-04-upstream-transportation-and-distribution",
       "ghg-scope3-09-downstream-transportation-and-distribution", "ghg-scope2-01-purchased-electricity",
       "ghg-scope3-03-fuel-and-energy-related-activities", "ghg-scope3-06-business-travels")
DOC2 = {"id": "doc2", "content": "Carbon accounting follows GHG Protocol standards...",
        "metadata": {"type": "guideline", "date": "2024-02"}}


@pytest.fixture(scope="module")
def corpus():
    return [d for d in load_carbon_corpus() if d["id"] in IDS] + [DOC2]


@pytest.fixture(scope="module")
def rag(corpus):
    engine = RAGEngine(embedding_model="all-MiniLM-L6-v2")
    engine.index_documents(corpus)
    return engine


def test_part2_exercises_are_registered_with_titles():
    ids = exercises()
    assert {"02.e1_6_first", "02.scope2_cited", "02.tuner_scope1"} <= set(ids) and all(ids.values())


# ---- 02.e1_6_first ---------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", [
    {"search_type": "hybrid", "alpha": 0.7},          # the solution without a filter
    {"filters": {"source": "ESRS E1"}},               # the solution with a filter
    {"filters": {"disclosure": "E1-6"}},              # the narrowest filter: passes, with a note
])
def test_e1_6_solutions_pass(rag, settings):
    result = check("02.e1_6_first", rag, E1_6_Q, settings)
    assert result.passed, str(result)
    assert "esrs-e1-6:chunk" in str(result)


def test_e1_6_the_narrowest_filter_is_told_to_try_a_broader_one(rag):
    result = check("02.e1_6_first", rag, E1_6_Q, {"filters": {"disclosure": "E1-6"}})
    assert "nothing else can win" in str(result)


@pytest.mark.parametrize("settings,advice", [
    ({"search_type": "semantic"}, "try search_type='hybrid'"),                    # the starting point
    ({"search_type": "keyword"}, "keyword search matches words"),
    ({"search_type": "hybrid", "alpha": 0.3}, "give meaning more weight"),
    ({"filters": {"source": "ESRS"}}, "'source' takes the values 'ESRS E1', 'GHG Protocol'"),
    ({"filters": {"disclosure": "e1-6"}}, "values compare exactly"),
    ({"filters": {"type": "guideline"}}, "the filter keeps E1-6 out"),
    ({"filter": {"source": "ESRS E1"}}, "the argument is 'filters', plural"),
    ({"filters": {"date": {"$after": "2023-01"}}}, "unknown operator '$after'"),
    ("hybrid", "should be a dict"),
])
def test_e1_6_wrong_attempts_fail_with_advice(rag, settings, advice):
    result = check("02.e1_6_first", rag, E1_6_Q, settings)
    assert not result.passed and advice in str(result), str(result)


def test_e1_6_a_changed_question_is_refused(rag):
    result = check("02.e1_6_first", rag, "What does ESRS E1-6 require?", {"search_type": "keyword"})
    assert not result.passed and "keep the question as given" in str(result)


def test_e1_6_needs_the_corpus_indexed():
    empty = RAGEngine(embedding_model="all-MiniLM-L6-v2")
    result = check("02.e1_6_first", empty, E1_6_Q, {})
    assert not result.passed and "index the carbon corpus" in str(result)


# ---- 02.scope2_cited -------------------------------------------------------------------------------
def source(doc_id, scope, n=1):
    meta = {"source": "GHG Protocol", "scope": scope}
    return {"id": doc_id, "chunk_id": f"{doc_id}:chunk{n}", "score": 0.7, "content": "...", "metadata": meta}


SCOPE2 = [source("ghg-scope2-01-purchased-electricity", 2), source("ghg-scope2-02-purchased-heat-and-steam", 2)]
RIGHT = ("Scope 2 emissions are indirect emissions from the generation of purchased or acquired electricity, "
         "heat or steam [1].")


def answer(text=RIGHT, sources=SCOPE2, citations=("[1] ghg-scope2-01-purchased-electricity:chunk1",), by="model"):
    return RAGResponse(text, list(sources), list(citations), metadata={"citations_by": by})


def test_scope2_solution_passes():
    result = check("02.scope2_cited", answer())
    assert result.passed, str(result)


def test_scope2_attributed_citations_pass_with_a_note():
    result = check("02.scope2_cited", answer(by="glwork (sentence similarity; the model cited nothing)"))
    assert result.passed and "attributed" in str(result)


@pytest.mark.parametrize("attempt,advice", [
    (lambda: answer(sources=SCOPE2 + [source("ghg-scope3-03-fuel-and-energy-related-activities", 3)]),
     "Add filters={'scope': 2}"),                                                      # no filter
    (lambda: answer(citations=()), "citation_mode=True"),                              # no citation mode
    (lambda: answer(sources=()), "scope as a number"),                                 # filters={'scope': '2'}
    (lambda: answer("Scope 2 emissions are indirect emissions not covered by Scope 1 or Scope 2 [1]."),
     "repeats the Scope 3 definition"),
    (lambda: answer("They are reported by the company [1]."), "does not say what Scope 2 covers"),
    (lambda: "Scope 2 is purchased electricity", "pass the RAGResponse"),
])
def test_scope2_wrong_attempts_fail_with_advice(attempt, advice):
    result = check("02.scope2_cited", attempt())
    assert not result.passed and advice in str(result), str(result)


# ---- 02.tuner_scope1 -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built_tuner(corpus):
    from glwork.widgets import RAGTuner
    return RAGTuner(corpus, query=DIESEL_Q, top_k=5, debounce=0)   # embeds the corpus once


@pytest.fixture
def tuner(built_tuner):
    built_tuner.query.value, built_tuner.rerank.value = DIESEL_Q, False
    return built_tuner


def turn(tuner, search_type, alpha=0.7):
    tuner.search_type.value, tuner.alpha.value = search_type, alpha
    tuner.refresh()
    return check("02.tuner_scope1", tuner)


@pytest.mark.parametrize("search_type,alpha", [("hybrid", 0.5), ("keyword", 0.7)])
def test_tuner_solutions_pass(tuner, search_type, alpha):
    result = turn(tuner, search_type, alpha)
    assert result.passed and "ghg-scope1-02-mobile-combustion:chunk" in str(result), str(result)


@pytest.mark.parametrize("search_type,alpha,advice", [
    ("semantic", 0.7, "switch search_type to hybrid"),      # the starting point
    ("hybrid", 0.9, "lower alpha"),
])
def test_tuner_wrong_settings_fail_with_advice(tuner, search_type, alpha, advice):
    result = turn(tuner, search_type, alpha)
    assert not result.passed and advice in str(result), str(result)


def test_tuner_with_another_query_is_refused(tuner):
    tuner.query.value = "Mobile combustion"
    tuner.refresh()
    result = check("02.tuner_scope1", tuner)
    assert not result.passed and "keep the tuner's query" in str(result)


def test_tuner_check_needs_the_tuner():
    result = check("02.tuner_scope1", "hybrid")
    assert not result.passed and "pass the RAGTuner" in str(result)
