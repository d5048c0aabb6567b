"""How many threads torch and faiss get: one for a single query, all cores for bulk work.

Both are set around each call and restored afterwards, for the calling thread only, never for the
whole process: when torch loads before faiss they share one OpenMP runtime, so a process-wide
faiss.omp_set_num_threads(1) would also change torch's setting (and the other way round).
"""
from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# One query is too small to split: with two threads a busy 2-core machine deschedules the second and
# the first waits for it (MiniLM at load 5: median 190-820 ms vs 31-50 ms on one thread; a 10k-vector
# faiss search 10 ms vs 0.3 ms). And after a parallel faiss call its idle OpenMP threads spin while
# torch embeds the next query (12 ms embeddings took ~470 ms).
QUERY_THREADS = 1
BULK_FROM = 32   # texts (or vectors) per call from which the work is split across cores


def _bulk_threads() -> int:
    """GLWORK_EMBED_THREADS if set to a whole number >= 1, else the cores (at most 8)."""
    cores = min(os.cpu_count() or 1, 8)
    value = os.environ.get("GLWORK_EMBED_THREADS", "").strip()
    if not value:
        return cores
    if value.isdigit() and int(value) >= 1:
        return int(value)
    warnings.warn(f"GLWORK_EMBED_THREADS={value!r} is not a whole number >= 1: using {cores} threads for bulk "
                  f"work. Set it to e.g. 2, or unset it.", RuntimeWarning, stacklevel=2)
    return cores


BULK_THREADS = _bulk_threads()


def threads_for(batch: int) -> int:
    """The threads a call handling `batch` texts or vectors at once gets."""
    return BULK_THREADS if batch >= BULK_FROM else QUERY_THREADS


@contextmanager
def torch_threads(n: int, lock: threading.RLock | None = None) -> Iterator[None]:
    """torch.set_num_threads(n) for the block; `lock` serialises the change with other users."""
    import torch
    with lock if lock is not None else threading.RLock():
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


@contextmanager
def faiss_threads(n: int) -> Iterator[None]:
    """faiss.omp_set_num_threads(n) for the block (the setting belongs to the calling thread)."""
    import faiss
    before = faiss.omp_get_max_threads()
    if before == n:
        yield
        return
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
