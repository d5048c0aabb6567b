"""Both local models answer through the real local server and the official SDK, each named in its
response (one short generation per model: loading the 1.5B and answering takes ~10 s)."""
import importlib.util

import openai
import pytest

from glwork.local import models
from glwork.local.engine import get_engine
from glwork.local.faults import FaultPlan
from glwork.local.model import is_installed
from glwork.local.server import LocalServer

pytestmark = pytest.mark.heavy
QUESTION = [{"role": "system", "content": "Answer from the context in a few words."},
            {"role": "user", "content": "Context: Scope 2 covers emissions from purchased electricity, "
                                        "steam, heat and cooling.\n\nQuestion: What does Scope 2 cover?"}]


@pytest.fixture(scope="module")
def oai():
    srv = LocalServer(faults=FaultPlan()).start()
    yield openai.OpenAI(base_url=srv.url + "/v1", api_key="local", max_retries=0, timeout=300)
    srv.stop()


@pytest.mark.parametrize("name", list(models.MODELS))
def test_each_model_answers_through_the_server_under_its_own_name(oai, name, monkeypatch):
    monkeypatch.delenv("GLWORK_LOCAL_ENGINE", raising=False)
    if importlib.util.find_spec("llama_cpp") is None or not is_installed(models.MODELS[name]):
        pytest.skip(f"llama-cpp-python or {name} is not installed (make setup installs both)")
    engine = get_engine(name)
    assert engine.name == "llama", engine.why
    reply = oai.chat.completions.create(model=name, messages=QUESTION, max_tokens=16, temperature=0)
    assert reply.model == models.MODELS[name].id
    assert "electricity" in reply.choices[0].message.content.lower()
    assert reply.usage.completion_tokens <= 16
