"""CarbonQAAgent: the reference solution of the workshop's lab (Part 6), built on the public API.

    from glwork.agents import CarbonQAAgent
    with CarbonQAAgent() as agent:
        result = agent.execute_with_input({"query": "What are Scope 1 emissions?"})
    result["answer"], result["sources"], result["cached"], result["cost"], result["tokens"]

RAGEngine finds the passages, ChatSession writes the answer, SemanticCacheManager answers
repeated questions by meaning, and every result says what it cost. Where it departs from the
text's code, a comment says why (per-question cost and tokens, one question per conversation,
retrieval that knows scope numbers).
"""
import hashlib
import json
import math
import re
from pathlib import Path

from ..errors import ConfigurationError
from ..security import get_logger
from .agent import Agent
from .documents import lab_documents

log = get_logger("glwork.agents.carbon")

SYSTEM_MESSAGE = """You are a carbon accounting expert.
Answer questions using the provided context.
Be accurate and cite sources."""
PROMPT = """Context:
{context}

Question: {query}

Please answer based on the context above. Cite sources by number."""
# "Scope 1", "Scope 1 and 2", "scopes 1, 2 and 3", "Scope 2 vs Scope 3".
_SCOPES = re.compile(r"\bscopes?\s*([123](?:\s*(?:,|and|&|or|vs\.?|versus)\s*(?:scope\s*)?[123])*)\b", re.I)


def scopes_named(text):
    """The GHG scopes a question names, in order: "difference between Scope 1 and 2?" -> [1, 2]."""
    out = []
    for m in _SCOPES.finditer(text):
        for n in re.findall(r"[123]", m.group(1)):
            if int(n) not in out:
                out.append(int(n))
    return out


def find_sources(rag, query, top_k=3):
    """The `top_k` best passages of `rag` for `query`, one per document: first the best document of
    each GHG scope the question names (in the question's order), then the best of the rest.

    all-MiniLM-L6-v2 hardly tells "Scope 1" from "Scope 2" (a Scope 1 question scores the Scope 1
    and Scope 2 definitions 0.68 and 0.68), and BM25 drops one-character words. So a question that
    names scopes is also searched within those scopes' documents (a metadata filter, Part 2), and
    each named scope gets its best document in the answer's sources.
    """
    wide = top_k * 4   # several chunks of one document can fill the top: look further down
    named = scopes_named(query)
    candidates = []
    if named:
        found = rag.retrieve(query, top_k=wide, filters={"scope": {"$in": named}})
        candidates += [next(s for s in found if s["metadata"].get("scope") == n)
                       for n in named if any(s["metadata"].get("scope") == n for s in found)]
        candidates += found
    candidates += rag.retrieve(query, top_k=wide)
    out, seen = [], set()
    for s in candidates:
        if s["id"] not in seen:
            seen.add(s["id"])
            out.append(s)
    return out[:top_k]


