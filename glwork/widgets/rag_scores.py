"""Per-stage retrieval scores of a RAGEngine, for the tuner's table (read-only).

`RAGEngine.retrieve()` returns each chunk's final score only. The tuner also shows how each stage
saw the chunk: its semantic (cosine) similarity, its BM25 keyword score, the fused score that ranked
it (hybrid), and the re-ranker's score. This module reproduces the engine's own retrieval with the
engine's own parts (same search, same fusion, same re-ranker), so the rows come out in exactly the
order `retrieve()` gives (tests/test_widgets_rag.py checks that), and adds the other stages' scores.
It only reads the engine; `apply_settings` is the one place that changes it (the tuner's knobs).
"""
import re

from ..errors import ConfigurationError
from ..rag import fusion as fusion_mod
from ..rag.engine import SEARCH_TYPES, check_alpha, check_top_k
from .view import esc

_WORD = re.compile(r"(?u)\b\w\w+\b")


def stage_scores(engine, text, top_k=None, search_type=None, alpha=None, reranker=None, rerank_top_k=None):
    """Rows (dicts), best first: rank, first_rank, doc_id, chunk_id, semantic, keyword, fused, rerank,
    score (the final one, as retrieve() reports it), text. `reranker=None`: no re-ranking."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError("The query is empty: type a question in the query box.")
    k, search_type, alpha = engine.query_settings(text, top_k, search_type, alpha)
    with engine.lock:
        if not engine.chunks:
            raise ConfigurationError("Nothing is indexed yet: call index_documents([...]) first.")
        hits = engine.search(text, k, None, search_type, alpha)   # the engine's first stage
        ids = [cid for cid, _ in hits]
        semantic = engine.vector_index.scores_for(engine.embed_query(text), ids) if ids else []
        order, kw_all = engine.keyword_index.scores(text)
        keyword = engine.keyword_index.lookup(kw_all, ids) if ids and len(order) else [0.0] * len(ids)
        first = {cid: float(score) for cid, score in hits}
        final, reranked = hits, {}
        if reranker is not None and hits:
            keep = min(rerank_top_k or k, k)
            reranked = dict(reranker.rerank(text, [(cid, engine.chunks[cid].text, s) for cid, s in hits]))
            final = fusion_mod.top(reranked, keep)
        chunks = {cid: engine.chunks[cid] for cid, _ in final}
    first_rank = {cid: n for n, cid in enumerate(ids, 1)}
    sem = dict(zip(ids, (float(s) for s in semantic)))
    kw = dict(zip(ids, (float(s) for s in keyword)))
    rows = []
    for n, (cid, score) in enumerate(final, 1):
        c = chunks[cid]
        rows.append({"rank": n, "first_rank": first_rank[cid], "doc_id": c.doc_id, "chunk_id": c.label,
                     "semantic": round(sem[cid], 4), "keyword": round(kw[cid], 4),
                     "fused": round(first[cid], 4) if search_type == "hybrid" else None,
                     "rerank": round(float(reranked[cid]), 4) if cid in reranked else None,
                     "score": round(float(score), 4), "text": c.text})
    return rows


def _matches(engine, query, text):
    """Spans of the words of `text` that match a query keyword (same tokens and stems as BM25)."""
    tokenizer = engine.keyword_index.tokenizer
    wanted = set(tokenizer(query))
    for m in _WORD.finditer(text):
        stems = tokenizer(m.group(0))   # stop words give no token
        if stems and stems[0] in wanted:
            yield m.start(), m.end()


def first_match(engine, query, text):
    return next((a for a, _ in _matches(engine, query, text)), None)


def highlight(engine, query, text):
    """`text` as HTML with the words that match the query's keywords marked."""
    out, at = [], 0
    for a, b in _matches(engine, query, text):
        out.append(esc(text[at:a]) + f"<mark>{esc(text[a:b])}</mark>")
        at = b
    out.append(esc(text[at:]))
    return "".join(out)


def apply_settings(engine, top_k, search_type, alpha, reranker, rerank_top_k):
    """Put the tuner's knobs on the engine, so `engine.query()` answers with the same settings.

    The engine reads top_k, search_type, alpha, rerank_top_k and its re-ranker at query time."""
    engine.top_k = check_top_k(top_k, "top_k")
    if search_type not in SEARCH_TYPES:
        raise ConfigurationError(f"search_type must be one of {', '.join(SEARCH_TYPES)}; got {search_type!r}.")
    engine.search_type = search_type
    engine.alpha = check_alpha(alpha)
    engine.rerank_top_k = None if reranker is None else check_top_k(rerank_top_k, "rerank_top_k")
    engine.rerank_model = None if reranker is None else getattr(reranker, "model_name", "custom")
    engine.reranker = reranker


def engine_settings(engine):
    """What a rebuilt engine (new chunk sizes) must keep of the old one."""
    emb = engine.embedder
    spec = emb.obj if emb.kind == "object" else (None if emb.kind == "local" else emb.name)
    return {"embedding_model": spec,
            "llm_provider": engine.llm_provider, "llm_model": engine.llm_model, "top_k": engine.top_k,
            "search_type": engine.search_type, "alpha": engine.alpha, "fusion": engine.fusion,
            "citation_mode": engine.citation_mode, "system_message": engine.system_message,
            "temperature": engine.temperature, "max_context_chars": engine.max_context_chars}


def documents_of(engine):
    """The engine's documents rebuilt from their chunks (text between chunks becomes one space)."""
    with engine.lock:
        out = []
        for doc_id, entry in engine.documents.items():
            chunks = sorted((engine.chunks[c] for c in entry["chunks"]), key=lambda c: c.start)
            if not chunks:
                continue
            buf = [" "] * max(c.end for c in chunks)
            for c in chunks:
                buf[c.start:c.start + len(c.text)] = list(c.text)
            out.append({"id": doc_id, "content": "".join(buf).strip(), "metadata": dict(entry["metadata"])})
        return out
