"""FAISS inner-product search over normalised vectors (= cosine), one index per scope.

A scope's index is exact (IndexFlatIP in an IndexIDMap2, so entries can be removed by id) up to
`EXACT_LIMIT` vectors: a flat scan of 10k vectors took 0.3-1.3 ms on this 2-core machine. Above it
the vectors move to an IndexIVFFlat (approximate, still removable by id), retrained when the scope
has grown fourfold; retraining at 100k vectors takes ~10 s, once. With `NPROBE` = 32 cells searched,
a near-duplicate (cosine 0.90) of one of 100k *random* vectors, the worst case, was found 98% of
the time (16 cells: 95%); real questions cluster, which helps.
"""
import math
from contextlib import contextmanager

EXACT_LIMIT = 5_000
NPROBE = 32
TRAIN_PER_LIST = 32  # k-means sample per cell: enough for IVF, keeps retraining to a few seconds


def _faiss():
    import faiss
    return faiss


@contextmanager
def _one_thread():
    # One query is too small to split: with 2 OpenMP threads on a busy 2-core machine a 10k-entry
    # search took 10 ms instead of 0.3 ms. The setting is per calling thread, so restore it.
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class ScopeIndex:
    """The vectors of one scope."""

    def __init__(self, dimension):
        faiss = _faiss()
        self.dimension = dimension
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.trained_size = 0   # vectors the IVF quantizer was trained on (0 = exact index)

    def __len__(self):
        return int(self.index.ntotal)

    @property
    def approximate(self):
        return self.trained_size > 0

    def add(self, ids, vectors):
        import numpy as np
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                np.ascontiguousarray(ids, dtype=np.int64))
        n = len(self)
        if n > EXACT_LIMIT and (not self.approximate or n >= 4 * self.trained_size):
            self._rebuild_ivf()

    def remove(self, ids):
        import numpy as np
        if len(ids):
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, vector, k):
        """(ids, cosines) of the k nearest vectors, best first."""
        n = len(self)
        if n == 0:
            return [], []
        with _one_thread():
            scores, ids = self.index.search(vector.reshape(1, -1), min(k, n))
        keep = ids[0] >= 0
        return ids[0][keep].tolist(), scores[0][keep].tolist()

    def vector(self, entry_id):
        """The stored (unit) vector of one entry."""
        return self.index.reconstruct(int(entry_id))

    def _all(self):
        faiss = _faiss()
        import numpy as np
        if self.approximate:
            inv = self.index.invlists
            ids = np.concatenate([faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                                  for i in range(self.index.nlist)] or [np.zeros(0, np.int64)])
        else:
            ids = faiss.vector_to_array(self.index.id_map)
        return ids, self.index.reconstruct_batch(ids)

    def _rebuild_ivf(self):
        import numpy as np
        faiss = _faiss()
        ids, vecs = self._all()
        nlist = max(1, int(4 * math.sqrt(len(ids))))
        rng = np.random.default_rng(0)  # same data -> same index
        sample = vecs[rng.permutation(len(ids))[:TRAIN_PER_LIST * nlist]]
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dimension), self.dimension, nlist,
                                 faiss.METRIC_INNER_PRODUCT)
        ivf.cp.min_points_per_centroid = 1  # no warning for a deliberately small sample
        ivf.train(sample)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # remove_ids() and reconstruct() by id
        ivf.add_with_ids(vecs, ids)
        ivf.nprobe = NPROBE
        self.index, self.trained_size = ivf, len(ids)


class VectorIndex:
    """All scopes' indexes; an entry id lives in exactly one of them."""

    def __init__(self, dimension):
        self.dimension = dimension
        self.scopes = {}

    def __len__(self):
        return sum(len(s) for s in self.scopes.values())

    def add(self, scope_key, ids, vectors):
        if len(ids):
            self.scopes.setdefault(scope_key, ScopeIndex(self.dimension)).add(ids, vectors)

    def remove(self, scope_key, ids):
        index = self.scopes.get(scope_key)
        if index is not None:
            index.remove(ids)
            if not len(index):
                del self.scopes[scope_key]

    def search(self, scope_key, vector, k):
        index = self.scopes.get(scope_key)
        return index.search(vector, k) if index is not None else ([], [])

    def vector(self, scope_key, entry_id):
        return self.scopes[scope_key].vector(entry_id)

    def search_all(self, vector, k):
        """[(cosine, id, scope_key)] over every scope, best first (for explain)."""
        found = []
        for key, index in self.scopes.items():
            ids, sims = index.search(vector, k)
            found += [(s, i, key) for i, s in zip(ids, sims)]
        return sorted(found, reverse=True)[:k]

    def clear(self):
        self.scopes = {}
