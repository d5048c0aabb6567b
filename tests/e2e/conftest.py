"""The browser tests: real JupyterLab, real headless Chromium. Run them with `make e2e` (or
`pytest -m e2e tests/e2e`); a plain `pytest tests` skips them (they take minutes)."""
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end test in JupyterLab with a real browser (make e2e)")


def pytest_collection_modifyitems(config, items):
    if "e2e" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="browser test: run it with `make e2e` (pytest -m e2e tests/e2e)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)
