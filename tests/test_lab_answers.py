"""The answer check that notebooks' factual cells carry: it can fail, and a malformed one is refused."""
import pytest

from glwork.lab import check_answer
from glwork.lab.answers import numbers_in

SCOPE2 = {"require": [r"scope 2", r"purchased|acquired"], "forbid": [r"\bregion\b"]}


def test_right_answer_passes_and_wrong_ones_fail_with_reasons():
    assert check_answer("Scope 2 covers emissions from purchased electricity, heat and steam.", SCOPE2)
    wrong = check_answer("Scope 2 emissions are emissions in a particular region.", SCOPE2)
    assert not wrong and any("region" in p for p in wrong.problems) and any("purchased" in p for p in wrong.problems)


def test_numbers_with_separators_and_words():
    assert numbers_in("1,200,000 tonnes or 1.2 million, 3.5k km, 25 kg") == [1200000, 1200000, 3500, 25]
    assert check_answer('{"emissions_tonnes": 1200000}', {"number": [1_199_999, 1_200_001]})
    bad = check_answer('{"emissions_tonnes": 1.2}', {"number": [1_199_999, 1_200_001]})
    assert not bad and "found 1.2" in bad.problems[0]


def test_not_factual_marker():
    assert check_answer("Hello! How can I help?", {"not_factual": "a greeting"})
    with pytest.raises(ValueError, match="stands alone"):
        check_answer("x", {"not_factual": "", "require": ["x"]})


@pytest.mark.parametrize("bad,msg", [
    ({}, "at least one"), ({"requires": ["x"]}, "Unknown"), ({"number": [5, 1]}, "low, high"),
    ({"require": ["x"], "status": "fine"}, "status"), ("scope 2", "dict"),
    ({"require": ["("]}, "unterminated|missing")])
def test_malformed_expectations_are_refused(bad, msg):
    with pytest.raises(Exception, match=msg):
        check_answer("text", bad)
