"""glwork.cache.evaluation: fair judging of hits, precision/recall rows, the shipped curves and their plot."""
import json
import math

import pytest

from glwork.cache import (
    HashingEmbedder,
    PairJudge,
    SemanticCacheManager,
    at_recall,
    best_matches,
    load_precision_curves,
    plot_precision_recall,
    precision_recall,
)
from glwork.cache.evaluation import Served
from glwork.errors import ConfigurationError

LABELLED = [
    {"text_a": "How do I learn Python?", "text_b": "How can I learn Python?", "label": 1},
    {"text_a": "How can I learn Python?", "text_b": "What is the best way to learn Python?", "label": 1},
    {"text_a": "How do I learn Python?", "text_b": "How do I learn Java?", "label": 0},
    {"text_a": "Is coffee healthy?", "text_b": "Is tea healthy?", "label": 0},
]


def test_judge_uses_duplicate_clusters_and_labelled_differences():
    judge = PairJudge(LABELLED)
    # transitive: never compared directly, but in one cluster
    assert judge("What is the best way to learn Python?", "How do I learn Python?") == "right"
    assert judge("how do i learn python", "How do I learn Python?") == "right"          # same text
    assert judge("How do I learn Java?", "How can I learn Python?") == "wrong"            # cluster-level label 0
    assert judge("Is coffee healthy?", "How do I learn Python?") == "unjudged"


def test_rows_count_fair_all_and_strict():
    pairs = [{"text_a": "A1", "text_b": "B1", "label": 1}, {"text_a": "A2", "text_b": "B2", "label": 0},
             {"text_a": "A3", "text_b": "B3", "label": 1}, {"text_a": "A4", "text_b": "B4", "label": 1}]
    judge = PairJudge(pairs + [{"text_a": "A1", "text_b": "B3", "label": 1}])
    served = [Served("B1", 0.99, 0.99, "A1"),   # own duplicate: right, strict
              Served("B2", 0.97, 0.97, "A2"),   # own non-duplicate: wrong
              Served("B3", 0.96, 0.96, "A1"),   # another entry of B3's cluster: right, not strict
              Served("B4", 0.96, 0.96, "A2"),   # never compared: unjudged
              ]
    [row] = precision_recall(served, pairs, judge, [0.95])
    assert (row["hits"], row["right"], row["wrong"], row["unjudged"]) == (4, 2, 1, 1)
    assert row["precision"] == pytest.approx(2 / 3) and row["precision_all"] == pytest.approx(2 / 4)
    assert row["recall"] == pytest.approx(2 / 3)                     # 3 duplicate pairs
    assert row["precision_strict"] == pytest.approx(1 / 4) and row["recall_strict"] == pytest.approx(1 / 3)
    [none] = precision_recall(served, pairs, judge, [1.0])
    assert none["hits"] == 0 and math.isnan(none["precision"]) and none["recall"] == 0
    with pytest.raises(ConfigurationError):
        precision_recall(served[:2], pairs, judge, [0.9])
    rows = precision_recall(served, pairs, judge, [0.9, 0.965, 0.98])
    assert at_recall(rows, 0.6)["threshold"] == 0.9 and at_recall(rows, 0.9) is None


def test_best_matches_reads_the_cache_without_changing_it():
    cache = SemanticCacheManager(0.99, embedder=HashingEmbedder(), guard=False)
    cache.store_many([("How do I learn Python?", "a"), ("Is coffee healthy?", "b")])
    [hit, far] = best_matches(cache, ["how do i learn python", "Completely unrelated words here"])
    assert hit.entry == "How do I learn Python?" and hit.score > 0.99
    assert far.score < hit.score
    assert cache.stats()["lookups"] == 0


def test_shipped_curves_and_plot():
    data = load_precision_curves()
    meta, curves = data["meta"], data["curves"]
    assert set(curves) == {meta["reference"], meta["cache"]} and meta["pairs"] > 1000
    for rows in curves.values():
        recalls = [r["recall"] for r in sorted(rows, key=lambda r: r["threshold"])]
        assert recalls == sorted(recalls, reverse=True)     # a higher threshold never answers more
    kit = next(r for r in curves[meta["cache"]] if r["threshold"] == meta["default_threshold"])
    assert kit["precision"] >= 0.90 and kit["recall"] >= 0.50   # the target, as measured
    fig = plot_precision_recall(data)
    names = [t.name for t in fig.data]
    assert meta["reference"] in names and meta["cache"] in names and any("default" in n for n in names)
    assert fig.layout.yaxis.title.text.startswith("precision")
    strict = plot_precision_recall(data, measure="strict")
    assert "(strict:" in strict.layout.title.text
    with pytest.raises(ConfigurationError):
        plot_precision_recall(data, measure="lenient")


def test_bad_curves_file_says_how_to_make_it(tmp_path):
    bad = tmp_path / "curves.json"
    bad.write_text("not json")
    with pytest.raises(ConfigurationError, match="bench_cache.py --write-curves"):
        load_precision_curves(bad)
    bad.write_text(json.dumps({"x": 1}))
    with pytest.raises(ConfigurationError, match="not a curves file"):
        load_precision_curves(bad)
