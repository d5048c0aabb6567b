"""Shared pieces of the homework tests: the agent of a homework notebook, and a small document set
holding the answers to the grader's first three questions."""
import json
from pathlib import Path

ROOT = Path(__file__).parents[1]
SOURCE = ROOT / "course" / "source" / "document_qa" / "document_qa.ipynb"
RELEASED = ROOT / "notebooks" / "homework" / "document_qa.ipynb"

# franchises, investments, waste: the grader's first questions; the rest are look-alikes
SMALL_IDS = ("ghg-scope3-14-franchises", "ghg-scope3-15-investments", "ghg-scope3-05-waste-generated-in-operations",
             "ghg-scope3-13-downstream-leased-assets", "ghg-scope3-06-business-travels",
             "ghg-scope1-01-stationary-combustion", "ghg-scope1-02-mobile-combustion",
             "ghg-scope1-03-fugitive-emissions",
             "ghg-scope2-01-purchased-electricity", "ghg-scope2-02-purchased-heat-and-steam", "esrs-e1-5", "esrs-e1-8")


def small_documents():
    from glwork.rag.corpus import load_carbon_corpus
    docs = {d["id"]: d for d in load_carbon_corpus()}
    return [docs[i] for i in SMALL_IDS]


def notebook_namespace(path):
    """Run a homework notebook's imports and its learner's cells (not the banner, not the grading):
    the namespace holds load_documents and DocumentQAAgent as written there."""
    nb = json.loads(Path(path).read_text())
    ns = {"mode": "local"}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        source = "".join(cell["source"])
        if meta.get("grade_id") == "kit":
            source = "\n".join(line for line in source.splitlines() if line.startswith(("import ", "from ")))
        elif not meta.get("solution"):
            continue
        exec(compile(source, f"{Path(path).name}:{meta['grade_id']}", "exec"), ns)
    return ns
