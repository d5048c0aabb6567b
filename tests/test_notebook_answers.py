"""Every model answer a learner reads in a stored notebook output is right, or visibly corrected."""
import pytest

from notebook_answers import notebooks, problems_in


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_stored_answers_hold_their_expectations(path):
    assert problems_in(path) == []
