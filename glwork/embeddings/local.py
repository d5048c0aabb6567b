"""LocalEmbedder: a sentence-transformers model on this machine's CPU (nothing is downloaded).

all-MiniLM-L6-v2 (384 dims, 256-token window) is the default, shipped in a wheel; "all-mpnet-base-v2"
(768 dims, ~5x slower, better on paraphrases) when its part wheels are installed; or the path of a
model folder. Used by the semantic cache, RAG and the local backend's /v1/embeddings.

A model loads on first use (importing sentence-transformers costs 8-18 s: never at `import glwork`)
and once per process, however many LocalEmbedders name it. A single text is embedded on one thread,
batches on all cores (glwork.threads). Large batches may run under bfloat16 (`fast=True`).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..threads import BULK_FROM, threads_for, torch_threads
from . import files

MODEL_NAME = files.MINILM
DIMENSIONS = {files.MINILM: 384, files.MPNET: 768}
ALIASES = {None: files.MINILM, "local": files.MINILM, "default": files.MINILM,
           "sentence-transformers/" + files.MINILM: files.MINILM,
           "mpnet": files.MPNET, "sentence-transformers/" + files.MPNET: files.MPNET}
# bfloat16 only when indexing this many texts at once, where it saves minutes. Its rounding depends on
# the CPU's kernels (AMX vs AVX512-BF16 moved scores by 1e-3 between two machines), so smaller
# corpora (the notebooks', the lab's) stay float32 and score the same everywhere.
BF16_FROM_TOTAL = 2_000


def canonical(name: str | None) -> str | None:
    """The shipped model a name stands for ("local" -> "all-MiniLM-L6-v2"), or None if it names none."""
    name = ALIASES.get(name, name)
    return name if name in DIMENSIONS else None


class _Loaded:
    """One model per process; its lock serialises encoding (the fast tokenizer is not thread-safe:
    "Already borrowed") and the thread setting around it."""

    def __init__(self) -> None:
        self.model: Any = None
        self.lock = threading.RLock()


_LOADED: dict[str, _Loaded] = {}
_LOADED_LOCK = threading.Lock()


class LocalEmbedder:
    """`LocalEmbedder()` (all-MiniLM-L6-v2), `LocalEmbedder("all-mpnet-base-v2")` or `LocalEmbedder(folder)`."""

    cost_per_token = 0.0
    tokens = 0   # nothing is billed

    def __init__(self, model: str | os.PathLike[str] | None = None) -> None:
        shipped = canonical(model) if model is None or isinstance(model, str) else None
        self.name = shipped or _folder(model)
        self.kind = "local" if shipped else "folder"
        with _LOADED_LOCK:
            self._loaded = _LOADED.setdefault(self.name, _Loaded())

    @property
    def model_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"LocalEmbedder({self.name!r})"

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first use."""
        loaded = self._loaded
        with loaded.lock:
            if loaded.model is None:
                # Local files only, nothing can be fetched; the process's HF_HUB_OFFLINE (the user's
                # other Hugging Face code) stays as the user set it. No loading bars in outputs.
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from sentence_transformers import SentenceTransformer
                folder = files.minilm_folder() if self.name == files.MINILM else \
                    files.mpnet_folder() if self.name == files.MPNET else self.name
                loaded.model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
            return loaded.model

    @property
    def loaded(self) -> bool:
        return self._loaded.model is not None

    @property
    def dimension(self) -> int | None:
        """384 or 768 for the shipped models; a folder's model says once it has loaded (else None)."""
        if self.name in DIMENSIONS:
            return DIMENSIONS[self.name]
        m = self._loaded.model
        if m is None:
            return None
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: str | Iterable[str], batch_size: int = 64, normalize: bool = True,
               fast: bool = False) -> Any:
        """Embed a string or a list of strings -> float32 array (n, dimension), unit rows if `normalize`.
        fast=True: bfloat16 autocast for a batch, on CPUs that do it natively (RAG's bulk indexing)."""
        import numpy as np
        texts = [texts] if isinstance(texts, str) else list(texts)
        model = self.model
        if not texts:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)   # loaded: known now
        with torch_threads(threads_for(len(texts)), self._loaded.lock):
            if fast and len(texts) >= BULK_FROM and bf16_ok():
                import torch
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    vecs = model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize,
                                        convert_to_numpy=True, show_progress_bar=False)
            else:
                vecs = model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def count_tokens(self, texts: Iterable[str]) -> list[int]:
        """Word-piece tokens per text (no [CLS]/[SEP]), as an embeddings API bills them."""
        model = self.model
        with self._loaded.lock:
            ids = model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(i) for i in ids]


def _folder(model: Any) -> str:
    folder = Path(os.path.expanduser(str(model)))
    if not folder.is_dir():
        from ..errors import ConfigurationError
        raise ConfigurationError(
            f"{model!r} is neither a local embedding model ({', '.join(DIMENSIONS)}) nor a folder on this "
            f"machine: pass one of those, or the path of a sentence-transformers model folder.")
    return str(folder.resolve())


_SHARED: dict[str, LocalEmbedder] = {}


def local_embedder(model: str | None = None) -> LocalEmbedder:
    """The process-wide LocalEmbedder of `model` (default all-MiniLM-L6-v2); it loads on first encode."""
    key = canonical(model) or str(model)
    with _LOADED_LOCK:
        found = _SHARED.get(key)
    if found is None:
        found = LocalEmbedder(model)
        with _LOADED_LOCK:
            found = _SHARED.setdefault(key, found)
    return found


_BF16: bool | None = None


def bf16_ok() -> bool:
    """True when the CPU does bfloat16 natively (AVX512-BF16 / AMX) and GLWORK_EMBED_BF16 != "0"."""
    global _BF16
    if _BF16 is None:
        try:
            import torch
            _BF16 = os.environ.get("GLWORK_EMBED_BF16", "1") != "0" and bool(
                torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except Exception:   # a private torch probe: if it moves, stay with float32
            _BF16 = False
    return _BF16
