import os
import tempfile

import pytest

from wire_server import WireServer

# Whatever is written after the last test (rows flushed at exit) lands here, not in the user's ledger.
os.environ["GLWORK_LEDGER"] = os.path.join(tempfile.mkdtemp(prefix="glwork-tests-"), "ledger.sqlite3")

PROVIDER_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
    "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION",
    "AZURE_OPENAI_DEPLOYMENT", "SLACK_WEBHOOK_URL",
)


@pytest.fixture(autouse=True)
def _clean_provider_env(monkeypatch, tmp_path):
    # Tests must never reach a real provider with a developer's key.
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLWORK_MODE", "live")
    # Every ChatSession call is recorded in the cost ledger: keep tests out of the user's one.
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


@pytest.fixture
def wire_server():
    srv = WireServer()
    try:
        yield srv
    finally:
        srv.close()
