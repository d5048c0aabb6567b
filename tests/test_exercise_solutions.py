"""Every "Your turn" exercise is in its part notebook, and its worked solution passes its check."""
import json
import re
from pathlib import Path

import pytest

from glwork.lab import exercises

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
PARTS = {"01": "01_chatsession", "02": "02_rag", "03": "03_semantic_cache", "04": "04_resilience",
         "05": "05_monitoring", "07": "07_best_practices"}
CHECK = re.compile(r"""check\(\s*["'](\d\d\.[a-z_0-9]+)["']""")


def checks_in(path):
    cells = json.loads(path.read_text())["cells"]
    return [(m.group(1), c) for c in cells if c["cell_type"] == "code" for m in CHECK.finditer("".join(c["source"]))]


def shown(cell):
    return "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", [])) +
                   "".join(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_has_two_or_three_exercises_all_registered(part):
    ids = {i for i, _ in checks_in(NOTEBOOKS / f"{PARTS[part]}.ipynb")}
    assert 2 <= len(ids) <= 3, ids
    assert ids <= set(exercises()), ids - set(exercises())
    assert all(i.startswith(part + ".") for i in ids)


@pytest.mark.parametrize("part", sorted(PARTS))
def test_every_exercise_has_a_worked_solution_that_passes(part):
    solution = NOTEBOOKS / "solutions" / f"{part}_exercises.ipynb"
    assert solution.exists(), f"no worked solutions: {solution}"
    solved = {}
    for exercise_id, cell in checks_in(solution):
        solved[exercise_id] = shown(cell)
    asked = {i for i, _ in checks_in(NOTEBOOKS / f"{PARTS[part]}.ipynb")}
    assert asked <= set(solved), f"exercises without a worked solution: {asked - set(solved)}"
    for exercise_id, text in solved.items():
        assert f"Your turn {exercise_id}" in text and ": PASSED" in text, f"{exercise_id}: {text[-400:]}"
