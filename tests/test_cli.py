"""`glwork doctor` reports versions, mode and which keys are set, never their values."""
import io

from glwork.cli import doctor, main


def test_doctor_shows_presence_not_values(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-doctorvalue" + "x" * 30)
    out = io.StringIO()
    assert doctor(out) == 0
    text = out.getvalue()
    assert "OPENAI_API_KEY           set" in text and "ANTHROPIC_API_KEY        not set" in text
    assert "doctorvalue" not in text
    assert "openai" in text and "Python" in text and "mode:" in text


def test_main_runs_doctor(capsys):
    assert main(["doctor"]) == 0
    assert "packages:" in capsys.readouterr().out


def test_doctor_names_the_shared_backend_without_its_password(monkeypatch):
    monkeypatch.setenv("GLWORK_BACKEND_URL", "redis://:hunter2secret@127.0.0.1:1/0")   # nothing listens on port 1
    out = io.StringIO()
    assert doctor(out) == 0
    line = [ln for ln in out.getvalue().splitlines() if ln.startswith("shared backend:")][0]
    assert "127.0.0.1:1" in line and "UNREACHABLE" in line and "hunter2secret" not in line
