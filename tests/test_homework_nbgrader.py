"""The homework as an nbgrader course, run as an instructor would from the README: generate the
student version, collect two submissions, autograde them offline, export the grades as CSV."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from homework_helpers import RELEASED, ROOT

pytest.importorskip("nbgrader")
pytestmark = pytest.mark.timeout(900)   # two notebooks run top to bottom (about a minute on an idle machine)
FIXTURES = ROOT / "tests" / "fixtures" / "homework"
BIN = Path(sys.executable).parent   # nbgrader runs the `alembic` command: the venv's bin on PATH
# Expected per rubric line (nbgrader test cells): alice handed in the course's solution; bob indexed 8
# documents, cached exact questions only, reported running totals as costs and did no bonus.
ALICE = {"index": 25, "answers": 25, "caching": 25, "costs": 25, "hybrid": 5, "citations": 5, "fallback": 5}
BOB = {"index": 10, "answers": 25, "caching": 5, "costs": 15, "hybrid": 0, "citations": 0, "fallback": 0}


def nbgrader(course, *args):
    # Keys are dropped by course/nbgrader_config.py too; the ledger is a throwaway one.
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", GLWORK_LEDGER=str(course.parent / "ledger.sqlite3"))
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def cells(path):
    """(id, type, source, nbgrader metadata) of each cell: what a student gets, outputs aside."""
    nb = json.loads(Path(path).read_text())
    return [(c.get("id"), c["cell_type"], "".join(c["source"]), c["metadata"].get("nbgrader")) for c in nb["cells"]]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of course/ with nothing generated yet, as a fresh clone has it."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    shutil.copytree(ROOT / "course", course, ignore=shutil.ignore_patterns(
        "release", "submitted", "autograded", "feedback", "downloaded", "gradebook.db", "grades.csv", ".nbgrader.log"))
    return course


@pytest.fixture(scope="module")
def graded(course):
    nbgrader(course, "generate_assignment", "document_qa")
    archive = course / "downloaded" / "document_qa" / "archive"
    archive.mkdir(parents=True)
    for student in ("alice", "bob"):
        shutil.copy(FIXTURES / f"{student}_document_qa.ipynb", archive)
    nbgrader(course, "zip_collect", "document_qa")
    log = nbgrader(course, "autograde", "document_qa")
    nbgrader(course, "export", "--to", "grades.csv")
    return course, log


def test_students_get_the_released_notebook(graded):
    course, _ = graded
    released = course / "release" / "document_qa" / "document_qa.ipynb"
    assert cells(released) == cells(RELEASED)   # notebooks/homework/ is the student version
    text = released.read_text()
    assert "### BEGIN SOLUTION" not in text and text.count("raise NotImplementedError()") == 5
    tests = [c[3] for c in cells(released) if c[3] and c[3]["grade"]]
    assert [t["points"] for t in tests] == [25, 25, 25, 25, 5, 5, 5]
    assert all(t["locked"] for t in tests)


def test_autograde_offline_and_the_exported_grades(graded):
    course, log = graded
    assert (course / "submitted" / "bob" / "document_qa" / "document_qa.ipynb").exists()   # zip_collect
    with open(course / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert {s: (float(r["score"]), float(r["max_score"])) for s, r in rows.items()} == {
        "alice": (115.0, 115.0), "bob": (55.0, 115.0)}
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, expected in (("alice", ALICE), ("bob", BOB)):
            nb = gb.find_submission_notebook("document_qa", "document_qa", student)
            assert {g.name: g.score for g in nb.grades} == expected, student
    autograded = (course / "autograded" / "bob" / "document_qa" / "document_qa.ipynb").read_text()
    assert "only the exact question is cached" in autograded and "mode: LOCAL" in autograded
    assert "setup() indexed only 8 documents" in autograded


def test_the_source_holds_the_solution_and_locked_tests():
    source = cells(ROOT / "course" / "source" / "document_qa" / "document_qa.ipynb")
    solutions = [c for c in source if c[3] and c[3]["solution"]]
    assert [c[0] for c in solutions] == ["load-documents", "agent"]
    assert all("### BEGIN SOLUTION" in c[2] for c in solutions)
    assert sum(c[3].get("points", 0) for c in source if c[3]) == 115
