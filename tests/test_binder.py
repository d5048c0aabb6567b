"""Binder builds what `make` builds: the same torch pin (CPU), the kit with its local model."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_binder_pins_the_same_cpu_torch_as_pyproject():
    pin = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    req = (ROOT / "binder" / "requirements.txt").read_text()
    assert f"torch=={pin}+cpu" in req and "download.pytorch.org/whl/cpu" in req


def test_binder_installs_the_kit_and_prepares_the_models():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert 'pip install --no-cache-dir -e ".[local-llm]"' in post
    # At build time, as `make setup` does: a notebook never downloads a model.
    assert "\nglwork models install\n" in post
    assert "$(BIN)/glwork models install" in (ROOT / "Makefile").read_text()
    assert "HF_HUB_OFFLINE=1" in (ROOT / "binder" / "start").read_text()


def test_readme_has_the_badge_and_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/badge_logo.svg" in readme and "notebooks/00_setup.ipynb" in readme
    assert "make lab" in readme and "make test" in readme
