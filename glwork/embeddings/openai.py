"""OpenAIEmbedder: OpenAI embeddings through the official SDK, pointed where ChatSession(provider="openai") is.

In live mode that is api.openai.com (OPENAI_API_KEY, OPENAI_BASE_URL); in replay mode the notebook's
cassette; in local mode the embedded backend, whose /v1/embeddings serves all-MiniLM-L6-v2 under any
model name (384 dims instead of 1536). `served_model` and `dimension` record what actually answered,
so a saved index can't be mixed with other vectors. Requests are tracked like chat calls
(glwork.providers.embeddings): reserved on the class budget, admitted by a rate limiter, recorded.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

OPENAI_MODELS = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")
OPENAI_BATCH = 256  # inputs per request (the API accepts up to 2,048)


class OpenAIEmbedder:
    """encode(texts) -> the API's vectors as float32 rows (OpenAI's are unit length)."""

    kind = "openai"

    def __init__(self, model: str, batch_size: int = OPENAI_BATCH, rate_limiter: Any = None,
                 retry_policy: Any = None) -> None:
        from ..monitoring import pricing
        self.name = model
        self.batch_size = batch_size
        # Tracked like chat calls (glwork.providers.embeddings): ledger, class budget, this limiter.
        self.rate_limiter, self.retry_policy = rate_limiter, retry_policy
        self._mode: str | None = None
        self.dimension: int | None = None
        self.served_model: str | None = None
        self.tokens = 0
        self._client: Any = None
        self._local_client: Any = None   # replay misses (see _replay_miss)
        self._lock = threading.Lock()
        price = pricing.lookup(model)
        self.cost_per_token = price.input / 1e6 if price else None

    @property
    def model_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"OpenAIEmbedder({self.name!r})"

    def _make_client(self) -> Any:
        import openai

        from .. import offline
        from ..config import current_mode
        from ..providers.base import env_or, require_key
        self._mode = current_mode("openai")
        endpoint = offline.connection("openai", self._mode)
        key = require_key(endpoint["api_key"], "OPENAI_API_KEY", "openai")
        return openai.OpenAI(api_key=key, base_url=env_or(endpoint["base_url"], "OPENAI_BASE_URL"),
                             max_retries=0, timeout=60.0)   # the kit's RetryPolicy retries, and books

    def encode(self, texts: Iterable[str]) -> Any:
        import numpy as np

        from ..errors import LLMError
        from ..providers import embeddings
        texts = [t if t.strip() else " " for t in texts]  # the API rejects empty strings
        if not texts:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        rows: list[Any] = []
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
        vecs = np.asarray(rows, dtype=np.float32)
        self.dimension = vecs.shape[1]
        return vecs

    def _replay_miss(self, exc: Exception, batch: list[str]) -> Any:
        """Texts a replayed notebook's cassette does not hold are embedded by the local backend (the
        same all-MiniLM-L6-v2 the shipped cassettes were recorded from), unless replay is strict."""
        from .. import config, offline
        from ..offline import CassetteMissError
        from ..offline.replay import announce
        from ..providers import embeddings
        if not isinstance(exc, CassetteMissError) or config.replay_strict():
            raise exc from None
        if self._local_client is None:
            import openai
            endpoint = offline.connection("openai", "local")
            self._local_client = openai.OpenAI(base_url=endpoint["base_url"], api_key=endpoint["api_key"],
                                               max_retries=0, timeout=300.0)
        resp = embeddings.create(self._local_client, self.name, batch, "local", self.rate_limiter,
                                 self.retry_policy)
        announce(resp.model, what="embedded")
        return resp
