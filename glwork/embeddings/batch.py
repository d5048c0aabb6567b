"""Unit rows and embedding in bulk: what RAG compares by inner product."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .local import BF16_FROM_TOTAL, LocalEmbedder


def normalise(vecs: Any) -> Any:
    """float32 rows of unit length (inner product = cosine), whatever the embedder returned."""
    import numpy as np
    vecs = np.asarray(vecs, dtype=np.float32)
    if vecs.ndim == 1:
        vecs = vecs[None, :]
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-12)


def encode_all(embedder: Any, texts: Sequence[str], progress: bool = False, batch: int = 256) -> Any:
    """Unit rows for many texts, with a progress bar; similar lengths go together to waste less padding.
    A local model embeds BF16_FROM_TOTAL texts or more under bfloat16 where the CPU does it natively."""
    import numpy as np
    fast = {"fast": True} if isinstance(embedder, LocalEmbedder) and len(texts) >= BF16_FROM_TOTAL else {}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = None
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(texts), desc="Embedding chunks", unit="chunk")
    try:
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            vecs = normalise(embedder.encode([texts[j] for j in idx], **fast))
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()
    return out
