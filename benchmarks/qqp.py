"""QQP pairs for the cache benchmark and the guard's training: load, split, judge, embed (cached on disk).

Dev pairs (qqp_dev_4000.jsonl) are never trained on; `split` keeps the old half-and-half split by
question group so "the held-out 1,990 pairs" stay comparable with earlier figures. Training pairs
(qqp_train.jsonl.gz) that share a duplicate cluster with any dev question are left out (`train_pairs`).

Judging a hit (benchmarks/data/qqp/SOURCE.txt): with thousands of questions in one cache, a query often
hits another question than its own pair's. `judge()` counts a hit right when both questions are in the
same duplicate cluster (union-find over the label-1 pairs of train + dev; the same text counts too),
wrong when a label-0 pair separates their clusters, and unjudged otherwise (glwork.cache.PairJudge).
"""
import gzip
import hashlib
import json
import random
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "qqp"
PAIRS = DATA / "qqp_dev_4000.jsonl"
TRAIN = DATA / "qqp_train.jsonl.gz"
CACHE = HERE / ".cache"
SPLIT_SEED = 20240601
TEST_SHARE = 0.5


def load_pairs():
    """The 4,000 dev pairs (2,000 duplicates)."""
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_train():
    with gzip.open(TRAIN, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def judge(dev=None, train=None):
    """glwork.cache.PairJudge over the labelled train + dev pairs (right / wrong / unjudged)."""
    from glwork.cache import PairJudge
    return PairJudge((dev or load_pairs()) + (train or load_train()))


def train_pairs(dev=None, train=None):
    """Training pairs that share no duplicate cluster with a dev question."""
    dev, train = dev or load_pairs(), train or load_train()
    clusters = judge(dev, train)
    dev_roots = {clusters.cluster(p[k]) for p in dev for k in ("text_a", "text_b")}
    return [p for p in train if clusters.cluster(p["text_a"]) not in dev_roots
            and clusters.cluster(p["text_b"]) not in dev_roots]


def split(pairs, seed=SPLIT_SEED, test_share=TEST_SHARE):
    """A list of booleans: True = held-out half (split by connected group of questions)."""
    parent = {}

    def root(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        parent[root(p["text_a"])] = root(p["text_b"])
    groups = sorted({root(p["text_a"]) for p in pairs})
    random.Random(seed).shuffle(groups)
    test = set(groups[:round(len(groups) * test_share)])
    return [root(p["text_a"]) in test for p in pairs]


def embed(texts, embedder, label, batch_size=64, progress=None):
    """Vectors of `texts` (normalised float32), cached in benchmarks/.cache by model and texts, in
    chunks so an interrupted run resumes where it stopped."""
    texts = list(texts)
    key = hashlib.sha256((label + "\n" + "\n".join(texts)).encode()).hexdigest()[:16]
    path = CACHE / f"qqp-{key}.npy"
    if path.exists():
        vecs = np.load(path)
        if vecs.shape[0] == len(texts):
            return vecs
    CACHE.mkdir(exist_ok=True)
    chunk, parts = 4096, []
    for start in range(0, len(texts), chunk):
        part = CACHE / f"qqp-{key}-{start // chunk:04d}.npy"
        if part.exists():
            parts.append(np.load(part))
            continue
        vecs = np.asarray(embedder.encode(texts[start:start + chunk], batch_size=batch_size, normalize=True),
                          dtype=np.float32)
        np.save(part, vecs)
        parts.append(vecs)
        if progress:
            progress(start + len(vecs), len(texts))
    vecs = np.vstack(parts) if parts else np.zeros((0, 384), np.float32)
    np.save(path, vecs)
    for part in CACHE.glob(f"qqp-{key}-*.npy"):
        part.unlink()
    return vecs
