"""The vector index: faiss inner product over normalised vectors (= cosine similarity).

Up to `approx_threshold` vectors (default 100,000) the index is exact: IndexFlatIP inside an
IndexIDMap2, so chunks can be removed by id. Above it, the vectors move to an IVF index (IndexIVFFlat,
~4*sqrt(n) lists, `nprobe` lists searched): approximate, still removable, and retrained once the
collection has grown fourfold since it was trained. Filtered searches are always exact.
"""
import math
import os

from ..errors import ConfigurationError

APPROX_THRESHOLD = 100_000
NPROBE = 32


_threads_set = False


def _faiss():
    global _threads_set
    import faiss
    if not _threads_set:
        # faiss's OpenMP threads spin while torch embeds the query: on 2 cores that turned 12 ms
        # query embeddings into ~470 ms. One faiss thread costs nothing at this scale.
        faiss.omp_set_num_threads(int(os.environ.get("GLWORK_FAISS_THREADS", "1")))
        _threads_set = True
    return faiss


def _ids(ids):
    import numpy as np
    return np.ascontiguousarray(ids, dtype=np.int64)


class VectorIndex:
    def __init__(self, dimension, approx_threshold=APPROX_THRESHOLD, nprobe=NPROBE):
        self.dimension = int(dimension)
        self.approx_threshold = approx_threshold
        self.nprobe = nprobe
        self.trained_size = 0   # vectors the IVF quantizer was trained on (0 = flat index)
        faiss = _faiss()
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))

    # ---- kind ------------------------------------------------------------------------------------
    @property
    def approximate(self):
        return self.trained_size > 0

    def describe(self):
        if self.approximate:
            return (f"faiss IndexIVFFlat (approximate, {self.index.nlist} lists, nprobe={self.nprobe}; "
                    f"above {self.approx_threshold:,} vectors)")
        return "faiss IndexFlatIP in IndexIDMap2 (exact inner product)"

    def __len__(self):
        return int(self.index.ntotal)

    # ---- changes ---------------------------------------------------------------------------------
    def add(self, ids, vectors):
        import numpy as np
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ConfigurationError(
                f"The embedding model returned {vectors.shape[-1]}-dimensional vectors but this index "
                f"holds {self.dimension}-dimensional ones: use the embedding model it was built with.")
        self.index.add_with_ids(vectors, _ids(ids))
        self._maybe_switch()

    def remove(self, ids):
        if len(ids):
            self.index.remove_ids(_ids(ids))

    def vectors(self, ids):
        return self.index.reconstruct_batch(_ids(ids))

    def all_ids(self):
        faiss = _faiss()
        if self.approximate:
            import numpy as np
            inv, out = self.index.invlists, []
            for lst in range(self.index.nlist):
                size = inv.list_size(lst)
                if size:
                    ids = np.empty(size, dtype=np.int64)
                    ptr = inv.get_ids(lst)
                    faiss.memcpy(faiss.swig_ptr(ids), ptr, ids.nbytes)   # copy: ptr may be released
                    inv.release_ids(lst, ptr)
                    out += ids.tolist()
            return out
        return [int(i) for i in faiss.vector_to_array(self.index.id_map)]

    def _maybe_switch(self):
        n = len(self)
        if self.approx_threshold is None or n <= self.approx_threshold:
            return
        if self.approximate and n < 4 * self.trained_size:
            return
        self._build_ivf()

    def _build_ivf(self):
        faiss = _faiss()
        ids = self.all_ids()
        vecs = self.vectors(ids)
        nlist = max(1, min(int(4 * math.sqrt(len(ids))), len(ids) // 39))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dimension), self.dimension, nlist,
                                 faiss.METRIC_INNER_PRODUCT)
        ivf.train(vecs)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct() and remove_ids() by id
        ivf.add_with_ids(vecs, _ids(ids))
        self.index, self.trained_size = ivf, len(ids)

    # ---- search ----------------------------------------------------------------------------------
    def search(self, query, k, subset=None):
        """Top-k (ids, scores) for one normalised query vector; `subset` limits the ids searched."""
        import numpy as np
        faiss = _faiss()
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimension:
            raise ConfigurationError(
                f"The query was embedded into {query.shape[1]} dimensions but the index holds "
                f"{self.dimension}: this index was built with another embedding model or endpoint.")
        n = len(self)
        if subset is not None:
            subset = _ids(subset)
            k = min(k, len(subset))
            if k == 0:
                return [], []
            if self.approximate:
                # Exact over the subset: an IVF search with a selector can miss allowed vectors.
                scores = self.vectors(subset) @ query[0]
                top = np.argsort(-scores, kind="stable")[:k]
                return subset[top].tolist(), scores[top].tolist()
            selector = faiss.IDSelectorBatch(subset)  # keep a reference while faiss uses it
            params = faiss.SearchParameters(sel=selector)
        else:
            k = min(k, n)
            if k == 0:
                return [], []
            params = faiss.SearchParametersIVF(nprobe=self.nprobe) if self.approximate else None
        scores, ids = self.index.search(query, k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep].tolist(), scores[0][keep].tolist()

    def scores_for(self, query, ids):
        """Exact similarity of the query to the given ids (for fusion of candidate lists)."""
        import numpy as np
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return self.vectors(ids) @ np.asarray(query, dtype=np.float32).reshape(-1)

    # ---- persistence -----------------------------------------------------------------------------
    def write(self, path):
        _faiss().write_index(self.index, str(path))

    @classmethod
    def read(cls, path, dimension, approx_threshold=APPROX_THRESHOLD, nprobe=NPROBE, trained_size=0):
        faiss = _faiss()
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise ConfigurationError(f"The stored index has {index.d} dimensions, the manifest says {dimension}.")
        self = cls.__new__(cls)
        self.dimension, self.approx_threshold, self.nprobe = dimension, approx_threshold, nprobe
        self.trained_size = trained_size
        if isinstance(index, faiss.IndexIDMap2) != (trained_size == 0):
            raise ConfigurationError("The stored index type does not match its manifest.")
        self.index = index   # read_index already returns the concrete type (and owns it)
        return self
