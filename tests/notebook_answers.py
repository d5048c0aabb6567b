"""Reading notebooks' model answers and the expectations their cells carry (see glwork.lab.answers)."""
import html
import json
import re
from pathlib import Path

from glwork.lab.answers import check_answer, validate

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
# A cell that asks a model something (widgets answer only live, so they are not read here).
CALLS_MODEL = re.compile(r"\.(send_message|stream_message|send_tool_result|send|query|ask|execute_with_input|run)\(")
_TAG = re.compile(r"<[^>]+>")


def notebooks():
    return sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def output_text(cell):
    out = []
    for o in cell.get("outputs", []):
        if "text" in o:
            out.append(o["text"] if isinstance(o["text"], str) else "".join(o["text"]))
        data = o.get("data", {})
        for key in ("text/plain", "text/markdown", "text/html"):   # a widget's answers are in its HTML snapshot
            if key in data:
                text = data[key] if isinstance(data[key], str) else "".join(data[key])
                out.append(html.unescape(_TAG.sub(" ", text)) if key == "text/html" else text)
    return "".join(out)


def expectation(cell):
    return (cell.get("metadata", {}).get("glwork") or {}).get("answer")


def problems_in(nb_path, fresh=None):
    """Every way the notebook's answers break the rules. `fresh`: a papermill-run copy whose answers are
    held to the same expectations (there a "wrong-on-purpose" answer may come out right)."""
    nb = json.loads(Path(nb_path).read_text())
    cells = nb["cells"]
    run = json.loads(Path(fresh).read_text())["cells"] if fresh else None
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        expect = expectation(cell)
        where = f"{Path(nb_path).name} cell {i}"
        if expect is None:
            if CALLS_MODEL.search(src) and cell.get("outputs") and not fresh:
                found.append(f"{where} shows a model's answer but carries no glwork.answer expectation")
            continue
        try:
            validate(expect)
        except Exception as exc:
            found.append(f"{where}: {exc}")
            continue
        if fresh:
            match = [c for c in run if c.get("id") == cell.get("id")] or [None]
            target = match[0]
            if target is None:
                continue
            result = check_answer(output_text(target), expect)
            if not result and expect.get("status", "right") == "right":
                found.append(f"{where} (fresh run): {'; '.join(result.problems)}")
            continue
        result = check_answer(output_text(cell), expect)
        status = expect.get("status", "right")
        if result and status == "wrong-on-purpose":
            found.append(f"{where} is marked wrong-on-purpose but its answer holds: drop the marker and its correction")
        if not result:
            if status != "wrong-on-purpose":
                found.append(f"{where}: {'; '.join(result.problems)}")
            else:
                nxt = cells[i + 1] if i + 1 < len(cells) else None
                tags = (nxt or {}).get("metadata", {}).get("tags", [])
                text = "".join((nxt or {}).get("source", ""))
                # the right fact's source: the corpus in data/, or for an extraction the prompt it was given
                if not nxt or nxt["cell_type"] != "markdown" or "correction" not in tags \
                        or not ("data/" in text or "the prompt" in text):
                    found.append(f"{where} is wrong on purpose, but the next cell is not a markdown cell tagged "
                                 f"'correction' citing its source (data/..., or the prompt)")
    return found
