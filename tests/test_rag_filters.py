"""Metadata filters: every operator, nesting, and clear errors for malformed filters."""
import pytest

from glwork.errors import ConfigurationError
from glwork.rag.filters import compile_filter

DOCS = {
    "a": {"type": "guideline", "date": "2024-02", "scope": 3, "tags": ["travel", "air"]},
    "b": {"type": "policy", "date": "2024-01", "scope": 1},
    "c": {"type": "guideline", "date": "2023-11", "scope": 2, "draft": True},
    "d": {"type": "regulation", "date": "2023-07"},
}


def ids(filters):
    match = compile_filter(filters)
    return sorted(k for k, meta in DOCS.items() if match(meta))


@pytest.mark.parametrize("filters, expected", [
    ({"type": "guideline"}, ["a", "c"]),                                   # plain value = $eq
    ({"type": {"$eq": "policy"}}, ["b"]),
    ({"type": {"$ne": "guideline"}}, ["b", "d"]),
    ({"scope": {"$gt": 1}}, ["a", "c"]),
    ({"scope": {"$gte": 2}}, ["a", "c"]),
    ({"scope": {"$lt": 2}}, ["b"]),
    ({"scope": {"$lte": 2}}, ["b", "c"]),
    ({"date": {"$gte": "2024-01"}}, ["a", "b"]),                           # ISO-like strings compare
    ({"type": {"$in": ["policy", "regulation"]}}, ["b", "d"]),
    ({"type": {"$nin": ["policy", "regulation"]}}, ["a", "c"]),
    ({"draft": {"$exists": True}}, ["c"]),
    ({"scope": {"$exists": False}}, ["d"]),
    ({"scope": {"$ne": 3}}, ["b", "c", "d"]),                              # missing field matches $ne
    ({"scope": {"$nin": [1]}}, ["a", "c", "d"]),
    ({"tags": "air"}, ["a"]),                                              # list field contains value
    ({"tags": {"$in": ["rail", "travel"]}}, ["a"]),
    ({"scope": {"$gte": "2"}}, []),                                        # str vs int never matches
    ({"draft": 1}, []),                                                    # bool is not a number
    ({"type": "guideline", "date": {"$gte": "2024-01"}}, ["a"]),           # the workshop's example
    ({"scope": {"$gte": 1, "$lt": 3}}, ["b", "c"]),
    ({"$or": [{"type": "policy"}, {"scope": 2}]}, ["b", "c"]),
    ({"$and": [{"type": "guideline"}, {"$or": [{"scope": 3}, {"draft": True}]}]}, ["a", "c"]),
    ({"$or": [{"$and": [{"type": "guideline"}, {"scope": {"$lt": 3}}]}, {"date": {"$lt": "2023-08"}}]}, ["c", "d"]),
])
def test_operators(filters, expected):
    assert ids(filters) == expected


def test_none_means_no_filter():
    assert compile_filter(None) is None


@pytest.mark.parametrize("filters, words", [
    ({"type": {"$regex": "g.*"}}, "unknown operator '$regex'"),
    ({"$not": {"type": "x"}}, "unknown operator '$not'"),
    ({"scope": {"$in": 3}}, "$in takes a list"),
    ({"scope": {"$exists": "yes"}}, "$exists takes True or False"),
    ({"scope": {"$gt": [1, 2]}}, "$gt takes a number"),
    ({"$or": []}, "$or takes a non-empty list"),
    ({"$and": {"type": "x"}}, "$and takes a non-empty list"),
    ({"$or": ["type"]}, "must be a dict"),
    ("type=guideline", "filters must be a dict"),
    ({}, "is empty"),
    ({"date": {}}, "empty condition"),
    ({"date": {"$gte": "2024", "x": 1}}, "unknown operator 'x'"),
])
def test_malformed_filters_say_what_is_wrong(filters, words):
    with pytest.raises(ConfigurationError) as err:
        compile_filter(filters)
    assert words in str(err.value) and "operators:" in str(err.value)