class CarbonQAAgent(Agent):
    """Answers carbon-accounting questions from the carbon corpus (workshop Part 6).

    Defaults follow the text: provider "openai", model "gpt-4", temperature 0.3, chunk_size 1000,
    top_k 3, similarity_threshold 0.95, ttl 3600. Other arguments:
    - max_tokens: cap on each answer (default 160: a paragraph; keeps cost and local runs short).
    - embedding_model: None = the kit's local all-MiniLM-L6-v2 (free, offline, the same in every
      mode); "text-embedding-3-small" embeds through the provider, as in the text.
    - search_type ("semantic", "hybrid", "keyword"), citation_mode: RAG options of Part 2.
    - fallback_provider, fallback_model: the provider to switch to when the first one fails.
    - documents: what to index (default: `lab_documents()`, 38 documents of data/carbon-corpus).
    - index_dir: a folder where the index is saved and reloaded (skips re-embedding next time).
    - cache: a SemanticCacheManager to use (e.g. one with path= that survives restarts).
    - mode: "live", "replay", "record" or "local" for this agent's session (default: the kit's mode).
    """

    input_schema = {"query": str}

    def __init__(self, provider="openai", model="gpt-4", *, temperature=0.3, max_tokens=160,
                 embedding_model=None, chunk_size=1000, top_k=3, search_type="semantic",
                 citation_mode=False, similarity_threshold=0.95, ttl=3600, fallback_provider=None,
                 fallback_model=None, documents=None, index_dir=None, cache=None, mode=None):
        super().__init__(name="carbon_qa_agent", version="1.0.0")
        self.provider, self.model, self.mode = provider, model, mode
        self.temperature, self.max_tokens = temperature, max_tokens
        self.embedding_model, self.chunk_size, self.top_k = embedding_model, chunk_size, top_k
        self.search_type, self.citation_mode = search_type, bool(citation_mode)
        self.similarity_threshold, self.ttl = similarity_threshold, ttl
        self.fallback_provider, self.fallback_model = fallback_provider, fallback_model
        self.documents, self.index_dir = documents, index_dir
        self.index_info = None
        # Initialize LLM components (setup() creates them)
        self.rag = None
        self.session = None
        self.cache = cache

    # ---- lifecycle -------------------------------------------------------------------------------
    def setup(self):
        """Index the documents (or reload a saved index), open the session and the cache."""
        from ..llm import ChatSession, RAGEngine, SemanticCacheManager
        documents = self._load_documents()
        options = dict(search_type=self.search_type, top_k=self.top_k, citation_mode=self.citation_mode,
                       llm_provider=self.provider, llm_model=self.model)
        saved = self.index_path(documents)
        if saved is not None and (saved / "manifest.json").exists():
            self.rag = RAGEngine.load(saved, embedding_model=self.embedding_model, **options)
            self.index_info = {"documents": len(self.rag), "loaded_from": str(saved)}
        else:
            self.rag = RAGEngine(embedding_model=self.embedding_model, chunk_size=self.chunk_size, **options)
            self.index_info = self.rag.index_documents(documents)
            if saved is not None:
                self.rag.save(saved)
                self.index_info["saved_to"] = str(saved)
        self.session = ChatSession(provider=self.provider, model=self.model, system_message=SYSTEM_MESSAGE,
                                   temperature=self.temperature, max_tokens=self.max_tokens,
                                   fallback_provider=self.fallback_provider, fallback_model=self.fallback_model,
                                   mode=self.mode, name=self.name)
        if self.cache is None:
            self.cache = SemanticCacheManager(similarity_threshold=self.similarity_threshold, ttl=self.ttl)
        log.info("Agent setup complete: %s documents", len(self.rag))

    def _load_documents(self):
        docs = lab_documents() if self.documents is None else list(self.documents)
        if not docs:
            raise ConfigurationError("CarbonQAAgent has no documents to index: pass documents=[...] or leave the "
                                     "default (the carbon corpus).")
        return docs

    def index_path(self, documents=None):
        """index_dir/<fingerprint of documents and chunking> (a changed corpus gets a new index), or
        None without index_dir."""
        if self.index_dir is None:
            return None
        documents = self._load_documents() if documents is None else documents
        spec = {"docs": [[d["id"], hashlib.sha256(d["content"].encode()).hexdigest()] for d in documents],
                "chunk_size": self.chunk_size, "embedding_model": self.embedding_model or "local"}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        return Path(self.index_dir) / f"carbon-index-{digest}"

    def teardown(self):
        """Cleanup resources."""
        if self.session:
            self.session.close()

    # ---- one question ----------------------------------------------------------------------------
    def execute(self):
        query = self.input_data.get("query")
        if not query or not query.strip():
            raise ValueError("No query provided")
        log.info("Processing query: %s", query)

        cached = self.cache.get(query)
        if cached:
            log.info("Cache hit!")
            # tokens too: a caller printing result["tokens"] must not fail on a cache hit.
            return {**cached, "cached": True, "cost": 0.0, "tokens": 0}

        sources = self.find_sources(query)
        context = "\n\n".join(f"Source {i + 1}: {src['content']}" for i, src in enumerate(sources))
        # One question per conversation: otherwise every earlier context rides along (cost grows).
        self.session.reset()
        answer = self.session.send_message(PROMPT.format(context=context, query=query))

        result = {
            "answer": str(answer),
            "sources": [{"id": s["id"], "score": s["score"], "content": s["content"][:200] + "..."}
                        for s in sources],
            "cached": False,
            # This answer's cost and tokens; session.get_cost() would be the running total.
            "cost": _dollars(answer.cost),
            "tokens": answer.usage.total_tokens,
        }
        if self.citation_mode:
            result["answer"], result["citations"] = self._citations(str(answer), sources)
        self.cache.set(query, {k: v for k, v in result.items() if k in ("answer", "sources", "citations")},
                       cost=0.0 if math.isnan(result["cost"]) else result["cost"], tokens=result["tokens"])
        log.info("Query processed. Cost: $%.4f", result["cost"])
        return result

    def find_sources(self, query):
        """The passages the answer is written from (see `find_sources`)."""
        return find_sources(self.rag, query, self.top_k)

    def _citations(self, answer, sources):
        """Citation mode: the [n] markers that name a source, as "[n] id" lines."""
        from ..rag.citations import resolve_citations
        passages = [{**s, "chunk_id": s["id"]} for s in sources]
        answer, citations, _dropped = resolve_citations(answer, passages)
        return answer, list(citations)

    # ---- reporting -------------------------------------------------------------------------------
    def cost_report(self):
        """What the agent's questions cost: queries, cache hits, USD spent and saved, tokens."""
        runs = [r for r in self.history if r.status == "ok" and isinstance(r.output, dict)]
        hits = [r for r in runs if r.output.get("cached")]
        spent = sum(r.output.get("cost") or 0.0 for r in runs)
        tokens = sum(r.output.get("tokens") or 0 for r in runs)
        stats = self.cache.stats() if self.cache is not None else {}
        calls = self.session.get_calls() if self.session is not None else []
        return {"queries": len(runs), "cache_hits": len(hits), "llm_calls": len(calls),
                "total_cost": round(spent, 6), "tokens": tokens,
                "cost_saved": round(float(stats.get("cost_saved", 0.0)), 6),
                "cost_is_estimate": any(c.cost_is_estimate for c in calls),
                "answered_by": sorted({c.model for c in calls if c.model}),
                "errors": sum(1 for r in self.history if r.status != "ok")}


def _dollars(cost):
    """USD as a float; NaN when the model has no known price (never a made-up zero)."""
    return math.nan if cost is None else float(cost)
