"""RAGTuner without a browser: what each knob does to the engine and the table.

A hashing embedder stands in for MiniLM (milliseconds instead of seconds); the engine's own
search, fusion and re-ranking code runs unchanged.
"""
import threading
import time

import pytest

from glwork.cache import HashingEmbedder
from glwork.llm import ConfigurationError, RAGEngine
from glwork.widgets import RAGTuner
from glwork.widgets.rag_scores import documents_of, stage_scores
from rag_helpers import small_corpus
from wire_server import cassette, openai_rate_limit

QUERY = "purchased electricity emissions"
SECRET = "sk-proj-THISISAFAKEKEYFORTESTS1234567890abcdef"


class LengthReranker:
    """A deterministic re-ranker: shorter chunks first (so its effect is easy to see)."""

    model_name = "length"

    def __init__(self):
        self.calls = 0

    def describe(self):
        return "test re-ranker (shorter first)"

    def rerank(self, query, candidates):
        self.calls += 1
        return [(cid, 1.0 / len(text)) for cid, text, _ in candidates]


@pytest.fixture(scope="module")
def docs():
    return small_corpus()


def tuner_for(docs, **kw):
    kw.setdefault("query", QUERY)
    kw.setdefault("debounce", 0)
    return RAGTuner(docs, embedding_model=HashingEmbedder(), chunk_size=500, chunk_overlap=50, **kw)


def ids(rows):
    return [r["chunk_id"] for r in rows]


@pytest.mark.parametrize("search_type", ["semantic", "keyword", "hybrid"])
def test_stage_scores_match_the_engines_own_retrieval(docs, search_type):
    engine = RAGEngine(embedding_model=HashingEmbedder(), chunk_size=500, chunk_overlap=50)
    engine.index_documents(docs)
    rows = stage_scores(engine, QUERY, top_k=6, search_type=search_type, alpha=0.4)
    sources = engine.retrieve(QUERY, top_k=6, search_type=search_type, alpha=0.4)
    assert ids(rows) == [s["chunk_id"] for s in sources]
    assert [r["score"] for r in rows] == [s["score"] for s in sources]
    for r in rows:
        assert -1 <= r["semantic"] <= 1 and r["keyword"] >= 0 and r["rerank"] is None
        assert (r["fused"] is not None) == (search_type == "hybrid")
    if search_type == "semantic":
        assert [r["semantic"] for r in rows] == [r["score"] for r in rows]
    if search_type == "keyword":
        assert [r["keyword"] for r in rows] == pytest.approx([r["score"] for r in rows], abs=1e-4)


def test_stage_scores_with_reranking_match_the_engine(docs):
    engine = RAGEngine(embedding_model=HashingEmbedder(), chunk_size=500, chunk_overlap=50, top_k=6, rerank_top_k=3)
    engine.reranker = LengthReranker()   # what the tuner's re-rank checkbox does
    engine.index_documents(docs)
    rows = stage_scores(engine, QUERY, top_k=6, reranker=engine.reranker, rerank_top_k=3)
    assert ids(rows) == [s["chunk_id"] for s in engine.retrieve(QUERY)]
    assert len(rows) == 3 and all(r["rerank"] is not None for r in rows)
    assert [r["rerank"] for r in rows] == sorted((r["rerank"] for r in rows), reverse=True)
    assert {r["first_rank"] for r in rows} <= set(range(1, 7))


def test_top_k_reranks_without_reindexing(docs):
    tuner = tuner_for(docs)
    assert (tuner.reindexes, len(tuner.rows)) == (1, 5)
    embedded = tuner.engine.embedded_chunks
    tuner.top_k.value = 2
    assert tuner.engine.top_k == 2 and len(tuner.rows) == 2
    assert tuner.reindexes == 1 and tuner.engine.embedded_chunks == embedded
    assert tuner.table.value.count("<tr>") == 3          # header + two chunks


def test_search_type_and_alpha_reach_the_engine(docs):
    tuner = tuner_for(docs, top_k=6)
    assert tuner.alpha.disabled                          # alpha only means something for hybrid
    semantic = ids(tuner.rows)
    tuner.search_type.value = "keyword"
    assert tuner.engine.search_type == "keyword"
    keyword = ids(tuner.rows)
    tuner.search_type.value = "hybrid"
    assert not tuner.alpha.disabled and all(r["fused"] is not None for r in tuner.rows)
    tuner.alpha.value = 1.0
    assert tuner.engine.alpha == 1.0
    assert ids(tuner.rows)[0] == semantic[0]             # all weight on the semantic score
    tuner.alpha.value = 0.0
    assert ids(tuner.rows)[0] == keyword[0]              # all weight on BM25
    assert tuner.reindexes == 1


def test_rerank_checkbox_and_rerank_top_k(docs):
    reranker = LengthReranker()
    tuner = tuner_for(docs, top_k=6, reranker=reranker)
    assert tuner.rerank_top_k.disabled and tuner.engine.reranker is None
    tuner.rerank.value = True
    assert tuner.engine.reranker is reranker and tuner.engine.rerank_top_k == 3
    assert len(tuner.rows) == 3 and all(r["rerank"] is not None for r in tuner.rows)
    assert "re-ranked by the test re-ranker" in tuner.status.value
    tuner.rerank_top_k.value = 5
    assert len(tuner.rows) == 5 and tuner.engine.rerank_top_k == 5
    tuner.top_k.value = 4                                # re-ranking keeps at most top_k
    assert tuner.rerank_top_k.max == 4 and len(tuner.rows) == 4
    tuner.rerank.value = False
    assert tuner.engine.reranker is None and len(tuner.rows) == 4
    assert tuner.reindexes == 1


