"""glwork.vectors.VectorIndex, the one faiss index of the cache and RAG: exact up to a size, then
approximate (IVF), removable by id in both forms, filtered searches exact, saved and read back."""
import numpy as np
import pytest

from glwork.cache.scoped_index import ScopedIndex
from glwork.embeddings import normalise
from glwork.errors import ConfigurationError
from glwork.vectors import VectorIndex


def unit(n, dim=16, seed=0):
    return normalise(np.random.default_rng(seed).standard_normal((n, dim)))


def exact_top(vectors, ids, query, k):
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[i] for i in order]


def test_exact_search_is_the_brute_force_answer_and_removal_by_id():
    vecs, ids = unit(200), list(range(1000, 1200))
    index = VectorIndex(16)
    index.add(ids, vecs)
    assert not index.approximate and len(index) == 200 and "exact" in index.describe()
    found, scores = index.search(vecs[7], 5)
    assert found == exact_top(vecs, ids, vecs[7], 5) and scores[0] == pytest.approx(1.0, abs=1e-6)
    index.remove([1007])
    assert 1007 not in index.search(vecs[7], 5)[0] and len(index) == 199
    assert np.allclose(index.vector(1008), vecs[8]) and sorted(index.all_ids()) == sorted(set(ids) - {1007})


def test_above_the_exact_limit_it_turns_approximate_and_stays_removable():
    vecs, ids = unit(400, seed=1), list(range(400))
    index = VectorIndex(16, exact_limit=300)
    index.add(ids[:300], vecs[:300])
    assert not index.approximate
    index.add(ids[300:], vecs[300:])
    assert index.approximate and index.trained_size == 400 and "IVF" in index.describe()
    assert sorted(index.all_ids()) == ids
    hits = sum(index.search(vecs[i], 1)[0] == [i] for i in range(0, 400, 10))
    assert hits >= 38                      # nprobe 32 of few lists: nearly every vector finds itself
    index.remove([5, 6])
    assert len(index) == 398 and 5 not in index.search(vecs[5], 3)[0]
    assert np.allclose(index.vector(7), vecs[7])


def test_retrained_once_it_has_grown_fourfold():
    index = VectorIndex(16, exact_limit=100)
    index.add(range(101), unit(101, seed=2))
    assert index.trained_size == 101
    index.add(range(101, 300), unit(199, seed=3))
    assert index.trained_size == 101       # not yet four times as many
    index.add(range(300, 404), unit(104, seed=4))
    assert index.trained_size == 404


def test_no_limit_keeps_it_exact():
    index = VectorIndex(16, exact_limit=None)
    index.add(range(500), unit(500))
    assert not index.approximate


def test_the_same_vectors_give_the_same_approximate_index():
    vecs, q = unit(600, seed=5), unit(20, seed=6)
    results = []
    for _ in range(2):
        index = VectorIndex(16, exact_limit=100)
        index.add(range(600), vecs)
        results.append([index.search(v, 5) for v in q])
    assert results[0] == results[1]


@pytest.mark.parametrize("limit", [None, 100])
def test_a_subset_search_is_exact_in_both_forms(limit):
    vecs, ids = unit(300, seed=7), list(range(300))
    index = VectorIndex(16, exact_limit=limit)
    index.add(ids, vecs)
    subset = list(range(0, 300, 3))
    found, _ = index.search(vecs[4], 5, subset=subset)
    assert found == exact_top(vecs[subset], subset, vecs[4], 5)
    assert index.search(vecs[4], 5, subset=[]) == ([], [])
    assert np.allclose(index.scores_for(vecs[4], [4, 9]), vecs[[4, 9]] @ vecs[4])


def test_written_and_read_back_in_both_forms(tmp_path):
    vecs = unit(300, seed=8)
    for limit in (None, 100):
        index = VectorIndex(16, exact_limit=limit)
        index.add(range(300), vecs)
        index.write(tmp_path / "v.faiss")
        again = VectorIndex.read(tmp_path / "v.faiss", 16, exact_limit=limit, nprobe=8,
                                 trained_size=index.trained_size)
        assert again.approximate == index.approximate and sorted(again.all_ids()) == list(range(300))
        assert again.search(vecs[3], 4)[0][0] == 3
        if again.approximate:
            assert again.index.nprobe == 8
    with pytest.raises(ConfigurationError, match="does not match its manifest"):
        VectorIndex.read(tmp_path / "v.faiss", 16, trained_size=0)
    with pytest.raises(ConfigurationError, match="dimensions"):
        VectorIndex.read(tmp_path / "v.faiss", 8, trained_size=300)


def test_wrong_dimensions_are_refused_with_what_to_do():
    index = VectorIndex(16)
    with pytest.raises(ConfigurationError, match="use the embedding model it was built with"):
        index.add([1], unit(1, dim=8))
    with pytest.raises(ConfigurationError, match="another embedding model"):
        index.search(unit(1, dim=8)[0], 3)
    assert index.search(unit(1)[0], 3) == ([], [])        # empty: nothing found, no error


def test_scopes_are_searched_apart_and_emptied_scopes_go():
    scoped = ScopedIndex(16)
    vecs = unit(20, seed=9)
    scoped.add("a", list(range(10)), vecs[:10])
    scoped.add("b", list(range(10, 20)), vecs[10:])
    assert set(scoped.search("a", vecs[12], 10)[0]) <= set(range(10))
    assert scoped.search("nowhere", vecs[0], 3) == ([], [])
    assert [i for _, i, _ in scoped.search_all(vecs[12], 1)] == [12]
    scoped.remove("b", list(range(10, 20)))
    assert list(scoped.scopes) == ["a"] and len(scoped) == 10
