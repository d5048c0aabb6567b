"""QQP pairs for the cache benchmark and the guard's training: load, split, embed (cached on disk).

The split is by connected group of questions (pairs that share a question text stay together), so
no test question was seen in training. Deterministic: seeded shuffle of groups sorted by text.
"""
import hashlib
import json
import random
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PAIRS = HERE / "data" / "qqp" / "qqp_dev_4000.jsonl"
CACHE = HERE / ".cache"
SPLIT_SEED = 20240601
TEST_SHARE = 0.5


def load_pairs():
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]


def split(pairs, seed=SPLIT_SEED, test_share=TEST_SHARE):
    """A list of booleans: True = test pair."""
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


def embed(texts, embedder, label):
    """Vectors of `texts` (normalised), cached in benchmarks/.cache keyed by model and texts."""
    key = hashlib.sha256((label + "\n" + "\n".join(texts)).encode()).hexdigest()[:16]
    path = CACHE / f"qqp-{key}.npy"
    if path.exists():
        vecs = np.load(path)
        if vecs.shape[0] == len(texts):
            return vecs
    vecs = np.asarray(embedder.encode(list(texts), batch_size=64, normalize=True), dtype=np.float32)
    CACHE.mkdir(exist_ok=True)
    np.save(path, vecs)
    return vecs
