"""Embedding models, in one place: LocalEmbedder (sentence-transformers on this machine: the default
all-MiniLM-L6-v2 shipped in a wheel, all-mpnet-base-v2, or a model folder), OpenAIEmbedder (the
official SDK, tracked like chat calls, replay misses embedded locally) and HashingEmbedder (tests).

    from glwork.embeddings import local_embedder
    vectors = local_embedder().encode(["What is Scope 1?"])   # (1, 384) float32, unit rows

Importing this package is light: torch and sentence-transformers load on the first encode.
"""
from .batch import encode_all, normalise
from .choose import ObjectEmbedder, make_embedder
from .hashing import HashingEmbedder
from .local import MODEL_NAME, LocalEmbedder, local_embedder
from .openai import OpenAIEmbedder

__all__ = ["LocalEmbedder", "local_embedder", "MODEL_NAME", "OpenAIEmbedder", "HashingEmbedder", "ObjectEmbedder",
           "make_embedder", "encode_all", "normalise"]
