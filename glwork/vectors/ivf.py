"""The approximate form of a VectorIndex: faiss IndexIVFFlat, built from the exact index's vectors.

~4*sqrt(n) lists (at least TRAIN_PER_LIST vectors each), trained on a seeded sample, so the same
vectors always give the same index. With nprobe = 32 lists searched, a near-duplicate (cosine 0.90)
of one of 100k *random* vectors, the worst case, was found 98% of the time; real texts cluster.
"""
from __future__ import annotations

import math
from typing import Any

# faiss's k-means wants 39 training vectors per list (it warns below). Training on more costs
# retraining time (about 10 s for 100k 384-d vectors on one core) for little recall.
TRAIN_PER_LIST = 39


def build(ids: Any, vectors: Any, dimension: int, nprobe: int) -> Any:
    """An IndexIVFFlat over `vectors` (float32, unit length) under `ids`, removable by id."""
    import faiss
    import numpy as np
    n = len(ids)
    nlist = max(1, min(int(4 * math.sqrt(n)), n // TRAIN_PER_LIST))
    sample = vectors[np.random.default_rng(0).permutation(n)[:TRAIN_PER_LIST * nlist]]
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.min_points_per_centroid = 1   # a collection just above a few hundred vectors: no warning
    ivf.train(sample)
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct() and remove_ids() by id
    ivf.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    ivf.nprobe = nprobe
    return ivf


def ids_of(ivf: Any) -> list[int]:
    """Every id held by an IndexIVFFlat (its inverted lists, copied out)."""
    import faiss
    import numpy as np
    inv, out = ivf.invlists, []
    for lst in range(ivf.nlist):
        size = inv.list_size(lst)
        if size:
            ids = np.empty(size, dtype=np.int64)
            ptr = inv.get_ids(lst)
            faiss.memcpy(faiss.swig_ptr(ids), ptr, ids.nbytes)   # copy: ptr may be released
            inv.release_ids(lst, ptr)
            out += ids.tolist()
    return out
