"""RAGTuner: turn the RAG knobs and watch which chunks come back, with every stage's score.

    tuner = RAGTuner(load_carbon_corpus(), query="What are Scope 2 emissions?")   # builds an engine
    tuner = RAGTuner(engine)                                                      # or tunes yours

Chunking knobs (chunk_size, chunk_overlap) rebuild the index (a progress bar shows it); the other
knobs (top_k, search_type, alpha, re-rank on/off, rerank_top_k) only re-run retrieval on the index
already built, a moment after the last change (debounced), so dragging a slider stays smooth.
The table shows each retrieved chunk's semantic, keyword, fused and re-rank scores with the words
that match the query marked; "Ask" has the LLM answer from those chunks, with citations.
"""
import time

from ..errors import ConfigurationError
from ..offline.replay import quiet
from ..rag.chunking import check_sizes
from ..response import source_label
from .rag_scores import apply_settings, documents_of, engine_settings, first_match, highlight, stage_scores
from .view import Debouncer, View, error_html, esc, ipywidgets, markdown_html, table, volatile

DEBOUNCE_S = 0.3
SNIPPET = 360          # characters of each chunk shown in the table, around its first matched word
SEARCH_TYPES = ("semantic", "keyword", "hybrid")
CHUNKING = ("chunk_size", "chunk_overlap")
RETRIEVAL = ("top_k", "search_type", "alpha", "rerank", "rerank_top_k")


