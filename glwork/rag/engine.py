"""RAGEngine: index documents, retrieve the chunks that answer a question, ask an LLM (workshop Part 2)."""
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..embeddings.batch import encode_all, normalise
from ..embeddings.choose import make_embedder
from ..embeddings.local import local_embedder
from ..errors import ConfigurationError
from ..response import Usage
from ..security import get_logger
from ..vectors import EXACT_LIMIT, VectorIndex
from . import fusion as fusion_mod
from .chunking import Chunk, check_sizes, split_text  # noqa: F401 (Chunk re-exported)
from .citations import Citations, attribute, resolve_citations  # noqa: F401 (re-exported)
from .filters import compile_filter
from .keyword import KeywordIndex
from .rerank import make_reranker

log = get_logger(__name__)
SEARCH_TYPES = ("semantic", "keyword", "hybrid")
DEFAULT_ALPHA = 0.7       # hybrid weight of the semantic score (best on SciFact train)
POOL = 100                # candidates each method contributes to hybrid fusion
PROGRESS_FROM = 256       # chunks: show a progress bar when embedding at least this many
DEFAULT_MAX_CONTEXT = 12_000  # characters of passages in the prompt (~3,000 tokens)
SYSTEM = ("You answer questions using only the numbered context passages you are given. If they do not "
          "contain the answer, say that you do not know. Be concise.")
CITE = " Cite the passages you use by writing their numbers in square brackets after the sentences they support."


@dataclass
class RAGResponse:
    """What `RAGEngine.query` returns. `str(response)` is the answer."""

    answer: str
    sources: list
    citations: list = field(default_factory=Citations)
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    model: str | None = None
    metadata: dict = field(default_factory=dict)
    source: str | None = None    # where the answer came from: "recorded", "local" or "live" (ChatResponse.source)
    provider: str | None = None  # the provider the engine asked (the model that answered is `model`)

    def __str__(self):
        return str(self.answer)

    def __repr__(self):
        return (f"RAGResponse(answer={str(self.answer)[:60]!r}, sources={len(self.sources)}, "
                f"citations={len(self.citations)}, model={self.model!r}, source={self.source!r})")


def _doc_hash(content):
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


