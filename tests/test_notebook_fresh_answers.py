"""Fresh answers, not just stored ones: Part 1 run end to end on the real local model (the 1.5B that
records the cassettes), in the Anthropic dialect where the recording used OpenAI's, with every answer
held to the expectations its cell carries. The other papermill runs use the extractive engine: they
test plumbing, this one tests that the lessons' answers hold when a learner runs them live."""
import json
from pathlib import Path

import pytest

from notebook_answers import problems_in

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


@pytest.mark.timeout(1800)
def test_part1_fresh_answers_on_the_local_model_hold(tmp_path, monkeypatch):
    import papermill
    for var in ("GLWORK_MODE", "GLWORK_CASSETTE_DIR", "GLWORK_LOCAL_ENGINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GLWORK_LOCAL_MODEL", "qwen2.5-coder-1.5b-instruct")
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "llama")
    out = tmp_path / "01.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / "01_chatsession.ipynb"), str(out), kernel_name="python3",
                               parameters={"provider": "anthropic", "model": "claude-3-opus", "mode": "local"},
                               cwd=str(NOTEBOOKS), progress_bar=False)
    text = json.dumps(json.loads(out.read_text())["cells"])
    assert "qwen2.5-coder-1.5b-instruct" in text and "Traceback" not in text
    assert problems_in(NOTEBOOKS / "01_chatsession.ipynb", fresh=out) == []