class RAGTuner(View):
    """Interactive retrieval over a RAGEngine (or over documents, for which it builds one).

    `documents`: with an engine, the documents it indexed (else they are rebuilt from its chunks
    when the chunking changes); `reranker`: the re-ranker to use when re-ranking is on (default:
    the engine's, else rerank_model="cross-encoder", which is the offline re-ranker when no
    cross-encoder is on this machine); `debounce`: seconds to wait after the last knob change (0:
    at once); other keyword arguments go to RAGEngine when the tuner builds it.
    """

    def __init__(self, engine_or_documents, query="", documents=None, reranker=None, debounce=DEBOUNCE_S,
                 **engine_args):
        from ..rag.engine import RAGEngine
        self._engine_cls = RAGEngine
        if isinstance(engine_or_documents, RAGEngine):
            if engine_args:
                raise ConfigurationError(f"RAGTuner(engine) takes no RAGEngine arguments ({', '.join(engine_args)}): "
                                         f"set them on the engine.")
            self.engine = engine_or_documents
            self.documents = list(documents) if documents is not None else None
        elif isinstance(engine_or_documents, (list, tuple)):
            self.engine = None
            self.documents = list(engine_or_documents)
            engine_args.setdefault("citation_mode", True)
            self._first = RAGEngine(**engine_args)   # checks the arguments before any indexing
        else:
            raise ConfigurationError("RAGTuner needs a RAGEngine or a list of documents "
                                     '([{"id": ..., "content": ..., "metadata": {...}}, ...]).')
        if not isinstance(query, str):
            raise ConfigurationError("query must be a string.")
        self._reranker = reranker
        self.rows, self.answer, self.error = [], None, None
        self.reindexes, self.refreshes = 0, 0      # counters: what the knobs caused (for tests and the status)
        self._answer_for = None
        self._build(query, debounce)
        if self.engine is None:
            self.reindex(first=self._first)
        elif query.strip():
            self.refresh()

    # ---- the view --------------------------------------------------------------------------------
    def _build(self, query, debounce):
        import threading
        w = ipywidgets()
        e = self.engine or self._first
        self._lock = threading.RLock()
        style = {"description_width": "110px"}
        wide = w.Layout(width="360px")
        self.chunk_size = w.IntSlider(value=e.chunk_size, min=100, max=max(2000, e.chunk_size), step=50,
                                      description="chunk_size", style=style, layout=wide, continuous_update=True)
        self.chunk_overlap = w.IntSlider(value=e.chunk_overlap, min=0, max=max(500, e.chunk_overlap), step=10,
                                         description="chunk_overlap", style=style, layout=wide)
        self.top_k = w.IntSlider(value=e.top_k, min=1, max=max(20, e.top_k), description="top_k", style=style,
                                 layout=wide)
        self.top_k.add_class("glw-top-k")
        self.search_type = w.ToggleButtons(options=SEARCH_TYPES, value=e.search_type, description="search_type",
                                           style={"description_width": "110px", "button_width": "80px"})
        self.alpha = w.FloatSlider(value=e.alpha, min=0.0, max=1.0, step=0.05, description="alpha", style=style,
                                   layout=wide)
        on = e.reranker is not None
        self.rerank = w.Checkbox(value=on, description="re-rank", indent=False)
        self.rerank_top_k = w.IntSlider(value=min(e.rerank_top_k or 3, e.top_k), min=1, max=self.top_k.max,
                                        description="rerank_top_k", style=style, layout=wide)
        if on and self._reranker is None:
            self._reranker = e.reranker
        self.query = w.Text(value=query, placeholder="A question to retrieve for; Enter asks the LLM",
                            description="query", style=style, layout=w.Layout(width="720px"))
        self.ask_button = w.Button(description="Ask", button_style="primary")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="indexing", style=style,
                                      layout=w.Layout(visibility="hidden", width="360px"))
        self.status = w.HTML()
        self.table = w.HTML()
        self.answer_view = w.HTML()
        self._reindex_soon = Debouncer(self.reindex, debounce)
        self._refresh_soon = Debouncer(self.refresh, debounce)
        for c in (self.chunk_size, self.chunk_overlap):
            c.observe(lambda _c: self._reindex_soon(), "value")
        for c in (self.top_k, self.search_type, self.alpha, self.rerank, self.rerank_top_k):
            c.observe(lambda _c: self._refresh_soon(), "value")
        self.top_k.observe(self._top_k_changed, "value")
        self.query.on_msg(self._on_query_msg)
        self.ask_button.on_click(lambda _b: self.ask())
        self._sync_enabled()
        self.widget = w.VBox([
            w.HTML("<b>RAG tuner</b> · chunking knobs re-index; the others re-rank at once"),
            w.HBox([w.VBox([self.chunk_size, self.chunk_overlap, self.progress]),
                    w.VBox([self.top_k, self.alpha, self.rerank_top_k])]),
            w.HBox([self.search_type, self.rerank]),
            w.HBox([self.query, self.ask_button]),
            self.status, self.table, self.answer_view])
        self.widget.add_class("glw-rag-tuner")

    def _sync_enabled(self):
        self.alpha.disabled = self.search_type.value != "hybrid"
        self.rerank_top_k.disabled = not self.rerank.value

    def _top_k_changed(self, change):
        # re-ranking keeps at most top_k chunks: the slider can't promise more
        self.rerank_top_k.max = max(change["new"], 1)

    def _on_query_msg(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("event") == "submit":
            self.ask()

    # ---- what the knobs do ----------------------------------------------------------------------------
    def settings(self):
        """The knobs' values as a dict (what the table and the answer were computed with)."""
        return {"chunk_size": self.chunk_size.value, "chunk_overlap": self.chunk_overlap.value,
                "top_k": self.top_k.value, "search_type": self.search_type.value, "alpha": round(self.alpha.value, 2),
                "rerank": self.rerank.value, "rerank_top_k": self.rerank_top_k.value}

    def _reranker_now(self):
        if not self.rerank.value:
            return None
        if self._reranker is None:
            from ..rag.rerank import make_reranker
            self._reranker = make_reranker("cross-encoder")
        return self._reranker

    def reindex(self, first=None):
        """Re-chunk and re-embed every document with the chunking knobs (a new engine), then refresh."""
        with self._lock:
            size, overlap = self.chunk_size.value, self.chunk_overlap.value
            try:
                check_sizes(size, overlap)
                if self.documents is None:   # an engine given without its documents
                    self.documents = documents_of(self.engine)
                if first is not None:
                    engine = first
                else:
                    engine = self._engine_cls(**{**engine_settings(self.engine), "chunk_size": size,
                                                 "chunk_overlap": overlap})
                self._index_with_progress(engine)
            except Exception as exc:
                self._show_error(exc)
                return False
            old, self.engine = self.engine, engine
            if old is not None and old.answering_session is not None:
                engine.answering_session = old.answering_session   # keep it, and its cost totals
            self.reindexes += 1
        self.refresh()
        return True

    def _index_with_progress(self, engine):
        docs = self.documents
        bar = self.progress
        bar.max, bar.value = max(len(docs), 1), 0
        bar.layout.visibility = "visible"
        step = max(1, len(docs) // 20)
        try:
            for i in range(0, len(docs), step):
                engine.index_documents(docs[i:i + step], show_progress=False)
                bar.value = min(i + step, len(docs))
        finally:
            bar.layout.visibility = "hidden"

    def refresh(self):
        """Re-run retrieval with the current knobs (no re-indexing) and redraw the table."""
        with self._lock:
            self._sync_enabled()
            s = self.settings()
            try:
                reranker = self._reranker_now()
                apply_settings(self.engine, s["top_k"], s["search_type"], s["alpha"], reranker, s["rerank_top_k"])
                if not self.query.value.strip():
                    self.rows, self.error = [], None
                    self.status.value = '<span class="glw-note">Type a question in the query box.</span>'
                    self.table.value = ""
                    return []
                started = time.perf_counter()
                self.rows = stage_scores(self.engine, self.query.value, s["top_k"], s["search_type"], s["alpha"],
                                         reranker, s["rerank_top_k"])
                self._ms = (time.perf_counter() - started) * 1000
            except Exception as exc:
                self._show_error(exc)
                return None
            self.error = None
            self.refreshes += 1
            self.status.value = self._status_html(live=True)
            self.table.value = self._table_html()
            self.answer_view.value = self._answer_html()
            return self.rows

    def ask(self):
        """Answer the query from the retrieved chunks with the engine's LLM; returns the RAGResponse."""
        if self.refresh() is None:
            return None
        if not self.query.value.strip():
            return None
        with self._lock:
            self.answer_view.value = '<span class="glw-note">Asking the LLM...</span>'
            try:
                with quiet():   # the answer's header names its source
                    self.answer = self.engine.query(self.query.value)
            except Exception as exc:
                self.answer = None
                self.answer_view.value = error_html(exc)
                self.error = exc
                return None
            self._answer_for = (self.query.value, self.settings(), self.reindexes)
            self.answer_view.value = self._answer_html()
            return self.answer

    def _show_error(self, exc):
        self.error = exc
        self.status.value = error_html(exc)

    # ---- rendering ----------------------------------------------------------------------------------
    def _status_html(self, live):
        s, st = self.settings(), self.engine.stats()
        took = f"{self._ms:.0f} ms"
        rr = f"re-ranked by the {st['reranker']}" if s["rerank"] else "no re-ranking"
        return (f'<div class="glw-rag-status">{len(self.rows)} chunks · {esc(s["search_type"])}'
                f'{" (alpha " + str(s["alpha"]) + ")" if s["search_type"] == "hybrid" else ""} · {esc(rr)} · '
                f'index: {st["chunks"]} chunks of {s["chunk_size"]} chars (overlap {s["chunk_overlap"]}), '
                f'built {self.reindexes}x · retrieval {esc(took) if live else volatile(took)}</div>')

    def _table_html(self):
        def num(v):
            return "" if v is None else f"{v:.3f}"
        rows = [[str(r["rank"]), str(r["first_rank"]), esc(r["chunk_id"]), num(r["semantic"]), num(r["keyword"]),
                 num(r["fused"]), num(r["rerank"]), snippet(self.engine, self.query.value, r["text"])]
                for r in self.rows]
        html = table(["#", "first-stage #", "chunk", "semantic", "keyword (BM25)", "fused", "re-rank", "text"], rows)
        return html.replace("<table>", '<table class="glw-rag-table">', 1)

    def _answer_html(self):
        if self.answer is None:
            return ""
        q, s, n = self._answer_for
        stale = "" if (q, s, n) == (self.query.value, self.settings(), self.reindexes) else \
            '<div class="glw-note">(answered with earlier settings or query: press Ask to update)</div>'
        cites = "".join(f"<li>{esc(c)}</li>" for c in self.answer.citations)
        meta = self.answer.metadata or {}
        by = f" · citations by {esc(meta['citations_by'])}" if meta.get("citations_by") else ""
        origin = source_label(self.answer.source, self.engine.llm_provider, self.answer.model)
        return (f'<div class="glw-rag-answer"><b>Answer</b> ({esc(origin)}{by}){stale}'
                f'{markdown_html(str(self.answer))}'
                f'<ol class="glw-citations" style="list-style:none">{cites}</ol></div>')

    def static_html(self):
        s = self.settings()
        knobs = ", ".join(f"{k}={v}" for k, v in s.items())
        parts = [f"<div><b>RAG tuner</b> · {esc(knobs)}</div>", f"<div>query: {esc(self.query.value)}</div>"]
        if self.error is not None:
            parts.append(error_html(self.error))
        if self.rows:
            parts += [self._status_html(live=False), self._table_html()]
        parts.append(self._answer_html())
        parts.append('<div class="glw-note">Static view: run the notebook in JupyterLab to turn the knobs.</div>')
        return "".join(parts)

    def summary(self):
        return f"RAGTuner({', '.join(f'{k}={v}' for k, v in self.settings().items())}, rows={len(self.rows)})"


def snippet(engine, query, text, width=SNIPPET):
    """Up to `width` characters of `text` around its first word matching the query, highlighted."""
    if len(text) <= width:
        return highlight(engine, query, text)
    at = first_match(engine, query, text)
    start = 0 if at is None else max(0, min(at - width // 4, len(text) - width))
    while start > 0 and not text[start - 1].isspace():   # start on a word
        start -= 1
    body = highlight(engine, query, text[start:start + width])
    return ("…" if start else "") + body + ("…" if start + width < len(text) else "")