class RAGEngine:
    """Retrieval-augmented generation over your documents.

    Arguments (all optional; the workshop's examples work as written):
    - embedding_model: None/"local"/"all-MiniLM-L6-v2" (default: local all-MiniLM-L6-v2, offline, 384 dims);
      "text-embedding-3-small" / "-3-large" / "text-embedding-ada-002" go through the openai SDK to
      wherever ChatSession(provider="openai") goes (live API, the notebook's cassette, or the local
      backend); or the path of a sentence-transformers model folder; or any object with encode().
    - llm_provider, llm_model: the ChatSession that writes answers (created on the first query()).
    - chunk_size, chunk_overlap: in CHARACTERS (default 1000 / 200).
    - top_k: chunks retrieved per question (default 5).
    - search_type: "semantic" (default), "keyword" (BM25) or "hybrid".
    - alpha: hybrid weight of the semantic score, 0..1 (keyword gets 1 - alpha).
    - fusion: "weighted" (alpha blend of min-max normalised scores, default) or "rrf" (reciprocal rank).
    - rerank_model, rerank_top_k: re-score the top_k candidates and keep rerank_top_k (rerank_top_k
      alone means rerank_model="cross-encoder"). "cross-encoder" uses a real cross-encoder if one is
      on this machine, else the measured offline re-ranker ("offline" asks for that one directly);
      stats()["reranker"] and every response's metadata say which one ran.
    - citation_mode: ask the model to cite passages as [n]; `response.citations` lists them.
    - system_message, temperature, max_context_chars: the answering prompt.
    - show_progress: progress bar when indexing (default: only for 256+ chunks).
    - approx_threshold: above this many chunks the vector index becomes approximate (IVF).
    """

    def __init__(self, embedding_model=None, llm_provider="openai", llm_model=None, chunk_size=1000,
                 chunk_overlap=200, top_k=5, search_type="semantic", alpha=DEFAULT_ALPHA,
                 rerank_top_k=None, rerank_model=None, citation_mode=False, fusion="weighted",
                 system_message=None, temperature=0.0, max_context_chars=DEFAULT_MAX_CONTEXT,
                 show_progress=None, approx_threshold=EXACT_LIMIT):
        check_sizes(chunk_size, chunk_overlap)
        check_top_k(top_k, "top_k")
        if search_type not in SEARCH_TYPES:
            raise ConfigurationError(f"search_type must be one of {', '.join(SEARCH_TYPES)}; got {search_type!r}.")
        alpha = check_alpha(alpha)
        if fusion not in fusion_mod.FUSIONS:
            raise ConfigurationError(f"fusion must be \"weighted\" or \"rrf\"; got {fusion!r}.")
        if rerank_top_k is not None:
            check_top_k(rerank_top_k, "rerank_top_k")
            rerank_model = rerank_model or "cross-encoder"
        if not isinstance(llm_provider, str):
            raise ConfigurationError(f"llm_provider must be a provider name such as \"openai\"; got {llm_provider!r}.")
        if max_context_chars is not None:
            check_top_k(max_context_chars, "max_context_chars")
        self.embedding_model = embedding_model if isinstance(embedding_model, str) or embedding_model is None \
            else getattr(embedding_model, "model_name", type(embedding_model).__name__)
        self.llm_provider, self.llm_model = llm_provider, llm_model
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.top_k, self.search_type, self.alpha, self.fusion = top_k, search_type, alpha, fusion
        self.rerank_model, self.rerank_top_k = rerank_model, rerank_top_k
        self.citation_mode = bool(citation_mode)
        self.system_message, self.temperature = system_message, temperature
        self.max_context_chars = max_context_chars
        self.show_progress, self.approx_threshold = show_progress, approx_threshold
        self._embedder = make_embedder(embedding_model)
        self.reranker = make_reranker(rerank_model)   # None: no re-ranking; the RAG tuner's switch sets it
        self._index = None                 # VectorIndex, created when the dimension is known
        self._keyword = KeywordIndex()
        self._docs = {}                    # doc id -> {"metadata", "chunks": [chunk ids], "hash"}
        self._chunks = {}                  # chunk id -> Chunk
        self._next_id = 0
        self._session = None
        self._lock = threading.RLock()
        self.embedded_chunks = 0           # chunks embedded by this engine (saved stores load with 0)

    # ---- indexing ------------------------------------------------------------------------------
    def index_documents(self, documents, show_progress=None):
        """Add or replace documents: [{"id": ..., "content": ..., "metadata": {...}}, ...].

        Only new or changed documents are chunked and embedded; a document whose id is already
        indexed is replaced (its old chunks are removed). The whole batch is checked first, so a
        bad document leaves the index untouched. Returns a summary dict.
        """
        docs = _validate_batch(documents)
        with self._lock:
            todo, unchanged = [], 0
            for doc in docs:
                old = self._docs.get(doc["id"])
                if old is not None and old["hash"] == doc["hash"]:
                    old["metadata"] = doc["metadata"]   # same text: no need to embed again
                    unchanged += 1
                else:
                    todo.append(doc)
            new_chunks = []
            for doc in todo:
                for n, piece in enumerate(split_text(doc["content"], self.chunk_size, self.chunk_overlap), 1):
                    new_chunks.append(Chunk(self._next_id + len(new_chunks), doc["id"], n, piece.text,
                                            piece.start, piece.end))
            if new_chunks:
                progress = show_progress if show_progress is not None else self.show_progress
                if progress is None:
                    progress = len(new_chunks) >= PROGRESS_FROM
                vectors = encode_all(self._embedder, [c.text for c in new_chunks], progress=progress)
                if self._index is None:
                    self._index = VectorIndex(vectors.shape[1], exact_limit=self.approx_threshold)
                elif vectors.shape[1] != self._index.dimension:
                    raise ConfigurationError(
                        f"The embedding model now returns {vectors.shape[1]}-dimensional vectors but the index "
                        f"holds {self._index.dimension}-dimensional ones (did the mode change between local "
                        f"and live?). Nothing was changed.")
            replaced = [d["id"] for d in todo if d["id"] in self._docs]
            self._remove([self._docs[i] for i in replaced])
            if new_chunks:
                self._index.add([c.id for c in new_chunks], vectors)
                self._keyword.add([c.id for c in new_chunks], [c.text for c in new_chunks])
                self._chunks.update((c.id, c) for c in new_chunks)
                self._next_id += len(new_chunks)
                self.embedded_chunks += len(new_chunks)
            by_doc = {}
            for c in new_chunks:
                by_doc.setdefault(c.doc_id, []).append(c.id)
            for doc in todo:
                self._docs[doc["id"]] = {"metadata": doc["metadata"], "hash": doc["hash"],
                                         "chunks": by_doc.get(doc["id"], [])}
        return {"indexed": len(todo) - len(replaced), "replaced": len(replaced), "unchanged": unchanged,
                "chunks_added": len(new_chunks), "documents": len(self._docs), "chunks": len(self._chunks)}

    def remove_documents(self, ids):
        """Remove documents (and their chunks) by id; returns how many were removed."""
        if isinstance(ids, (str, int)):
            ids = [ids]
        with self._lock:
            found = [str(i) for i in ids if str(i) in self._docs]
            self._remove([self._docs[i] for i in found])
            for i in found:
                del self._docs[i]
        return len(found)

    def _remove(self, entries):
        ids = [cid for entry in entries for cid in entry["chunks"]]
        if ids:
            self._index.remove(ids)
            self._keyword.remove(ids)
            for cid in ids:
                del self._chunks[cid]

    def __len__(self):
        """The number of documents indexed (stats() also gives chunks)."""
        return len(self._docs)

    def __repr__(self):
        return (f"RAGEngine(documents={len(self._docs)}, chunks={len(self._chunks)}, "
                f"embedding_model={self._embedder.name!r}, search_type={self.search_type!r})")

    def stats(self):
        """What is indexed and which components run (plain dict, for printing or a table)."""
        return {
            "documents": len(self._docs),
            "chunks": len(self._chunks),
            "embedding_model": self._embedder.name,
            "embedding_backend": self._embedder.kind,
            # The model that really made the vectors: in replay/local mode the kit's all-MiniLM-L6-v2
            # answers to "text-embedding-3-small" (None until the first OpenAI embedding call).
            "embedding_served_by": getattr(self._embedder, "served_model", None) or (
                None if self._embedder.kind == "openai" else self._embedder.name),
            "dimension": self._index.dimension if self._index else self._embedder.dimension,
            "vector_index": self._index.describe() if self._index else "empty (created on first index_documents)",
            "keyword_index": self._keyword.describe(),
            "search_type": self.search_type,
            "alpha": self.alpha,
            "fusion": self.fusion,
            "top_k": self.top_k,
            "rerank_top_k": self.rerank_top_k,
            "reranker": self.reranker.describe() if self.reranker else "none",
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "chunk_unit": "characters",
            "citation_mode": self.citation_mode,
            "llm": f"{self.llm_provider}:{self.llm_model or 'default'}",
            "embedded_chunks": self.embedded_chunks,
            "embedding_tokens": self._embedder.tokens,
            "embedding_cost": (None if self._embedder.cost_per_token is None
                               else round(self._embedder.tokens * self._embedder.cost_per_token, 8)),
        }

    # ---- read access, for tools that show or save the engine (widgets, the lab, the store) ------------
    @property
    def lock(self) -> Any:
        """The engine's lock: hold it to read several of the parts below as one consistent state."""
        return self._lock

    @property
    def documents(self) -> Mapping[str, dict[str, Any]]:
        """Indexed documents, read-only: id -> {"metadata", "hash", "chunks": [chunk ids]}."""
        return MappingProxyType(self._docs)

    @property
    def chunks(self) -> Mapping[int, Chunk]:
        """Indexed chunks, read-only: chunk id -> Chunk."""
        return MappingProxyType(self._chunks)

    @property
    def next_chunk_id(self) -> int:
        """The id the next chunk gets (ids are never reused)."""
        return self._next_id

    @property
    def embedder(self) -> Any:
        return self._embedder

    @property
    def vector_index(self) -> Any:
        """The VectorIndex (None until the first document is indexed)."""
        return self._index

    @property
    def keyword_index(self) -> KeywordIndex:
        return self._keyword

    @property
    def answering_session(self) -> Any:
        """The ChatSession that has answered so far, or None (unlike `session`, never creates one)."""
        return self._session

    @answering_session.setter
    def answering_session(self, session: Any) -> None:
        """Hand the answers (and their cost totals) to an existing session: a rebuilt engine keeps them."""
        with self._lock:
            self._session = session

    # ---- retrieval -----------------------------------------------------------------------------
    def retrieve(self, text, top_k=None, filters=None, search_type=None, alpha=None):
        """The best chunks for `text` as source dicts (id, chunk_id, score, content, metadata); no LLM.

        With re-ranking, top_k candidates are re-scored and the best rerank_top_k returned.
        """
        return self._retrieve(text, top_k, filters, search_type, alpha)[0]

    def query_settings(self, text, top_k=None, search_type=None, alpha=None):
        """(top_k, search_type, alpha) for one query: the engine's defaults where None; bad values raise."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError("The query is empty: pass the question as a non-empty string.")
        k = self.top_k if top_k is None else check_top_k(top_k, "top_k")
        search_type = search_type or self.search_type
        if search_type not in SEARCH_TYPES:
            raise ConfigurationError(f"search_type must be one of {', '.join(SEARCH_TYPES)}; got {search_type!r}.")
        return k, search_type, self.alpha if alpha is None else check_alpha(alpha)

    def _retrieve(self, text, top_k, filters, search_type, alpha):
        k, search_type, alpha = self.query_settings(text, top_k, search_type, alpha)
        match = compile_filter(filters)
        info = {"search_type": search_type, "filters": filters}
        start = time.perf_counter()
        with self._lock:
            if not self._chunks:
                raise ConfigurationError("Nothing is indexed yet: call index_documents([...]) first.")
            subset = None
            if match is not None:
                subset = [cid for entry in self._docs.values() if match(entry["metadata"])
                          for cid in entry["chunks"]]
                info["filtered_chunks"] = len(subset)
            hits = [] if subset == [] else self.search(text, k, subset, search_type, alpha)
            if self.reranker is not None and hits:
                keep = min(self.rerank_top_k or k, k)
                cands = [(cid, self._chunks[cid].text, score) for cid, score in hits]
                hits = fusion_mod.top(dict(self.reranker.rerank(text, cands)), keep)
            sources = [self._source(cid, score) for cid, score in hits]
            # After re-ranking: a cross-encoder that failed to load reports its fallback.
            info["reranker"] = self.reranker.describe() if self.reranker else "none"
        info["retrieval_ms"] = round((time.perf_counter() - start) * 1000, 1)
        return sources, info

    def search(self, text: str, k: int, subset: list[int] | None = None, search_type: str = "semantic",
               alpha: float = DEFAULT_ALPHA) -> list[tuple[int, float]]:
        """The first stage of retrieve(): [(chunk id, score)], best first, before re-ranking; `subset`
        limits it to those chunk ids. Settings are taken as given (see query_settings)."""
        if search_type == "keyword":
            ids, scores = self._keyword.search(text, k, subset)
            return list(zip(ids, scores))
        query = self.embed_query(text)
        if search_type == "semantic":
            ids, scores = self._index.search(query, k, subset)
            return list(zip(ids, scores))
        pool = max(POOL, k)
        sem_ids, _ = self._index.search(query, pool, subset)
        order, kw_all = self._keyword.scores(text)
        kw_ids, _ = self._keyword.top(order, kw_all, pool, subset)
        if self.fusion == "rrf":
            return fusion_mod.top(fusion_mod.rrf(sem_ids, kw_ids), k)
        ids = list(dict.fromkeys(sem_ids + kw_ids))
        sem = self._index.scores_for(query, ids)
        kw = self._keyword.lookup(kw_all, ids)
        return fusion_mod.top(fusion_mod.weighted(ids, sem, kw, alpha), k)

    def embed_query(self, text: str) -> Any:
        """The query's vector, as search() compares it with the chunks'."""
        return normalise(self._embedder.encode([text]))[0]

    def _source(self, cid, score):
        c = self._chunks[cid]
        return {"id": c.doc_id, "chunk_id": c.label, "score": round(float(score), 4), "content": c.text,
                "metadata": dict(self._docs[c.doc_id]["metadata"])}

    # ---- answering -----------------------------------------------------------------------------
    def query(self, text, include_sources=True, filters=None, top_k=None, search_type=None, alpha=None):
        """Retrieve the best chunks and have the LLM answer from them; returns a `RAGResponse`."""
        sources, info = self._retrieve(text, top_k, filters, search_type, alpha)
        if not sources:
            info.update(llm_called=False, context_passages=0)
            answer = ("No indexed document matches these filters, so there is nothing to answer from."
                      if filters else "No indexed passage matches this question.")
            return RAGResponse(answer, [], Citations(), metadata=info)
        passages = self._context(sources)
        prompt = "Context:\n\n" + "\n\n".join(
            f"[{n}] ({s['chunk_id']})\n{s['content']}" for n, s in enumerate(passages, 1)) + \
            f"\n\nQuestion: {text.strip()}"
        reply = self._ask(prompt)
        answer, citations = str(reply), Citations()
        if self.citation_mode:
            answer, citations, unresolved = resolve_citations(answer, passages)
            info["unresolved_citations"] = unresolved
            if unresolved:
                log.warning("The answer cited %s, which match no passage; removed.",
                            ", ".join(f"[{n}]" for n in unresolved))
            info["citations_by"] = "model"
            if not citations:   # small models often ignore the instruction: attribute by similarity
                answer, citations = attribute(answer, passages, self._local_embedder())
                info["citations_by"] = "glwork (sentence similarity; the model cited nothing)" if citations \
                    else "none"
        info.update(llm_called=True, context_passages=len(passages), latency_ms=getattr(reply, "latency_ms", None))
        return RAGResponse(answer, sources if include_sources else [], citations,
                           usage=getattr(reply, "usage", Usage()), cost=getattr(reply, "cost", None),
                           model=getattr(reply, "model", None), metadata=info, source=getattr(reply, "source", None),
                           provider=getattr(reply, "provider", None) or self.llm_provider)

    def _context(self, sources):
        """The passages that fit in max_context_chars (at least one, cut if need be)."""
        if self.max_context_chars is None:
            return sources
        out, used = [], 0
        for s in sources:
            if used + len(s["content"]) > self.max_context_chars:
                if not out:
                    out.append({**s, "content": s["content"][:self.max_context_chars]})
                break
            out.append(s)
            used += len(s["content"])
        return out

    def _local_embedder(self):
        return self._embedder if self._embedder.kind == "local" else local_embedder()

    @property
    def session(self):
        """The ChatSession that answers (created on first use, so retrieve() never needs an LLM)."""
        with self._lock:
            if self._session is None:
                from ..session import ChatSession
                system = self.system_message or (SYSTEM + (CITE if self.citation_mode else ""))
                self._session = ChatSession(provider=self.llm_provider, model=self.llm_model,
                                            system_message=system, temperature=self.temperature)
            return self._session

    def _ask(self, prompt):
        with self._lock:
            session = self.session
            session.reset()   # each question stands alone; cost totals are kept
            return session.send_message(prompt)

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path):
        """Write the index, chunks and settings to the folder `path` (atomically; replaces it)."""
        from .store import save
        with self._lock:
            if self._index is None:
                raise ConfigurationError("Nothing is indexed yet: index documents before saving.")
            return save(self, path)

    @classmethod
    def load(cls, path, embedding_model=None, **overrides):
        """Open a saved engine without re-embedding. `embedding_model`, if given, must match the store's;
        other keyword arguments (search_type, alpha, top_k, llm_model, ...) override saved settings."""
        from .store import load
        saved = load(path, embedding_model, overrides)
        engine = cls(embedding_model=saved.embedding_model, **saved.settings)
        if saved.embedding_backend == "openai":   # what answered, so new vectors can be checked against it
            engine._embedder.dimension = saved.index.dimension
            engine._embedder.served_model = saved.served_model
        engine._index, engine._chunks, engine._docs, engine._next_id = (saved.index, saved.chunks,
                                                                       saved.documents, saved.next_chunk_id)
        engine._index.exact_limit = engine.approx_threshold   # as saved, or as overridden
        engine._keyword.add(list(saved.chunks), [c.text for c in saved.chunks.values()])
        return engine


def check_top_k(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}.")
    return value


def check_alpha(alpha: Any) -> float:
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
        raise ConfigurationError(f"alpha must be a number from 0 (keyword only) to 1 (semantic only), got {alpha!r}.")
    return float(alpha)


def _validate_batch(documents):
    """Check every document before anything changes; return normalised copies."""
    if isinstance(documents, dict):
        raise ConfigurationError("index_documents() takes a LIST of documents: wrap the dict in [ ... ].")
    if isinstance(documents, (str, bytes)) or not hasattr(documents, "__iter__"):
        raise ConfigurationError(
            'index_documents() takes a list of dicts like {"id": "doc1", "content": "...", "metadata": {...}}.')
    out, problems, seen = [], [], set()
    for pos, doc in enumerate(documents):
        where = f"document #{pos}"
        if not isinstance(doc, dict):
            problems.append(f"{where} is a {type(doc).__name__}, not a dict with id and content")
            continue
        doc_id = doc.get("id")
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or not str(doc_id).strip():
            problems.append(f"{where} has no usable \"id\" (a non-empty string), got {doc_id!r}")
            continue
        doc_id = str(doc_id)
        where = f"document #{pos} (id {doc_id!r})"
        before = len(problems)
        content = doc.get("content")
        if not isinstance(content, str):
            problems.append(f"{where}: \"content\" must be a string, got {type(content).__name__}")
        elif not content.strip():
            problems.append(f"{where}: \"content\" is empty")
        metadata = doc.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
            problems.append(f"{where}: \"metadata\" must be a dict with string keys")
        else:
            try:
                json.dumps(metadata, allow_nan=False)
            except (TypeError, ValueError) as exc:
                problems.append(f"{where}: metadata must hold JSON values (str, number, bool, list, dict): {exc}")
        unknown = set(doc) - {"id", "content", "metadata"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {sorted(unknown)} (use \"metadata\" for extra fields)")
        if doc_id in seen:
            problems.append(f"{where}: the id appears twice in this batch")
        seen.add(doc_id)
        if len(problems) == before:   # a private copy: later edits by the caller don't leak in
            out.append({"id": doc_id, "content": content, "metadata": json.loads(json.dumps(metadata)),
                        "hash": _doc_hash(content)})
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ConfigurationError("Nothing was indexed: " + "; ".join(problems[:5]) + more + ".")
    return out
