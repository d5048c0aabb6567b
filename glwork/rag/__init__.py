"""Retrieval-augmented generation (workshop Part 2): `RAGEngine` and the carbon corpus.

Importing this package is cheap: faiss, bm25s and sentence-transformers load on first use.
"""
from importlib import import_module

_LAZY = {
    "RAGEngine": "glwork.rag.engine",
    "RAGResponse": "glwork.rag.engine",
    "StoreError": "glwork.rag.store",
    "load_carbon_corpus": "glwork.rag.corpus",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'glwork.rag' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
