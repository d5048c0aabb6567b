"""Semantic cache benchmark: false hits vs threshold on QQP, lookup latency, memory per entry.

    .venv/bin/python benchmarks/bench_cache.py [--quick]      (--quick: skip the 100k-entry part)

1. Precision/recall of "B hits A's entry": every distinct first question A of the 4,000 QQP pairs
   in one cache; each second question B is looked up. A hit is correct (strict) if it returns B's
   own A and the pair is labelled duplicate; "lenient" also accepts an entry with B's own text or
   labelled duplicate of B in another pair. QQP never compared B with most other first questions, so
   a hit on one of those ("unlabelled") counts as wrong in both, though most are the same question
   (a sample is printed); "P labelled" is the precision over the hits the labels can judge.
   Recall = correct hits / duplicate pairs. The guard's score was fitted on the training split: its
   rows use the held-out test B's, with all 3,940 first questions in the cache, and again with only
   the held-out pairs' 1,964 (the size at which the issue's anchors were measured: they come from a
   2,000-pair sample; the anchor check reproduces them on seeded samples of this file).
2. Lookup latency with 10k and 100k entries (random unit vectors, question-like texts), guard on:
   without the query embedding (vectors looked up) and with it (all-MiniLM-L6-v2 on the CPU).
3. Memory per entry (in-memory cache) and file size per entry (SQLite).
Targets: precision >= 0.90 with recall >= 0.50 at the default settings; < 1 ms median lookup at 100k.
"""
import gc
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import qqp  # noqa: E402

from glwork.cache import Guard, SemanticCacheManager  # noqa: E402
from glwork.cache.glossary import Glossary  # noqa: E402
from glwork.cache.entries import plain as _plain  # noqa: E402
from glwork.embeddings import MODEL_NAME, local_embedder  # noqa: E402

