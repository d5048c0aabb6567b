"""Notebooks run end to end through papermill with parameters: replayed from their cassettes, and
live against the embedded local backend with other parameters than the recorded ones."""
import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


def run(tmp_path, monkeypatch, name, **params):
    import papermill
    for var in ("GLWORK_MODE", "GLWORK_CASSETTE_DIR"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=params,
                               cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)
    nb = json.loads(out.read_text())
    text = "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                   for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    tags = [c["metadata"].get("tags", []) for c in nb["cells"]]
    assert ["injected-parameters"] in tags  # papermill did inject our parameters
    return text


@pytest.mark.parametrize("name", ["00_setup", "01_chatsession"])
def test_replay_with_parameters(tmp_path, monkeypatch, name):
    text = run(tmp_path, monkeypatch, name, mode="replay")
    assert "mode: REPLAY" in text and "recorded on" in text


def test_chatsession_notebook_on_the_local_backend_as_anthropic(tmp_path, monkeypatch):
    text = run(tmp_path, monkeypatch, "01_chatsession", provider="anthropic", model="claude-3-opus", mode="local")
    assert "mode: LOCAL" in text
    assert "Answered by: anthropic / " in text and "gpt-4" not in text.split("Answered by:")[1].split("\n")[0]
    assert "anthropic: " in text and "azure: " in text
