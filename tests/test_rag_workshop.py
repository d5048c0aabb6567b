"""The workshop's Part 2 calls, as written in docs/workshop-2.md (glwork.rag.engine for glwork.llm)."""
import pytest

from glwork.rag.engine import RAGEngine

DOCUMENTS = [
    {
        "id": "doc1",
        "content": "GreenLang CSRD compliance requires Scope 1, 2, and 3 emissions...",
        "metadata": {"type": "policy", "date": "2024-01"}
    },
    {
        "id": "doc2",
        "content": "Carbon accounting follows GHG Protocol standards...",
        "metadata": {"type": "guideline", "date": "2024-02"}
    }
]


def test_hybrid_search_call():
    rag = RAGEngine(
        search_type="hybrid",  # keyword + vector
        alpha=0.7              # 70% semantic, 30% keyword
    )
    rag.index_documents(DOCUMENTS)
    sources = rag.retrieve("CSRD Scope 3 requirements")
    assert sources[0]["id"] == "doc1" and rag.stats()["alpha"] == 0.7


def test_reranking_call():
    rag = RAGEngine(
        top_k=20,              # Retrieve 20 candidates
        rerank_top_k=5,        # Re-rank to top 5
        rerank_model="cross-encoder"
    )
    rag.index_documents(DOCUMENTS)
    assert rag.stats()["reranker"] != "none"
    assert [s["id"] for s in rag.retrieve("complex query about carbon accounting")][0] == "doc2"


def test_metadata_filtering_call():
    rag = RAGEngine()
    rag.index_documents(DOCUMENTS)
    sources = rag.retrieve(
        "What are the guidelines?",
        filters={"type": "guideline", "date": {"$gte": "2024-01"}}
    )
    assert [s["id"] for s in sources] == ["doc2"]     # Only returns docs matching filter


def test_citation_mode_call_and_defaults():
    rag = RAGEngine(
        citation_mode=True
    )
    assert rag.citation_mode and rag.top_k == 5 and rag.search_type == "semantic"
    assert (rag.chunk_size, rag.chunk_overlap) == (1000, 200) and rag._session is None


@pytest.mark.parametrize("kwargs", [
    dict(embedding_model="text-embedding-3-small", llm_provider="openai", llm_model="gpt-4",
         chunk_size=1000, chunk_overlap=200, top_k=5),
    dict(embedding_model="text-embedding-3-small", llm_provider="openai", llm_model="gpt-4",
         chunk_size=1000, top_k=3),
])
def test_setup_calls_construct_without_any_network(kwargs):
    rag = RAGEngine(**kwargs)      # the OpenAI client is only made on the first embedding
    assert rag.stats()["embedding_backend"] == "openai" and rag._embedder._client is None


def test_workshop_import_path_and_light_imports():
    import subprocess
    import sys
    code = ("import sys, glwork.llm, glwork.rag.engine, glwork.rag.corpus; "
            "from glwork.llm import RAGEngine; assert RAGEngine is glwork.rag.engine.RAGEngine; "
            "print([m for m in ('faiss', 'bm25s', 'torch', 'sentence_transformers', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
