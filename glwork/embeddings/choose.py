"""make_embedder: the embedder an `embedding_model=` argument names (RAGEngine, a saved RAG store)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigurationError
from .local import DIMENSIONS, MODEL_NAME, LocalEmbedder, canonical, local_embedder
from .openai import OPENAI_MODELS, OpenAIEmbedder


class ObjectEmbedder:
    """Any object with `encode(list_of_str) -> array` (a SentenceTransformer, a HashingEmbedder, a test
    double), with the attributes RAG reports."""

    kind = "object"
    cost_per_token = 0.0

    def __init__(self, obj: Any) -> None:
        self.obj = obj   # the wrapped embedder
        self.name = str(getattr(obj, "model_name", None) or getattr(obj, "name", None) or type(obj).__name__)
        self.dimension: int | None = None
        self.tokens = 0

    def encode(self, texts: Iterable[str]) -> Any:
        import numpy as np
        vecs = np.asarray(self.obj.encode(list(texts)), dtype=np.float32)
        if vecs.ndim == 1:
            vecs = vecs[None, :]
        self.dimension = vecs.shape[1]
        return vecs


def make_embedder(spec: Any) -> Any:
    """None/"local"/"all-MiniLM-L6-v2" (the default), "all-mpnet-base-v2", an OpenAI model name
    ("text-embedding-3-small" or "openai:<name>"), a model folder's path, or an embedder object."""
    if spec is None or isinstance(spec, str) and canonical(spec):
        return local_embedder(spec)
    if isinstance(spec, str):
        if spec.startswith("text-embedding-") or spec.startswith("openai:"):
            return OpenAIEmbedder(spec.split(":", 1)[-1] if spec.startswith("openai:") else spec)
        if os.path.isdir(os.path.expanduser(spec)):
            return local_embedder(spec)
        raise ConfigurationError(
            f"Unknown embedding_model {spec!r}. Use a local model ({MODEL_NAME!r}, the default, or "
            f"{', '.join(repr(m) for m in DIMENSIONS if m != MODEL_NAME)}), an OpenAI model "
            f"({', '.join(OPENAI_MODELS)}), or the path of a sentence-transformers model folder on this machine "
            f"(nothing is downloaded).")
    if isinstance(spec, (LocalEmbedder, OpenAIEmbedder)):   # e.g. OpenAIEmbedder(model, rate_limiter=...)
        return spec
    if hasattr(spec, "encode"):
        return ObjectEmbedder(spec)
    raise ConfigurationError(f"embedding_model must be a model name, a folder path or an object with "
                             f"encode(); got {type(spec).__name__}.")