THRESHOLDS = (0.80, 0.85, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
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
def served(pairs, entries, table, guard):
    """For each pair: (score, entry text) of the entry B's lookup would serve at threshold 0 (best score)."""
    cache = SemanticCacheManager(0.5, ttl=None, guard=guard, embedder=TableEmbedder(table))
    cache.store_many((a, a) for a in entries)
    best = []
    for p in pairs:
        rows = cache.explain(p["text_b"], k=cache.top_k)
        top = max(rows, key=lambda r: (r["score"], r["cosine"]))
        best.append((top["score"], top["query"]))
    cache.close()
    return best


def kind_of_hit(p, got, dup):
    """own (B's own A, labelled duplicate) / own-non (B's own A, labelled not) / same-text (an entry with
    B's own text) / labelled-dup (labelled duplicate of B in another pair) / unlabelled."""
    if got == p["text_a"]:
        return "own" if p["label"] == 1 else "own-non"
    if _plain(got) == _plain(p["text_b"]):
        return "same-text"
    return "labelled-dup" if (got, p["text_b"]) in dup else "unlabelled"


def pr_table(pairs, best, sel, dup, label):
    """Rows per threshold: hits, strict P/R, lenient P/R, unlabelled, P over the hits the labels judge."""
    n_dup = sum(pairs[i]["label"] for i in sel)
    print(f"{label}: {len(sel)} B questions, {n_dup} duplicate pairs")
    print(f"  {'threshold':>9}  {'hits':>5}  {'strict P':>8}  {'strict R':>8}  {'lenient P':>9}  {'lenient R':>9}"
          f"  {'unlabelled':>10}  {'P labelled':>10}")
    out = {}
    for t in THRESHOLDS:
        kinds = [kind_of_hit(pairs[i], best[i][1], dup) for i in sel if best[i][0] >= t]
        hits, strict = len(kinds), kinds.count("own")
        lenient = strict + kinds.count("same-text") + kinds.count("labelled-dup")
        unlabelled = kinds.count("unlabelled")
        nan = float("nan")
        row = (hits, strict / hits if hits else nan, strict / n_dup, lenient / hits if hits else nan,
               lenient / n_dup, unlabelled, lenient / (hits - unlabelled) if hits > unlabelled else nan)
        out[t] = row
        print(f"  {t:9.2f}  {row[0]:5d}  {row[1]:8.3f}  {row[2]:8.3f}  {row[3]:9.3f}  {row[4]:9.3f}"
              f"  {row[5]:10d}  {row[6]:10.3f}")
    print()
    return out


def anchor_check(pairs, table, glossary, seeds=4):
    """Plain cosine, strict, on seeded 2,000-pair samples (1,000 duplicates + 1,000 not, ~1,985 entries):
    the size at which the issue's anchors (.78/.19, .75/.40, .70/.57) were measured."""
    firsts = sorted({p["text_a"] for p in pairs})
    F = np.vstack([table[glossary(a)] for a in firsts])
    index = {a: i for i, a in enumerate(firsts)}
    print("Anchor check, plain cosine, strict, 2,000-pair samples (1,000 + 1,000) with their first questions "
          "in one cache:")
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        pos = [i for i, p in enumerate(pairs) if p["label"] == 1]
        neg = [i for i, p in enumerate(pairs) if p["label"] == 0]
        sel = sorted(list(rng.choice(pos, 1000, replace=False)) + list(rng.choice(neg, 1000, replace=False)))
        cols = sorted({index[pairs[i]["text_a"]] for i in sel})
        sims = np.vstack([table[glossary(pairs[i]["text_b"])] for i in sel]) @ F[cols].T
        top, best = np.array(cols)[sims.argmax(1)], sims.max(1)
        cells = []
        for t in (0.95, 0.90, 0.85):
            hit = best >= t
            ok = sum(1 for k, i in enumerate(sel) if hit[k] and top[k] == index[pairs[i]["text_a"]]
                     and pairs[i]["label"] == 1)
            cells.append(f"{t:.2f}: {ok / hit.sum():.3f}/{ok / 1000:.3f}")
        print(f"  sample {seed} ({len(cols)} entries)  " + "   ".join(cells))
    print()


def precision_recall():
    pairs = qqp.load_pairs()
    is_test = qqp.split(pairs)
    glossary = Glossary.coerce("ghg")
    texts = sorted({glossary(t) for p in pairs for t in (p["text_a"], p["text_b"])})
    vecs = qqp.embed(texts, local_embedder(), MODEL_NAME)
    table = dict(zip(texts, vecs))
    firsts = sorted({p["text_a"] for p in pairs})
    held_firsts = sorted({p["text_a"] for p, t in zip(pairs, is_test) if t})
    dup = {(p["text_a"], p["text_b"]) for p in pairs if p["label"] == 1}
    dup |= {(b, a) for a, b in dup}
    configs = [("cosine", False), ("cosine+rules", Guard(score="cosine")), ("guard", True)]
    print(f"## 1. Precision / recall on QQP\n")
    print("strict: a hit is right only if it serves B's own A and the pair is labelled duplicate (the issue's\n"
          "protocol and its anchors). lenient: also right if the served entry has B's own text or is labelled\n"
          "duplicate of B in another pair. unlabelled: hits on a first question QQP never compared with B\n"
          "(wrong in both; most ask the same thing, see the sample below). P labelled: lenient precision over\n"
          "the hits the labels can judge. Recall = right hits / duplicate pairs.\n")
    anchor_check(pairs, table, glossary)
    everything = list(range(len(pairs)))
    held = [i for i in range(len(pairs)) if is_test[i]]
    results = {name: served(pairs, firsts, table, guard) for name, guard in configs}
    pr_table(pairs, results["cosine"], everything, dup,
             f"cosine only (guard=False), all 4,000 pairs, all {len(firsts):,} first questions in one cache")
    test = {name: pr_table(pairs, results[name], held, dup,
                           f"{name}, held-out test pairs, all {len(firsts):,} first questions in one cache")
            for name, _ in configs}
    small = {name: served(pairs, held_firsts, table, guard) for name, guard in configs}
    test_small = {name: pr_table(pairs, small[name], held, dup,
                                 f"{name}, held-out test pairs, only their {len(held_firsts):,} first questions "
                                 "in the cache (anchor-sized)")
                  for name, _ in configs}
    for label, res in ((f"all {len(firsts):,} first questions", test),
                       (f"the held-out {len(held_firsts):,} first questions", test_small)):
        d = res["guard"][0.95]
        print(f"Default settings (guard on, threshold 0.95), held-out, cache of {label}: strict precision "
              f"{d[1]:.3f}, recall {d[2]:.3f}; lenient {d[3]:.3f}/{d[4]:.3f}; on the hits the labels can judge "
              f"{d[6]:.3f} (target: precision >= 0.90 with recall >= 0.50)")
    kinds = Counter(kind_of_hit(pairs[i], results["guard"][i][1], dup) for i in held
                    if results["guard"][i][0] >= 0.95)
    print(f"What the default settings serve (held-out, full cache): {dict(sorted(kinds.items()))}")
    print("'unlabelled' = hits on another pair's first question that QQP never compared with B (counted wrong "
          "above);\na seeded sample of them at the default settings, to judge by eye:")
    sample = [i for i in held if results["guard"][i][0] >= 0.95
              and kind_of_hit(pairs[i], results["guard"][i][1], dup) == "unlabelled"]
    for i in np.random.default_rng(7).permutation(sample)[:12]:
        print(f"  B: {pairs[i]['text_b'][:70]}\n     served: {results['guard'][i][1][:70]}")
    print()


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
    for i in range(500):
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


def main(quick=False):
    precision_recall()
    print("## 2. Lookup latency (guard on, top_k 5) and memory\n")
    rng = np.random.default_rng(2024)
    pairs = qqp.load_pairs()
    real = [p["text_b"] for p in pairs[:100]]
    local_embedder().encode(["warm up"])
    for n in (10_000,) if quick else (10_000, 100_000):
        latency(n, rng, real)
    file_size(rng)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
