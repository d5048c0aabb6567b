"""Fresh answers, not just stored ones: the parts whose cells show model answers, run end to end on the
real local model (the 1.5B that records the cassettes), in the Anthropic dialect where the recordings
used OpenAI's, with every answer held to the expectations its cell carries. The other papermill runs use
the extractive engine: they test plumbing, these test that the lessons' answers hold when run live.
(Part 2's answers come through RAG on the same path; part 4's are about retries, not carbon facts.)"""
import json
from pathlib import Path

import pytest

from notebook_answers import problems_in

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", ["01_chatsession", "03_semantic_cache", "05_monitoring", "07_best_practices"])
def test_fresh_answers_on_the_local_model_hold(tmp_path, monkeypatch, name):
    import papermill
    for var in ("GLWORK_MODE", "GLWORK_CASSETTE_DIR", "GLWORK_LOCAL_ENGINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GLWORK_LOCAL_MODEL", "qwen2.5-coder-1.5b-instruct")
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "llama")
    monkeypatch.setenv("GLWORK_LOCAL_TIMEOUT", "1800")   # the runs queue for the one model on 2 cores
    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), kernel_name="python3",
                               parameters={"provider": "anthropic", "model": "claude-3-opus", "mode": "local"},
                               cwd=str(NOTEBOOKS), progress_bar=False)
    text = json.dumps(json.loads(out.read_text())["cells"])
    assert "qwen2.5-coder-1.5b-instruct" in text and "Traceback" not in text
    assert problems_in(NOTEBOOKS / f"{name}.ipynb", fresh=out) == []
