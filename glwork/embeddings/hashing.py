"""HashingEmbedder: a deterministic stand-in for an embedding model, for tests and quick demos.

Each word maps to a fixed pseudo-random vector (seeded by its CRC32); a text is the sum. Texts that
share words get a high cosine, so get/set/TTL/scope logic can be tested in milliseconds without
the model. It knows nothing of meaning: "car" and "automobile" are unrelated to it.
"""
from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    model_name = "hashing"

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = int(dimension)
        self._vector = functools.lru_cache(maxsize=65536)(self._word_vector)

    def _word_vector(self, word: str) -> Any:
        import numpy as np
        return np.random.default_rng(zlib.crc32(word.encode())).standard_normal(self.dimension).astype(np.float32)

    def encode(self, texts: str | Iterable[str], normalize: bool = True) -> Any:
        import numpy as np
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[i] += self._vector(word)
            if not out[i].any():
                out[i, 0] = 1.0  # punctuation only: any fixed non-zero vector
        if normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out
