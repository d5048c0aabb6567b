"""A llama.cpp build that would crash the process is found in a child and refused, with the fix."""
import importlib.util
import json

import pytest

from glwork.local import engine as engine_mod
from glwork.local import runtime_check as probe
from glwork.local.model import ModelUnavailable

SIGILL = "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n"


def test_a_child_killed_by_sigill_is_reported_with_the_reason():
    ok, why = probe.run_probe("model.gguf", code=SIGILL)
    assert not ok and "SIGILL" in why and "AMX" in why


def test_a_child_that_fails_is_reported_with_its_last_line():
    ok, why = probe.run_probe("model.gguf", code="raise RuntimeError('no gguf here')")
    assert not ok and "exit 1" in why and "no gguf here" in why


def test_a_child_that_hangs_is_not_waited_for_forever():
    ok, why = probe.run_probe("model.gguf", code="import time; time.sleep(30)", timeout=1)
    assert not ok and "within 1 s" in why


def test_a_child_that_answers_passes():
    code = "import sys; assert sys.argv[1] == 'model.gguf'; print('ok')"
    assert probe.run_probe("model.gguf", code=code) == (True, "")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GLWORK_LLAMA_PROBE", raising=False)
    monkeypatch.setattr(probe, "_build_key", lambda path: "build-1")
    return tmp_path


def test_a_crashing_build_is_refused_once_probed_and_the_verdict_is_kept(cache, monkeypatch):
    calls = []
    monkeypatch.setattr(probe, "run_probe", lambda path: calls.append(path) or (False, "llama.cpp crashed with SIGILL"))
    for _ in range(2):
        with pytest.raises(ModelUnavailable) as err:
            probe.check_runtime("m.gguf")
        assert "SIGILL" in str(err.value) and "-mno-amx-int8" in str(err.value)
    assert calls == ["m.gguf"]      # probed once; the second refusal came from the cached verdict
    assert json.loads((cache / "llama-probe.json").read_text())["build-1"]["ok"] is False


def test_a_corrupt_verdict_file_means_probing_again(cache, monkeypatch):
    (cache / "llama-probe.json").write_text("{not json")
    monkeypatch.setattr(probe, "run_probe", lambda path: (True, ""))
    probe.check_runtime("m.gguf")
    assert json.loads((cache / "llama-probe.json").read_text()) == {"build-1": {"ok": True, "why": ""}}


def test_auto_engine_falls_back_to_extractive_instead_of_crashing(cache, monkeypatch):
    monkeypatch.delenv("GLWORK_LOCAL_ENGINE", raising=False)
    monkeypatch.setattr(probe, "run_probe", lambda path: (False, "llama.cpp crashed with SIGILL"))
    monkeypatch.setattr("glwork.local.model.gguf_path", lambda model=None: "m.gguf")
    monkeypatch.setattr(engine_mod, "_engines", {})
    eng = engine_mod.select_engine()
    assert eng.name == "extractive" and "SIGILL" in eng.why


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_the_installed_build_runs_on_this_machine(tmp_path):
    from glwork.local.model import ModelUnavailable as Missing
    from glwork.local.model import gguf_path
    try:
        path = gguf_path()
    except Missing as exc:
        pytest.skip(str(exc))
    ok, why = probe.run_probe(path)
    assert ok, why
