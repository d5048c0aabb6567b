"""query() against the embedded local backend (GLWORK_MODE=local), and OpenAI embeddings via the SDK."""
import re

import openai
import pytest

from glwork import local
from glwork.rag.engine import RAGEngine, RAGResponse
from rag_helpers import small_corpus


@pytest.fixture
def local_mode(monkeypatch):
    monkeypatch.setenv("GLWORK_MODE", "local")


@pytest.fixture(scope="module")
def docs():
    return small_corpus()


def test_workshop_basic_setup_and_query_against_the_local_backend(local_mode):
    from test_rag_workshop import DOCUMENTS
    rag = RAGEngine(
        embedding_model="text-embedding-3-small",  # OpenAI SDK -> local backend's /v1/embeddings
        llm_provider="openai",
        llm_model="gpt-4",                         # answered by the local model
        chunk_size=1000,
        chunk_overlap=200,
        top_k=5
    )
    rag.index_documents(DOCUMENTS)
    response = rag.query(
        "What emissions are required for CSRD?",
        include_sources=True
    )
    assert isinstance(response, RAGResponse) and str(response) == response.answer and response.answer.strip()
    assert [s["id"] for s in response.sources] == ["doc1", "doc2"]
    assert set(response.sources[0]) == {"id", "chunk_id", "score", "content", "metadata"}
    assert response.usage.input_tokens > 20 and response.usage.output_tokens > 0
    assert response.model and response.metadata["llm_called"] and response.metadata["context_passages"] == 2
    assert rag.session.provider == "openai" and rag.session.model == "gpt-4"
    assert len(rag.session.get_conversation_history()) == 3          # system, question, answer
    no_sources = rag.query("Which standard does carbon accounting follow?", include_sources=False)
    assert no_sources.sources == [] and no_sources.answer.strip()
    assert len(rag.session.get_conversation_history()) == 3          # every question stands alone


def test_citation_mode_every_marker_resolves(local_mode, docs):
    rag = RAGEngine(citation_mode=True, chunk_size=600, chunk_overlap=100, top_k=3)
    rag.index_documents(docs)
    response = rag.query("What does internal carbon pricing mean under ESRS E1-8?")
    labels = {s["chunk_id"] for s in response.sources}
    for n in re.findall(r"\[(\d+)\]", response.answer):
        assert 1 <= int(n) <= response.metadata["context_passages"]
    for line in response.citations:
        number, label = re.fullmatch(r"\[(\d+)\] (\S+)", line).groups()
        assert label in labels and response.sources[int(number) - 1]["chunk_id"] == label
        assert f"[{number}]" in response.answer
    assert response.metadata["citations_by"] in ("model", "none") or \
        response.metadata["citations_by"].startswith("glwork")
    assert "Cite" in rag.session.system_message


def test_openai_embedding_model_goes_through_the_sdk_to_the_local_backend(local_mode, monkeypatch):
    calls = []
    original = openai.resources.embeddings.Embeddings.create

    def spy(self, *args, **kwargs):
        calls.append((str(self._client.base_url), kwargs["model"], len(kwargs["input"])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(openai.resources.embeddings.Embeddings, "create", spy)
    rag = RAGEngine(embedding_model="text-embedding-3-small", chunk_size=300, chunk_overlap=0)
    rag.index_documents([
        {"id": "s1", "content": "Scope 1: direct emissions from owned boilers and vehicles."},
        {"id": "s2", "content": "Scope 2: indirect emissions from purchased electricity."},
    ])
    assert rag.retrieve("purchased electricity", top_k=1)[0]["id"] == "s2"
    assert calls == [(local.url() + "/v1/", "text-embedding-3-small", 2),
                     (local.url() + "/v1/", "text-embedding-3-small", 1)]
    stats = rag.stats()
    assert stats["embedding_backend"] == "openai" and stats["dimension"] == 384   # MiniLM serves it locally
    assert rag._embedder.served_model == "all-MiniLM-L6-v2" and stats["embedding_tokens"] > 0
    assert stats["embedding_model"] == "text-embedding-3-small"
    assert stats["embedding_served_by"] == "all-MiniLM-L6-v2"   # says who really made the vectors
