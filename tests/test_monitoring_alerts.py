"""CostAlertManager: once per crossing, per period; Slack posts to a local webhook; the URL stays secret."""
import json
import logging
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from glwork import events
from glwork.llm import ChatSession, LLMError
from glwork.monitoring import ledger
from glwork.monitoring.alerts import CostAlertManager, post_slack
from glwork.monitoring.ledger import CostTracker
from wire_server import cassette

SECRET_PATH = "/services/T0SECRET/B0SECRET/Xyz0SuperSecretToken42"


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_LEDGER", str(tmp_path / "ledger.sqlite3"))


@pytest.fixture
def managers():
    made = []

    def make(**kw):
        m = CostAlertManager(**kw)
        made.append(m)
        return m
    yield make
    for m in made:
        m.close()


class Webhook:
    """A Slack incoming webhook stand-in on 127.0.0.1."""

    def __init__(self, status=200):
        self.posts, self.status = [], status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                hook.posts.append((self.path, self.headers["content-type"], json.loads(body)))
                self.send_response(hook.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)
    yield hook
    hook.close()


def test_fires_once_per_crossing_and_again_the_next_day(managers):
    now = [datetime(2025, 3, 10, 12, 0).timestamp()]
    tracker = CostTracker(clock=lambda: now[0])
    fired = []
    alerts = managers(tracker=tracker, clock=lambda: now[0])
    alerts.set_alert(threshold=1.00, period="day", notification=fired.append)
    for cost in (0.4, 0.4, 0.4, 0.4):
        tracker.add_row(ts=now[0], provider="openai", cost=cost)
    assert len(fired) == 1 and fired[0]["total"] == pytest.approx(1.2) and fired[0]["period_key"] == "2025-03-10"
    now[0] = (datetime(2025, 3, 11, 9, 0)).timestamp()      # a new day: below again, then over again
    tracker.add_row(ts=now[0], provider="openai", cost=0.5)
    assert len(fired) == 1
    tracker.add_row(ts=now[0], provider="openai", cost=0.6)
    assert len(fired) == 2 and fired[1]["period_key"] == "2025-03-11"


def test_month_and_session_periods(managers):
    now = datetime(2025, 3, 31, 23, 0).timestamp()
    tracker = CostTracker(clock=lambda: now)
    month, per_session = [], []
    alerts = managers(tracker=tracker, clock=lambda: now)
    alerts.set_alert(threshold=5, period="month", notification=month.append)
    alerts.set_alert(threshold=2, period="session", notification=per_session.append)
    tracker.add_row(ts=(datetime(2025, 3, 1) + timedelta(hours=1)).timestamp(), session="a", cost=1.5)
    tracker.add_row(ts=now, session="b", cost=1.5)
    assert month == [] and per_session == []
    tracker.add_row(ts=now, session="a", cost=1.0)             # session a: 2.5
    assert [a["period_key"] for a in per_session] == ["session a"]
    tracker.add_row(ts=now, session="b", cost=1.5)             # session b: 3.0, month: 5.5
    assert [a["period_key"] for a in per_session] == ["session a", "session b"]
    assert len(month) == 1 and month[0]["period_key"] == "2025-03"
    tracker.add_row(ts=now, session="a", cost=1.0)
    assert len(per_session) == 2 and len(month) == 1


def test_session_calls_trigger_alerts_through_the_ledger(wire_server, managers):
    fired = []
    managers().set_alert(threshold=0.000001, notification=fired.append)
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1",
                api_key="sk-test-alerts-0123456789abcdef").send_message("Hi")
    ledger.flush()                      # rows from sessions are written by the background writer
    assert len(fired) == 1


def test_slack_post_reaches_the_webhook_and_two_kernels_post_once(webhook, managers, caplog):
    tracker = CostTracker()
    seen = []
    unsubscribe = events.subscribe(seen.append)
    try:
        with caplog.at_level(logging.DEBUG, logger="glwork"):
            managers().set_alert(threshold=100.00, notification="slack:#eng-alerts")
            managers().set_alert(threshold=100.00, notification="slack:#eng-alerts")   # a second kernel
            tracker.add_row(provider="openai", cost=60.0)
            tracker.add_row(provider="openai", cost=60.0)
    finally:
        unsubscribe()
    assert len(webhook.posts) == 1
    path, ctype, body = webhook.posts[0]
    assert path == SECRET_PATH and ctype == "application/json"
    assert body["channel"] == "#eng-alerts" and "$120.00" in body["text"] and "$100.00" in body["text"]
    assert webhook.url not in caplog.text and "SuperSecret" not in caplog.text
    assert not any("SuperSecret" in repr(e) for e in seen)


@pytest.mark.parametrize("status", [404, 500])
def test_failed_slack_post_is_logged_without_the_url(monkeypatch, caplog, status):
    hook = Webhook(status=status)
    try:
        with caplog.at_level(logging.WARNING, logger="glwork"):
            assert post_slack("#eng-alerts", "test alert", url=hook.url) is False
    finally:
        hook.close()
    assert f"HTTP {status}" in caplog.text and "SuperSecret" not in caplog.text and "T0SECRET" not in caplog.text


def test_unreachable_or_bad_webhook_url_is_not_leaked(caplog):
    with caplog.at_level(logging.WARNING, logger="glwork"):
        assert post_slack("#x", "t", url=f"http://127.0.0.1:9{SECRET_PATH}", timeout=2) is False
        assert post_slack("#x", "t", url=f"notaurl{SECRET_PATH}") is False
        assert post_slack("#x", "t", url=f"http://[::1{SECRET_PATH}") is False        # unparsable
    assert caplog.text.count("Posting the cost alert") == 2 and "not an http(s) URL" in caplog.text
    assert "SuperSecret" not in caplog.text


def test_workshop_call_without_webhook_warns_and_logs_instead(managers, caplog):
    with caplog.at_level(logging.WARNING, logger="glwork"):
        alerts = managers()
        alerts.set_alert(threshold=100.00, notification="slack:#eng-alerts")
        assert "SLACK_WEBHOOK_URL" in caplog.text
        alerts.tracker.add_row(provider="openai", cost=150.0)
    assert "was not posted" in caplog.text and "$150.00" in caplog.text


def test_log_and_banner_notifications(managers, caplog, capsys):
    alerts = managers()
    alerts.set_alert(threshold=1, notification="log")
    alerts.set_alert(threshold=1, notification="banner")
    with caplog.at_level(logging.WARNING, logger="glwork"):
        alerts.tracker.add_row(provider="openai", cost=2.0)
    assert "cost alert" in caplog.text and "WARNING: glwork cost alert" in capsys.readouterr().out


def test_a_broken_callable_never_breaks_the_write(managers, caplog):
    def boom(info):
        raise RuntimeError("notifier down")
    alerts = managers()
    alerts.set_alert(threshold=1, notification=boom)
    with caplog.at_level(logging.WARNING, logger="glwork"):
        alerts.tracker.add_row(provider="openai", cost=2.0)
    assert "could not be delivered" in caplog.text and alerts.tracker.get_call_count() == 1


@pytest.mark.parametrize("kw", [{"threshold": 0}, {"threshold": "100"}, {"threshold": 1, "period": "week"},
                                {"threshold": 1, "notification": "email"}, {"threshold": 1, "notification": "slack:"}])
def test_bad_arguments_say_what_is_wrong(managers, kw):
    with pytest.raises(LLMError):
        managers().set_alert(**kw)
