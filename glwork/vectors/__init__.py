"""Vector search for the semantic cache and RAG: one faiss index class, exact up to a size, then
approximate, with entries removable by id. faiss loads on first use."""
from .index import EXACT_LIMIT, NPROBE, VectorIndex

__all__ = ["VectorIndex", "EXACT_LIMIT", "NPROBE"]
