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