def test_chunking_knobs_reindex_with_progress(docs):
    tuner = tuner_for(docs)
    first, chunks = tuner.engine, tuner.engine.stats()["chunks"]
    seen = []
    tuner.progress.observe(lambda c: seen.append(c["new"]), "value")
    tuner.chunk_size.value = 300
    assert tuner.reindexes == 2 and tuner.engine is not first
    assert tuner.engine.chunk_size == 300 and tuner.engine.stats()["chunks"] > chunks
    assert seen and seen[-1] == tuner.progress.max == len(docs)       # the bar went to the end
    assert tuner.progress.layout.visibility == "hidden"
    assert tuner.engine.top_k == first.top_k and tuner.engine.search_type == first.search_type
    tuner.chunk_overlap.value = 0
    assert tuner.reindexes == 3 and tuner.engine.chunk_overlap == 0


def test_bad_chunk_overlap_is_shown_inline_and_keeps_the_index(docs):
    tuner = tuner_for(docs)
    engine = tuner.engine
    tuner.chunk_size.value = 100
    tuner.chunk_overlap.value = 150                      # more than the chunk
    assert tuner.engine.chunk_size == 100                # the valid change went through ...
    assert "chunk_overlap must be" in tuner.status.value and "glw-error" in tuner.status.value
    assert tuner.engine is not engine and tuner.engine.chunk_overlap == 50   # ... the invalid one did not


def test_slider_changes_are_debounced(docs):
    tuner = tuner_for(docs, debounce=0.2)
    before = tuner.refreshes
    for k in (4, 3, 2):
        tuner.top_k.value = k
    assert tuner.refreshes == before                     # nothing yet: still dragging
    deadline = time.time() + 5
    while tuner.refreshes == before and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    assert tuner.refreshes == before + 1 and len(tuner.rows) == 2


def test_matched_words_are_highlighted_and_text_escaped():
    docs = [{"id": "a", "content": "Purchased <b>electricity</b> causes Scope 2 emissions. " * 3},
            {"id": "b", "content": "Company cars burn diesel fuel and emit carbon dioxide. " * 3}]
    tuner = RAGTuner(docs, query="electricity emissions", embedding_model=HashingEmbedder(), debounce=0,
                     chunk_size=200, chunk_overlap=0)
    html = tuner.table.value
    assert "<mark>electricity</mark>" in html and "<mark>emissions</mark>" in html
    assert "&lt;b&gt;" in html and "<b>electricity" not in html
    assert "<mark>carbon</mark>" not in html


def test_empty_query_asks_for_one(docs):
    tuner = tuner_for(docs, query="")
    assert tuner.rows == [] and "Type a question" in tuner.status.value
    assert tuner.ask() is None


def test_ask_answers_from_the_chunks(docs, wire_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    tuner = tuner_for(docs, citation_mode=False, llm_model="gpt-4o-mini")
    response = tuner.ask()
    prompt = wire_server.requests[0].json["messages"][-1]["content"]
    assert QUERY in prompt and tuner.rows[0]["text"][:80] in prompt          # the table's chunks were sent
    assert str(response) and str(response)[:20] in tuner.answer_view.value
    tuner.top_k.value = 2
    assert "press Ask to update" in tuner.answer_view.value                # the answer is now stale


def test_ask_error_is_inline_without_the_key(docs, wire_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    wire_server.queue(openai_rate_limit("3"))
    tuner = tuner_for(docs, citation_mode=False)
    tuner.engine.session._runner.retry.max_retries = 0
    assert tuner.ask() is None
    shown = tuner.answer_view.value + tuner.static_html()
    assert "error_code: rate_limit" in shown and "retry_after: 3" in shown and SECRET not in shown


def test_tuner_over_an_existing_engine_rebuilds_its_documents(docs):
    engine = RAGEngine(embedding_model=HashingEmbedder(), chunk_size=400, chunk_overlap=80, top_k=3)
    engine.index_documents(docs)
    rebuilt = {d["id"]: d for d in documents_of(engine)}
    for d in docs:
        assert rebuilt[d["id"]]["content"].split() == d["content"].split()
        assert rebuilt[d["id"]]["metadata"] == d["metadata"]
    tuner = RAGTuner(engine, query=QUERY, debounce=0)
    assert tuner.chunk_size.value == 400 and tuner.top_k.value == 3 and len(tuner.rows) == 3
    tuner.chunk_size.value = 600
    assert tuner.engine.chunk_size == 600 and tuner.engine.stats()["documents"] == len(docs)


def test_static_snapshot_and_bad_arguments(docs):
    tuner = tuner_for(docs)
    bundle = tuner._repr_mimebundle_()
    html = bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "top_k=5" in html and "glw-rag-table" in html and 'class="glw-volatile"' in html
    with pytest.raises(ConfigurationError, match="RAGEngine or a list"):
        RAGTuner("some text")
    with pytest.raises(ConfigurationError, match="search_type"):
        RAGTuner(docs, search_type="fuzzy")
    with pytest.raises(ConfigurationError, match="takes no RAGEngine arguments"):
        RAGTuner(tuner.engine, top_k=3)


def test_knobs_from_two_threads_do_not_interleave(docs):
    tuner = tuner_for(docs)
    errors = []

    def turn(values):
        try:
            for v in values:
                tuner.top_k.value = v
        except Exception as exc:   # pragma: no cover - the assertion below reports it
            errors.append(exc)
    threads = [threading.Thread(target=turn, args=([1, 2, 3, 4],)), threading.Thread(target=turn, args=([5, 6],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(tuner.rows) == tuner.engine.top_k == tuner.top_k.value
