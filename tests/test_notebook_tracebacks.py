"""A glwork error escaping a notebook cell shows its message, the fix and the cell's line; `%tb` still
gives the whole traceback; other exceptions keep IPython's own form."""
import pytest

from glwork import config, offline
from glwork.offline import tracebacks


@pytest.fixture
def shell(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.setenv("GLWORK_CASSETTE_DIR", str(tmp_path))
    monkeypatch.delenv("GLWORK_TRACEBACKS", raising=False)
    sh = InteractiveShell.instance()
    yield sh
    sh.set_custom_exc((), None)
    offline.close_cassette()
    config.configure(None)
    InteractiveShell.clear_instance()


def run(shell, capsys, code):
    result = shell.run_cell(code)
    return result, capsys.readouterr().out


SETUP = "import glwork\nglwork.notebook('tb-test', mode='local', quiet=True)\nfrom glwork.llm import ChatSession\n"
FAILING = "s = ChatSession(provider='openai', mode='live', api_key=None)\n"


def test_glwork_error_is_short_with_fix_and_line(shell, capsys):
    run(shell, capsys, SETUP)
    result, out = run(shell, capsys, "x = 1\n" + FAILING)
    assert isinstance(result.error_in_exec, Exception)          # the cell still fails: Run All stops
    assert "MissingAPIKeyError" in out and "OPENAI_API_KEY" in out
    assert "What to do" in out and "Raised by: line 2: s = ChatSession(" in out and "%tb" in out
    assert "glwork/session.py" not in out and "providers/base.py" not in out   # no library frames
    assert len(out.strip().splitlines()) <= 6

    _, full = run(shell, capsys, "%tb")
    assert "providers/base.py" in full or "providers" in full   # the whole traceback on demand


def test_other_exceptions_keep_ipythons_traceback(shell, capsys):
    run(shell, capsys, SETUP)
    _, out = run(shell, capsys, "def f():\n    return 1 / 0\nf()\n")
    assert "ZeroDivisionError" in out and "Traceback" in out and "What to do" not in out


def test_full_tracebacks_on_request(shell, capsys, monkeypatch):
    run(shell, capsys, "import glwork\nglwork.notebook('tb-test', mode='local', quiet=True, tracebacks='full')\n"
                       "from glwork.llm import ChatSession\n")
    _, out = run(shell, capsys, FAILING)
    assert "MissingAPIKeyError" in out and "What to do" not in out and "providers" in out
    monkeypatch.setenv("GLWORK_TRACEBACKS", "full")
    tracebacks.install(None)
    _, out = run(shell, capsys, FAILING)
    assert "What to do" not in out


def test_bad_tracebacks_argument_says_what_to_write(tmp_path, monkeypatch):
    import glwork
    monkeypatch.setenv("GLWORK_CASSETTE_DIR", str(tmp_path))
    with pytest.raises(glwork.llm.ConfigurationError, match='"short" or "full"'):
        glwork.notebook("x", mode="local", quiet=True, tracebacks="long")


def test_short_form_outside_ipython_is_plain_lines():
    from glwork.errors import RateLimitError
    lines = tracebacks.short_form(RateLimitError("Too many requests", provider="openai"), None)
    assert lines[0].startswith("RateLimitError: [openai] Too many requests")
    assert lines[1].startswith("What to do: Wait")
