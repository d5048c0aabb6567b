"""Metadata filters in the MongoDB style the workshop uses.

    {"type": "guideline", "date": {"$gte": "2024-01"}}
    {"$or": [{"scope": 1}, {"scope": {"$in": [2, 3]}}], "source": {"$ne": "draft"}}

A plain value means $eq; several keys must all hold. Operators: $eq $ne $gt $gte $lt $lte $in $nin
$exists, and $and/$or over lists of filters. When a document's field holds a list, $eq matches if
the list contains the value and $in if it shares one. A missing field matches only $ne, $nin and
{"$exists": False}. Comparing values of different kinds (a string with a number) never matches.
`compile_filter` checks the whole filter first, so a typo fails loudly instead of matching nothing.
"""
from ..errors import ConfigurationError

COMPARE = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
           "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}
FIELD_OPS = {"$eq", "$ne", "$in", "$nin", "$exists", *COMPARE}
LOGIC_OPS = {"$and", "$or"}
_MISSING = object()
_EXAMPLE = 'e.g. {"type": "guideline", "date": {"$gte": "2024-01"}}'


def _bad(message):
    return ConfigurationError(f"Bad filter: {message}. Filters look like {_EXAMPLE}; operators: "
                              f"{', '.join(sorted(FIELD_OPS | LOGIC_OPS))}.")


def _kind(value):
    """Values of one kind compare with each other (bool is not a number here)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _equal(have, want):
    if isinstance(have, list) and not isinstance(want, list):
        return any(_equal(h, want) for h in have)
    return _kind(have) == _kind(want) and have == want


def _compare(op, have, want):
    if isinstance(have, list):
        return any(_compare(op, h, want) for h in have)
    return _kind(have) == _kind(want) and COMPARE[op](have, want)


def _field_test(field, op, want):
    if op in ("$eq", "$ne"):
        if isinstance(want, dict):
            raise _bad(f"{field!r}: {op} takes a value, not a dict")
        if op == "$eq":
            return lambda have: have is not _MISSING and _equal(have, want)
        return lambda have: have is _MISSING or not _equal(have, want)
    if op in ("$in", "$nin"):
        if not isinstance(want, (list, tuple, set)):
            raise _bad(f"{field!r}: {op} takes a list of values, got {want!r}")
        options = list(want)
        if op == "$in":
            return lambda have: have is not _MISSING and any(_equal(have, w) for w in options)
        return lambda have: have is _MISSING or not any(_equal(have, w) for w in options)
    if op == "$exists":
        if not isinstance(want, bool):
            raise _bad(f"{field!r}: $exists takes True or False, got {want!r}")
        return lambda have: (have is not _MISSING) == want
    if op in COMPARE:
        if isinstance(want, (dict, list, tuple, set)) or want is None:
            raise _bad(f"{field!r}: {op} takes a number, string or date-like string, got {want!r}")
        return lambda have: have is not _MISSING and have is not None and _compare(op, have, want)
    raise _bad(f"unknown operator {op!r} on field {field!r}")


def _compile(spec, where="filters"):
    if not isinstance(spec, dict):
        raise _bad(f"{where} must be a dict, got {type(spec).__name__}")
    if not spec:
        raise _bad(f"{where} is empty")
    tests = []
    for key, value in spec.items():
        if not isinstance(key, str) or not key:
            raise _bad(f"field names must be non-empty strings, got {key!r}")
        if key in LOGIC_OPS:
            if not isinstance(value, (list, tuple)) or not value:
                raise _bad(f"{key} takes a non-empty list of filters, got {value!r}")
            parts = [_compile(v, f"each item of {key}") for v in value]
            combine = all if key == "$and" else any
            tests.append(lambda meta, parts=parts, combine=combine: combine(p(meta) for p in parts))
        elif key.startswith("$"):
            raise _bad(f"unknown operator {key!r} at the top level (only $and and $or go there)")
        elif isinstance(value, dict) and not value:
            raise _bad(f"{key!r} has an empty condition {{}}")
        elif isinstance(value, dict) and any(str(k).startswith("$") for k in value):
            ops = [_field_test(key, op, want) for op, want in value.items()]
            tests.append(lambda meta, key=key, ops=ops: all(t(meta.get(key, _MISSING)) for t in ops))
        else:
            test = _field_test(key, "$eq", value) if not isinstance(value, dict) else \
                (lambda have, want=value: have == want)
            tests.append(lambda meta, key=key, test=test: test(meta.get(key, _MISSING)))
    return lambda meta: all(t(meta) for t in tests)


def compile_filter(filters):
    """A function metadata -> bool for `filters` (None matches everything); raises on a bad filter."""
    if filters is None:
        return None
    return _compile(filters)
