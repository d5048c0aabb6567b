"""save()/load(): round trip without re-embedding; corrupt or mismatched stores are refused whole."""
import json
import shutil

import pytest

from glwork.errors import ConfigurationError
from glwork.rag.engine import RAGEngine
from glwork.rag.store import StoreError
from rag_helpers import CountingEmbedder, small_corpus

QUESTIONS = ["business travel flights", "refrigerant leaks", "internal carbon price", "scope 2 electricity"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rag = RAGEngine(chunk_size=600, chunk_overlap=100, search_type="hybrid", alpha=0.6, top_k=4)
    rag.index_documents(small_corpus())
    path = tmp_path_factory.mktemp("stores") / "carbon"
    rag.save(path)
    return rag, path


@pytest.fixture
def copy(saved, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(saved[1], dst)
    return dst


def results(rag, **kw):
    return [[(s["chunk_id"], s["score"]) for s in rag.retrieve(q, **kw)] for q in QUESTIONS]


def test_round_trip_gives_the_same_answers_without_re_embedding(saved):
    rag, path = saved
    loaded = RAGEngine.load(path)
    counter = CountingEmbedder(loaded._embedder)
    loaded._embedder = counter
    for st in ("semantic", "keyword", "hybrid"):
        assert results(loaded, search_type=st) == results(rag, search_type=st)
    assert counter.texts == QUESTIONS * 2          # only the questions (semantic + hybrid) were embedded
    assert loaded.embedded_chunks == 0
    a, b = rag.stats(), loaded.stats()
    for key in ("documents", "chunks", "dimension", "search_type", "alpha", "top_k", "chunk_size",
                "chunk_overlap", "embedding_model", "vector_index"):
        assert a[key] == b[key], key
    assert loaded._docs == rag._docs and loaded._chunks == rag._chunks


def test_manifest_is_versioned_with_checksums(saved):
    manifest = json.loads((saved[1] / "manifest.json").read_text())
    assert manifest["format"] == "glwork-rag-store" and manifest["version"] == 1
    assert manifest["embedding"] == {"model": "all-MiniLM-L6-v2", "backend": "local", "served_model": None,
                                     "dimension": 384}
    assert set(manifest["files"]) == {"vectors.faiss", "chunks.jsonl", "documents.jsonl"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())


def test_load_with_overrides_and_keep_indexing(copy):
    loaded = RAGEngine.load(copy, search_type="keyword", top_k=2)
    assert loaded.search_type == "keyword" and len(loaded.retrieve("refrigerant")) == 2
    loaded.index_documents([{"id": "new", "content": "Biogenic CO2 from burning wood pellets."}])
    assert loaded.retrieve("wood pellets", top_k=1)[0]["id"] == "new"    # new chunk ids don't collide
    loaded.save(copy)                                                    # overwrite in place
    again = RAGEngine.load(copy)
    assert len(again) == 11 and not [p for p in copy.parent.iterdir() if p.name.startswith(".")]
    with pytest.raises(ConfigurationError, match="can't change on load"):
        RAGEngine.load(copy, chunk_size=300)


def test_truncated_file_is_refused(copy):
    data = (copy / "vectors.faiss").read_bytes()
    (copy / "vectors.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="vectors.faiss does not match the checksum"):
        RAGEngine.load(copy)


def test_edited_chunks_are_refused(copy):
    text = (copy / "chunks.jsonl").read_text().replace("Franchises", "Franchizes", 1)
    (copy / "chunks.jsonl").write_text(text)
    with pytest.raises(StoreError, match="chunks.jsonl does not match the checksum"):
        RAGEngine.load(copy)


def edit_manifest(path, change):
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_flipped_checksum_is_refused(copy):
    def flip(m):
        sha = m["files"]["documents.jsonl"]["sha256"]
        m["files"]["documents.jsonl"]["sha256"] = ("0" if sha[0] != "0" else "1") + sha[1:]
    edit_manifest(copy, flip)
    with pytest.raises(StoreError, match="documents.jsonl does not match the checksum"):
        RAGEngine.load(copy)


def test_wrong_version_is_refused(copy):
    edit_manifest(copy, lambda m: m.update(version=99))
    with pytest.raises(StoreError, match="store version 99; this glwork reads version 1"):
        RAGEngine.load(copy)


def test_wrong_embedding_model_or_dimension_is_refused(copy):
    with pytest.raises(StoreError, match="built with embedding model 'all-MiniLM-L6-v2', not 'text-embedding-3-small'"):
        RAGEngine.load(copy, embedding_model="text-embedding-3-small")
    assert RAGEngine.load(copy, embedding_model="local").stats()["chunks"] > 0    # an alias of the same model
    edit_manifest(copy, lambda m: m["embedding"].update(dimension=512))
    with pytest.raises(StoreError, match="512 dimensions"):
        RAGEngine.load(copy)


def test_missing_file_and_not_a_store(copy, tmp_path):
    (copy / "documents.jsonl").unlink()
    with pytest.raises(StoreError, match="documents.jsonl is missing"):
        RAGEngine.load(copy)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="no manifest.json"):
        RAGEngine.load(tmp_path / "empty")
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        RAGEngine.load(copy)


def test_refuses_to_overwrite_a_folder_that_is_not_a_store(saved, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(ConfigurationError, match="is not a RAG store"):
        saved[0].save(tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_saving_an_empty_engine_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="Nothing is indexed"):
        RAGEngine().save(tmp_path / "x")


def test_a_custom_embedder_store_needs_the_same_embedder(tmp_path):
    from test_rag_engine import HashEmbedder
    rag = RAGEngine(embedding_model=HashEmbedder(16), chunk_size=100, chunk_overlap=0)
    rag.index_documents([{"id": "a", "content": "boilers burn gas"}, {"id": "b", "content": "grid power"}])
    rag.save(tmp_path / "hash")
    with pytest.raises(StoreError, match="custom embedder"):
        RAGEngine.load(tmp_path / "hash")
    with pytest.raises(StoreError, match="not 'hash-8'"):
        RAGEngine.load(tmp_path / "hash", embedding_model=HashEmbedder(8))
    loaded = RAGEngine.load(tmp_path / "hash", embedding_model=HashEmbedder(16))
    assert loaded.retrieve("gas boilers", top_k=1) == rag.retrieve("gas boilers", top_k=1)
