"""notebooks/extras/03_cache_precision.ipynb runs end to end through papermill with other parameters."""
import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "extras" / "03_cache_precision.ipynb"


@pytest.mark.timeout(600)
def test_precision_notebook_runs_with_parameters(tmp_path, monkeypatch):
    import papermill
    monkeypatch.delenv("GLWORK_MODE", raising=False)
    monkeypatch.setenv("GLWORK_REPLAY_STRICT", "1")
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"measure": "strict", "threshold": 0.97},
                               cwd=str(NOTEBOOK.parent), kernel_name="python3", progress_bar=False)
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    text = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "injected-parameters" in json.dumps([c["metadata"] for c in nb["cells"]])
    plotly = [o["data"]["application/vnd.plotly.v1+json"] for o in outputs
              if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plotly) == 1 and "(strict:" in plotly[0]["layout"]["title"]["text"]
    assert any("image/png" in o.get("data", {}) for o in outputs)        # the static image beside it
    assert "kit, default" in text and "plain cosine, same recall" in text and "0.97" in text
    assert "Traceback" not in text and not any(o.get("output_type") == "error" for o in outputs)
