"""Semantic cache benchmark: plain cosine vs the kit on QQP dev pairs, lookup latency, memory per entry.

    .venv/bin/python benchmarks/bench_cache.py [--quick] [--write-curves]
    (--quick: skip the 100k-entry part; --write-curves: also write glwork/data/cache_precision_curves.json,
     the curves notebooks/extras/03_cache_precision.ipynb plots)

1. Precision/recall of a cache: every distinct first question (text_a) of the dev pairs in ONE cache,
   every second question (text_b) looked up; the dev pairs are never trained on (benchmarks/qqp.py).
   Judged three ways (glwork.cache.evaluation): fair (a hit on an equivalent question, same duplicate
   cluster over the labelled train + dev pairs, is right; a label-0 pair between the clusters makes it
   wrong; the rest is unjudged and left out), unjudged counted as wrong, and strict (only the pair's own
   duplicate is right). Recall = right hits / duplicate pairs. Two protocols: the held-out half of the
   dev pairs (1,990 pairs, their 1,964 first questions in the cache: the issue's 2,000 held-out pairs),
   and all 4,000 dev pairs (3,940 first questions).
   Side by side in one run: plain cosine (guard=False), the kit's default (rules + pair model), the pair
   model without the rules, and the rules with the plain cosine.
2. Lookup latency with 10k and 100k entries (random unit vectors, question-like texts), guard on:
   without the query embedding (vectors looked up) and with it (all-MiniLM-L6-v2 on the CPU).
3. Memory per entry (in-memory cache) and file size per entry (SQLite).
Targets: precision >= 0.90 with recall >= 0.50 at the default settings (fair); < 1 ms median lookup at 100k.
"""
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import qqp  # noqa: E402

from glwork.cache import Guard, SemanticCacheManager  # noqa: E402
from glwork.cache.evaluation import CURVES_FILE, at_recall, best_matches, precision_recall  # noqa: E402
from glwork.cache.glossary import Glossary  # noqa: E402
from glwork.embeddings import MODEL_NAME, local_embedder  # noqa: E402

