"""Retrieval-augmented generation (workshop Part 2): `RAGEngine` and the carbon corpus.

Importing this package is cheap: faiss, bm25s and sentence-transformers load on first use.
"""
import typing as _typing

from .._lazy import lazy as _lazy

if _typing.TYPE_CHECKING:   # what type checkers and editors see; at run time each loads on first use (below)
    from .corpus import load_carbon_corpus
    from .engine import RAGEngine, RAGResponse
    from .store import StoreError

__all__ = ["RAGEngine", "RAGResponse", "StoreError", "load_carbon_corpus"]

__getattr__, __dir__ = _lazy(__name__, {
    "RAGEngine": "glwork.rag.engine",
    "RAGResponse": "glwork.rag.engine",
    "StoreError": "glwork.rag.store",
    "load_carbon_corpus": "glwork.rag.corpus",
})
