"""No credential in cassettes, notebooks or fixtures; the scanner itself catches real-looking keys."""
from pathlib import Path

import pytest

from glwork.security import find_secrets, redact, scan_paths

ROOT = Path(__file__).parents[1]


def test_repository_outputs_hold_no_secrets():
    paths = [ROOT / d for d in ("cassettes", "notebooks", "tests/fixtures") if (ROOT / d).exists()]
    assert paths and scan_paths(paths) == {}


@pytest.mark.parametrize("leak", [
    "Authorization: Bearer sk-proj-" + "A1b2C3d4" * 6,
    "x-api-key: sk-ant-api03-" + "Zz9" * 12,
    '"api-key": ["' + "f" * 32 + '"]',
    "SLACK https://hooks.slack.com/services/T0000/B0000/" + "x" * 24,
    "AKIA" + "ABCDEFGHIJKLMNOP",
])
def test_scanner_finds_key_shapes(leak):
    assert find_secrets(f"before {leak} after")


@pytest.mark.parametrize("harmless", ["Bearer test_openai_api_key", "api-key: test_azure_api_key",
                                      "authorization: [REDACTED]", "Bearer <filtered>"])
def test_scanner_ignores_placeholders(harmless):
    assert find_secrets(harmless) == []


def test_environment_key_values_are_found_and_redacted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "plainvalue-without-shape-42")
    assert find_secrets("leaked plainvalue-without-shape-42 here")
    assert redact("key=plainvalue-without-shape-42") == "key=[REDACTED]"
