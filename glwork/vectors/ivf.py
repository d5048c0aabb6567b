"""The approximate form of a VectorIndex: faiss IndexIVFFlat, built from the exact index's vectors.

4*sqrt(n) lists, trained on a seeded sample (the same vectors always give the same index). With
nprobe = 32 lists searched, a near-duplicate (cosine 0.90) of one of 100k *random* vectors, the
worst case, was found 98% of the time (16 lists: 95%); real texts cluster, which helps.
"""
from __future__ import annotations

import math
from typing import Any

# k-means sample per list: enough for IVF, and it keeps (re)training 100k vectors to ~15 s on this
# 2-core machine. Fewer lists, with the 39 training vectors each faiss asks for, made lookups in a
# 10k-entry cache slower (more vectors scanned per list).
TRAIN_PER_LIST = 32


def build(ids: Any, vectors: Any, dimension: int, nprobe: int) -> Any:
    """An IndexIVFFlat over `vectors` (float32, unit length) under `ids`, removable by id."""
    import faiss
    import numpy as np
    n = len(ids)
    nlist = max(1, int(4 * math.sqrt(n)))
    sample = vectors[np.random.default_rng(0).permutation(n)[:TRAIN_PER_LIST * nlist]]
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.min_points_per_centroid = 1   # no warning for a deliberately small sample
    ivf.train(sample)
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct() and remove_ids() by id
    ivf.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    ivf.nprobe = nprobe
    return ivf


def ids_of(ivf: Any) -> Any:
    """Every id held by an IndexIVFFlat (its inverted lists, copied out), as an int64 array."""
    import faiss
    import numpy as np
    inv, out = ivf.invlists, [np.zeros(0, dtype=np.int64)]
    for lst in range(ivf.nlist):
        size = inv.list_size(lst)
        if size:
            ids = np.empty(size, dtype=np.int64)
            ptr = inv.get_ids(lst)
            faiss.memcpy(faiss.swig_ptr(ids), ptr, ids.nbytes)   # copy: ptr may be released
            inv.release_ids(lst, ptr)
            out.append(ids)
    return np.concatenate(out)
