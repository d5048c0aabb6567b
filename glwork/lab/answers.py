"""Answer checks: what a model's answer to a factual question must say, and whether it does.

A notebook cell that shows a factual model answer carries its expectation in its metadata:

    "glwork": {"answer": {
        "require": ["scope 2", "purchased (electricity|energy)"],   # regexes, each must match
        "forbid":  ["scope 1 and scope 2 both"],                    # regexes, none may match
        "number":  [20, 30],                                        # some number in the answer lies here
        "status":  "right"        # or "wrong-on-purpose": shown wrong, with a correction cell below
    }}

A cell that calls a model but shows no fact says so: {"glwork": {"answer": {"not_factual": "a greeting"}}}.

`tests/test_notebook_answers.py` holds every stored answer to its expectation, and the papermill runs
on the local model hold fresh answers to it too. An answer that fails is allowed only when the
expectation says "wrong-on-purpose" and the next cell (tagged "correction") gives the right fact and
its source (data/..., or for an extraction the prompt it was given).
"""
import re
from dataclasses import dataclass, field

STATUSES = ("right", "wrong-on-purpose")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?:\s*(?:million|m\b|k\b|thousand|billion))?", re.I)
_SCALE = {"million": 1e6, "m": 1e6, "k": 1e3, "thousand": 1e3, "billion": 1e9}


@dataclass
class AnswerCheck:
    ok: bool
    problems: list = field(default_factory=list)

    def __bool__(self):
        return self.ok


def numbers_in(text):
    """Every number in `text` as a float, "1,200,000" and "1.2 million" included."""
    out = []
    for m in _NUMBER.finditer(text):
        raw = m.group(0).strip()
        scale = 1.0
        word = re.search(r"[a-z]+$", raw, re.I)
        if word:
            scale = _SCALE[word.group(0).lower()]
            raw = raw[:word.start()].strip()
        try:
            out.append(float(raw.replace(",", "")) * scale)
        except ValueError:
            continue
    return out


def check_answer(text, expect):
    """Hold `text` to `expect` (the metadata dict above); returns an `AnswerCheck` (truthy if it holds)."""
    validate(expect)
    if "not_factual" in expect:
        return AnswerCheck(True)
    problems = []
    for pattern in expect.get("require", []):
        if not re.search(pattern, text, re.I | re.S):
            problems.append(f"does not say /{pattern}/")
    for pattern in expect.get("forbid", []):
        m = re.search(pattern, text, re.I | re.S)
        if m:
            problems.append(f"says {m.group(0)!r}, which is wrong")
    if "number" in expect:
        lo, hi = expect["number"]
        nums = numbers_in(text)
        if not any(lo <= n <= hi for n in nums):
            found = ", ".join(f"{n:g}" for n in nums) or "none"
            problems.append(f"gives no number between {lo:g} and {hi:g} (found {found})")
    return AnswerCheck(not problems, problems)


def validate(expect):
    """Refuse a malformed expectation, saying what is wrong (a typo must not make a check pass)."""
    if not isinstance(expect, dict):
        raise ValueError(f"An answer expectation is a dict, not {type(expect).__name__}.")
    if "not_factual" in expect:
        if set(expect) != {"not_factual"} or not str(expect["not_factual"]).strip():
            raise ValueError('{"not_factual": "why"} stands alone and says why the answer holds no fact.')
        return
    unknown = set(expect) - {"require", "forbid", "number", "status", "note"}
    if unknown:
        raise ValueError(f"Unknown answer expectation key(s) {sorted(unknown)}: "
                         "use require, forbid, number, status, note.")
    if not (expect.get("require") or expect.get("forbid") or "number" in expect):
        raise ValueError("An answer expectation needs at least one of require, forbid or number.")
    for key in ("require", "forbid"):
        for pattern in expect.get(key, []):
            re.compile(pattern)
    if "number" in expect:
        pair = expect["number"]
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] <= pair[1]):
            raise ValueError(f"number must be [low, high], got {pair!r}.")
    if expect.get("status", "right") not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {expect.get('status')!r}.")