THRESHOLDS = sorted({round(float(t), 3) for t in np.arange(0.50, 1.0001, 0.005)})
SHOWN = (0.80, 0.85, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
DEFAULT = 0.95
DIM = 384


class TableEmbedder:
    """Vectors looked up by text (the model's own vectors, computed once); unknown texts: the model."""

    model_name = MODEL_NAME

    def __init__(self, table, fallback=None):
        self.table, self.fallback = table, fallback

    def encode(self, texts):
        missing = [t for t in texts if t not in self.table]
        if missing:
            if self.fallback is None:
                raise KeyError(missing[0])
            for t, v in zip(missing, self.fallback.encode(missing, normalize=True)):
                self.table[t] = v
        return np.vstack([self.table[t] for t in texts])


def pct(values, q):
    return float(np.percentile(values, q))


# ---- 1. precision / recall on QQP ---------------------------------------------------------------------
CONFIGS = {  # name -> guard argument of SemanticCacheManager
    "plain cosine": False,
    "kit (default: rules + pair model)": True,
    "pair model, no rules": lambda: Guard(rules=False),
    "rules + plain cosine": lambda: Guard(score="cosine"),
}


def lookups(pairs, table, guard):
    """Served per pair: every distinct text_a in one cache, each text_b looked up (read-only explain)."""
    guard = guard() if callable(guard) else guard
    cache = SemanticCacheManager(0.5, ttl=None, guard=guard, embedder=TableEmbedder(table))
    cache.store_many((p["text_a"], p["text_a"]) for p in pairs)
    entries = len(cache)
    served = best_matches(cache, [p["text_b"] for p in pairs])
    cache.close()
    return served, entries


def show_table(name, rows):
    print(f"  {name}")
    print(f"  {'threshold':>9} {'hits':>5} {'right':>5} {'wrong':>5} {'unjudged':>8} | {'fair P':>6} {'R':>5} |"
          f" {'P unj=wrong':>11} | {'strict P':>8} {'strict R':>8}")
    for r in rows:
        if r["threshold"] in SHOWN:
            print(f"  {r['threshold']:9.2f} {r['hits']:5d} {r['right']:5d} {r['wrong']:5d} {r['unjudged']:8d} |"
                  f" {r['precision']:6.3f} {r['recall']:5.3f} | {r['precision_all']:11.3f} |"
                  f" {r['precision_strict']:8.3f} {r['recall_strict']:8.3f}")


def line(label, r):
    return (f"{label}: threshold {r['threshold']}, {r['hits']} hits: fair precision {r['precision']:.3f} at recall "
            f"{r['recall']:.3f}; unjudged as wrong {r['precision_all']:.3f}; strict {r['precision_strict']:.3f}"
            f"/{r['recall_strict']:.3f}")


def protocol(title, pairs, table, judge):
    print(f"### {title}\n")
    curves, entries = {}, None
    for name, guard in CONFIGS.items():
        t0 = time.perf_counter()
        served, entries = lookups(pairs, table, guard)
        curves[name] = precision_recall(served, pairs, judge, THRESHOLDS)
        show_table(f"{name} ({time.perf_counter() - t0:.0f} s for {len(pairs):,} lookups)", curves[name])
        print()
    kit = next(r for r in curves["kit (default: rules + pair model)"] if r["threshold"] == DEFAULT)
    cos = at_recall(curves["plain cosine"], kit["recall"])
    best_cos = max((r for r in curves["plain cosine"] if r["precision"] >= 0.90), key=lambda r: r["recall"],
                   default=None)
    print(f"{len(pairs):,} pairs ({sum(p['label'] for p in pairs):,} duplicates), {entries:,} entries in one cache.")
    print(line(f"  kit at its default ({DEFAULT})", kit))
    if cos:
        print(line("  plain cosine at the same recall", cos))
    if best_cos:
        print(line("  plain cosine at its best recall with fair precision >= 0.90", best_cos))
    met = kit["precision"] >= 0.90 and kit["recall"] >= 0.50
    print(f"  target (fair precision >= 0.90 with recall >= 0.50 at the default): {'MET' if met else 'NOT met'}\n")
    return curves, entries


def lab_sequence():
    cache = SemanticCacheManager(DEFAULT, ttl=None)
    cache.set("What are Scope 1 emissions?", "(answer about Scope 1)")
    hit, miss = cache.get("What is Scope 1?"), cache.get("Explain Scope 2 emissions")
    ok = hit == "(answer about Scope 1)" and miss is None
    print(f"Lab sequence at the defaults: 'What is Scope 1?' -> {'hit' if hit else 'miss'}, "
          f"'Explain Scope 2 emissions' -> {'miss' if miss is None else 'HIT'}: {'right' if ok else 'WRONG'}")
    for row in cache.explain("Explain Scope 2 emissions", k=1):
        print(f"  why: {row['reason']}")
    print()


def precision_recall_section(write_curves=False):
    print("## 1. Precision / recall on the QQP dev pairs (never trained on)\n")
    pairs = qqp.load_pairs()
    judge = qqp.judge(pairs)
    glossary = Glossary.coerce("ghg")
    texts = sorted({glossary(t) for p in pairs for t in (p["text_a"], p["text_b"])})
    t0 = time.perf_counter()
    vecs = qqp.embed(texts, local_embedder(), MODEL_NAME)
    print(f"{len(texts):,} questions embedded with {MODEL_NAME} in {time.perf_counter() - t0:.0f} s "
          "(float32, cached in benchmarks/.cache)\n")
    table = dict(zip(texts, vecs))
    is_held = qqp.split(pairs)
    held = [p for p, h in zip(pairs, is_held) if h]
    curves, entries = protocol("Held-out half: 1,990 pairs, their first questions in one cache", held, table, judge)
    protocol("All 4,000 dev pairs, all their first questions in one cache", pairs, table, judge)
    lab_sequence()
    if write_curves:
        data = {"meta": {"title": f"{len(held):,} held-out QQP pairs, {entries:,} questions in one cache",
                         "reference": "plain cosine", "cache": "kit (default: rules + pair model)",
                         "default_threshold": DEFAULT, "embedding_model": MODEL_NAME,
                         "pairs": len(held), "duplicates": sum(p["label"] for p in held), "entries": entries,
                         "script": "benchmarks/bench_cache.py --write-curves"},
                "curves": {k: [{f: (round(v, 4) if isinstance(v, float) else v) for f, v in r.items()} for r in rows]
                           for k, rows in curves.items() if k in ("plain cosine", "kit (default: rules + pair model)")}}
        CURVES_FILE.write_text(json.dumps(data, indent=0, sort_keys=True) + "\n")
        print(f"wrote {CURVES_FILE}\n")


# ---- 2. latency -------------------------------------------------------------------------------------------
WORDS = ("carbon emissions scope supplier energy report data travel fuel waste water electricity heat steam "
         "vehicle fleet office building factory product customer investment policy target reduction offset "
         "credit market location method factor inventory boundary category upstream downstream transport "
         "purchased goods services capital leased assets franchise employee commuting business").split()
FORMS = ("What is the {} {} for {} {}?", "How do I calculate {} {} in {} {}?", "Why does {} {} affect {} {}?",
         "Which {} {} applies to {} {}?", "Where can I find {} {} about {} {}?")


def synthetic(n, rng):
    texts = [FORMS[i % len(FORMS)].format(*rng.choice(WORDS, 4)) + f" (case {i})" for i in range(n)]
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    return texts, vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def near(vec, rng, cosine=0.93):
    noise = rng.standard_normal(DIM).astype(np.float32)
    noise -= (noise @ vec) * vec
    noise /= np.linalg.norm(noise)
    return (cosine * vec + np.sqrt(1 - cosine ** 2) * noise).astype(np.float32)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def latency(n, rng, real_queries, n_lookups=2000):
    texts, vecs = synthetic(n, rng)
    table = dict(zip(texts, vecs))
    gc.collect()
    before = rss_mb()
    cache = SemanticCacheManager(ttl=3600, embedder=TableEmbedder(table, fallback=local_embedder()))
    t0 = time.perf_counter()
    cache.store_many(zip(texts, texts))
    build = time.perf_counter() - t0
    gc.collect()
    grown = rss_mb() - before
    index = cache._entries.index.scopes["default"]
    # Queries: half near-duplicates of stored questions (same text + a word, vector at cosine 0.93),
    # half new questions with random vectors. Distinct texts, so no parse is reused.
    queries = []
    for i in range(n_lookups):
        j = int(rng.integers(n))
        if i % 2 == 0:
            q = texts[j].replace("?", " exactly?")
            table[q] = near(vecs[j], rng)
        else:
            q = f"Unrelated question number {i} about {' '.join(rng.choice(WORDS, 3))}?"
            v = rng.standard_normal(DIM).astype(np.float32)
            table[q] = v / np.linalg.norm(v)
        queries.append(q)
    for q in queries[:50]:  # warm-up
        cache.lookup(q)
    times = []
    for q in queries:
        t = time.perf_counter()
        cache.lookup(q)
        times.append((time.perf_counter() - t) * 1000)
    st = cache.stats()
    # Does the (approximate, above 20k) index still find the stored question behind a near-duplicate?
    found = 0
    for _ in range(500):
        j = int(rng.integers(n))
        ids, _ = index.search(near(vecs[j], rng, 0.90), cache.top_k)
        found += any(cache._entries.get(k).query == texts[j] for k in ids)
    with_embed = []
    for q in real_queries:
        t = time.perf_counter()
        cache.lookup(q)
        with_embed.append((time.perf_counter() - t) * 1000)
    kind = f"IVF, nprobe {index.index.nprobe}" if index.approximate else "exact flat index"
    print(f"{n:,} entries ({kind}); built with store_many "
          f"in {build:.1f} s")
    print(f"  lookup without embedding: median {statistics.median(times):.3f} ms, p99 {pct(times, 99):.3f} ms "
          f"({st['hits']} hits / {st['lookups']} lookups)")
    print(f"  lookup with all-MiniLM-L6-v2 embedding of the query: median {statistics.median(with_embed):.1f} ms, "
          f"p99 {pct(with_embed, 99):.1f} ms ({len(with_embed)} QQP questions)")
    print(f"  near-duplicate (cosine 0.90) found among top {cache.top_k}: {found / 500:.1%}")
    print(f"  process memory grew {grown:.0f} MB = {grown * 1024 * 1024 / n:,.0f} bytes per entry "
          f"(vector 1,536 B + SQLite row + bookkeeping)")
    cache.close()
    return statistics.median(times)


def file_size(rng, n=10_000):
    texts, vecs = synthetic(n, rng)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "cache.sqlite")
        cache = SemanticCacheManager(embedder=TableEmbedder(dict(zip(texts, vecs))), path=path)
        cache.store_many(zip(texts, texts))
        cache.close()
        size = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
    print(f"SQLite file: {size / n:,.0f} bytes per entry ({n:,} entries, answer = the question text)")


def main(quick=False, write_curves=False):
    precision_recall_section(write_curves)
    print("## 2. Lookup latency (guard on, top_k 5) and memory\n")
    rng = np.random.default_rng(2024)
    pairs = qqp.load_pairs()
    real = [p["text_b"] for p in pairs[:100]]
    local_embedder().encode(["warm up"])
    for n in (10_000,) if quick else (10_000, 100_000):
        latency(n, rng, real)
    file_size(rng)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:], write_curves="--write-curves" in sys.argv[1:])
