"""VectorIndex: faiss inner product over unit vectors (= cosine similarity), removable by id.

Exact up to `exact_limit` vectors: IndexFlatIP inside an IndexIDMap2, so entries can be removed by
id. Above it the vectors move to an IVF index (glwork.vectors.ivf: approximate, still removable),
retrained once the collection has grown fourfold since it was trained. Searches limited to a subset
of ids are always exact. A search runs on one thread, training and large additions on all cores
(glwork.threads).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..threads import QUERY_THREADS, faiss_threads, threads_for
from . import ivf

# A flat scan of 100k 384-d vectors takes ~10 ms on one core, next to ~12 ms to embed the query.
# The semantic cache, which answers in under 1 ms, switches at 5,000.
EXACT_LIMIT = 100_000
NPROBE = 32


def _ids(ids: Any) -> Any:
    import numpy as np
    return np.ascontiguousarray(ids, dtype=np.int64)


class VectorIndex:
    """One collection of vectors; `exact_limit` None keeps it exact whatever its size."""

    def __init__(self, dimension: int, exact_limit: int | None = EXACT_LIMIT, nprobe: int = NPROBE) -> None:
        import faiss
        self.dimension = int(dimension)
        self.exact_limit = exact_limit
        self.trained_size = 0   # vectors the IVF quantizer was trained on (0 = exact index)
        self.index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        self.nprobe = nprobe

    @property
    def nprobe(self) -> int:
        """Lists an approximate search looks in (more: slower, finds more)."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = int(value)
        if self.approximate:
            self.index.nprobe = self._nprobe

    @property
    def approximate(self) -> bool:
        return self.trained_size > 0

    def describe(self) -> str:
        if self.approximate:
            return (f"faiss IndexIVFFlat (approximate, {self.index.nlist} lists, nprobe={self.nprobe}; "
                    f"above {self.exact_limit:,} vectors)")
        return "faiss IndexFlatIP in IndexIDMap2 (exact inner product)"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    # ---- changes ---------------------------------------------------------------------------------
    def add(self, ids: Sequence[int], vectors: Any) -> None:
        import numpy as np
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ConfigurationError(
                f"The embedding model returned {vectors.shape[-1]}-dimensional vectors but this index "
                f"holds {self.dimension}-dimensional ones: use the embedding model it was built with.")
        with faiss_threads(threads_for(len(vectors))):
            self.index.add_with_ids(vectors, _ids(ids))
        n = len(self)
        if self.exact_limit is not None and n > self.exact_limit and \
                (not self.approximate or n >= 4 * self.trained_size):
            self._to_ivf()

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self.index.remove_ids(_ids(ids))

    def _to_ivf(self) -> None:
        ids = self._id_array()
        with faiss_threads(threads_for(len(ids))):
            self.index = ivf.build(ids, self.vectors(ids), self.dimension, self.nprobe)
        self.trained_size = len(ids)

    # ---- reading ---------------------------------------------------------------------------------
    def vector(self, vector_id: int) -> Any:
        """The stored vector of one id."""
        return self.index.reconstruct(int(vector_id))

    def vectors(self, ids: Sequence[int]) -> Any:
        return self.index.reconstruct_batch(_ids(ids))

    def all_ids(self) -> list[int]:
        return self._id_array().tolist()

    def _id_array(self) -> Any:
        import faiss
        if self.approximate:
            return ivf.ids_of(self.index)
        return faiss.vector_to_array(self.index.id_map)

    def search(self, query: Any, k: int, subset: Sequence[int] | None = None) -> tuple[list[int], list[float]]:
        """Top-k (ids, scores), best first, for one unit query vector; `subset` limits the ids searched."""
        import faiss
        import numpy as np
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimension:
            raise ConfigurationError(
                f"The query was embedded into {query.shape[1]} dimensions but the index holds "
                f"{self.dimension}: this index was built with another embedding model or endpoint.")
        params = None
        if subset is not None:
            allowed = _ids(subset)
            k = min(k, len(allowed))
            if k == 0:
                return [], []
            if self.approximate:
                # Exact over the subset: an IVF search with a selector can miss allowed vectors.
                scores = self.vectors(allowed) @ query[0]
                top = np.argsort(-scores, kind="stable")[:k]
                return allowed[top].tolist(), scores[top].tolist()
            selector = faiss.IDSelectorBatch(allowed)  # keep a reference while faiss uses it
            params = faiss.SearchParameters(sel=selector)
        else:
            k = min(k, len(self))
            if k == 0:
                return [], []
        with faiss_threads(QUERY_THREADS):
            scores, ids = self.index.search(query, k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep].tolist(), scores[0][keep].tolist()

    def scores_for(self, query: Any, ids: Sequence[int]) -> Any:
        """Exact similarity of the query to the given ids (for fusion of candidate lists)."""
        import numpy as np
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return self.vectors(ids) @ np.asarray(query, dtype=np.float32).reshape(-1)

    # ---- persistence -----------------------------------------------------------------------------
    def write(self, path: str | Path) -> None:
        import faiss
        faiss.write_index(self.index, str(path))

    @classmethod
    def read(cls, path: str | Path, dimension: int, exact_limit: int | None = EXACT_LIMIT, nprobe: int = NPROBE,
             trained_size: int = 0) -> VectorIndex:
        import faiss
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise ConfigurationError(f"The stored index has {index.d} dimensions, the manifest says {dimension}.")
        if isinstance(index, faiss.IndexIDMap2) != (trained_size == 0):
            raise ConfigurationError("The stored index type does not match its manifest.")
        self = cls.__new__(cls)
        self.dimension, self.exact_limit, self.trained_size = dimension, exact_limit, trained_size
        self.index = index   # read_index already returns the concrete type (and owns it)
        self.nprobe = nprobe
        return self
