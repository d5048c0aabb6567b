"""CostAlertManager: notify when spend crosses a threshold (workshop Part 7 §5).

    alerts = CostAlertManager()
    alerts.set_alert(threshold=100.00, notification="slack:#eng-alerts")        # $100/day
    alerts.set_alert(threshold=5, period="session", notification="banner")
    alerts.set_alert(threshold=500, period="month", notification=my_function)   # my_function(alert_dict)

Periods: "day" and "month" (local calendar; spend of every session and kernel in the ledger) and
"session" (one ChatSession's spend). Spend is money: replayed calls and the local model cost nothing
and never trigger an alert, unless the manager's tracker counts them
(`CostAlertManager(CostTracker(include_free=True))`, to try alerts without a key). Checked after
each ledger write; an alert fires once per crossing: once per day, month or session in which the
total reaches the threshold.
Slack alerts are also marked in the ledger, so two kernels sharing it post once.

Notifications: a callable, "log" (a warning on the glwork logger), "banner" (HTML warning in a
notebook, else printed), or "slack:#channel": JSON posted to the incoming webhook in the
SLACK_WEBHOOK_URL environment variable (5 s timeout). The webhook URL is a secret: it never appears
in a log, an error or an event. Without SLACK_WEBHOOK_URL the alert is logged with a warning instead.

With a shared backend (GLWORK_BACKEND_URL=redis://..., see glwork.backends) the default
CostTracker is the class's ledger: "day" and "month" totals are the whole class's spend, checked
after each of this kernel's calls, and a Slack alert is marked in Redis so the class posts it once.
To refuse calls beyond a class limit (not only be told), set one on
glwork.resilience.class_budget.ClassBudget.
"""
import json
import os
import sys
import threading
import time
from dataclasses import dataclass

from .. import events
from ..errors import ConfigurationError
from ..security import MASK, get_logger, redact
from .ledger import CostTracker, period_key

log = get_logger(__name__)
SLACK_ENV = "SLACK_WEBHOOK_URL"
SLACK_TIMEOUT_S = 5.0
PERIODS = ("day", "month", "session")


@dataclass
class Alert:
    threshold: float
    period: str
    notification: object
    name: str

    @property
    def target(self):
        n = self.notification
        return n if isinstance(n, str) else getattr(n, "__qualname__", repr(n))


class CostAlertManager:
    """Alerts on spend per day, month or session: see the module's docstring for periods and notifications."""

    def __init__(self, tracker=None, clock=time.time):
        self.tracker = tracker or CostTracker()
        self._clock = clock
        self._alerts = []
        self._fired = set()              # (alert name, period key) fired by this manager
        self._session_spend = {}
        self._lock = threading.Lock()
        self._unsubscribe = events.subscribe(self._on_event)

    def __repr__(self):
        return f"CostAlertManager(alerts={[a.name for a in self._alerts]})"

    def set_alert(self, threshold, period="day", notification="log", name=None):
        """Add an alert; returns it. `threshold` in USD, `period` "day" (default), "month" or "session"."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
            raise ConfigurationError(f"threshold must be a positive number of USD, got {threshold!r}.")
        if period not in PERIODS:
            raise ConfigurationError(f"period must be one of {', '.join(PERIODS)}, got {period!r}.")
        _check_notification(notification)
        alert = Alert(float(threshold), period, notification,
                      name or f"{period}>=${threshold:.2f}->{_target_label(notification)}")
        with self._lock:
            self._alerts.append(alert)
        return alert

    def list_alerts(self):
        return list(self._alerts)

    def remove_alert(self, alert):
        with self._lock:
            self._alerts = [a for a in self._alerts if a is not alert and a.name != alert]

    def close(self):
        """Stop watching the ledger."""
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- checking ------------------------------------------------------------------------------
    def _on_event(self, event):
        if event.get("kind") == "ledger_row" and event.get("path") == self.tracker.path:
            self.check(event.get("row"))

    def check(self, row=None):
        """Check every alert now (done after each ledger write); returns the alerts that fired."""
        if row is not None and row.get("session") is not None:
            # A replayed or local call costs nothing: no alert for it (unless the tracker counts them).
            counted = self.tracker.include_free or (row.get("source") or "live") == "live"
            with self._lock:
                spend = self._session_spend.get(row["session"], 0.0) + ((row.get("cost") or 0.0) if counted else 0.0)
                self._session_spend[row["session"]] = spend
        fired, totals = [], {}
        now = self._clock()
        for alert in list(self._alerts):
            if alert.period == "session":
                if row is None or row.get("session") is None:
                    continue
                key, total = f"session {row['session']}", self._session_spend[row["session"]]
            else:
                key = period_key(alert.period, now)
                if alert.period not in totals:
                    totals[alert.period] = float(self.tracker.get_total_cost(alert.period))
                total = totals[alert.period]
            if total < alert.threshold:
                continue
            with self._lock:
                if (alert.name, key) in self._fired:
                    continue
                self._fired.add((alert.name, key))
            if _is_slack(alert.notification) and not self.tracker.mark_alert_fired(alert.name, key):
                continue   # another kernel sharing this ledger already posted it
            info = {"name": alert.name, "threshold": alert.threshold, "period": alert.period,
                    "period_key": key, "total": round(total, 6), "time": now, "target": alert.target}
            fired.append(info)
            events.emit("cost_alert", **info)
            _notify(alert, info)
        return fired


# ---- notifications ---------------------------------------------------------------------------------
def _is_slack(n):
    return isinstance(n, str) and n.startswith("slack:")


def _target_label(n):
    return n if isinstance(n, str) else getattr(n, "__qualname__", type(n).__name__)


def _check_notification(n):
    if callable(n) or n in ("log", "banner"):
        return
    if _is_slack(n):
        if not n[len("slack:"):].strip():
            raise ConfigurationError('A Slack notification names a channel: "slack:#eng-alerts".')
        if not os.environ.get(SLACK_ENV):
            log.warning("%s is not set: Slack alert %r will be logged here instead of posted. Set %s to "
                        "the incoming-webhook URL of your Slack app to post it.", SLACK_ENV, n, SLACK_ENV)
        return
    raise ConfigurationError(f'notification must be a callable, "log", "banner" or "slack:#channel", got {n!r}.')


def _message(info):
    what = {"day": "today", "month": "this month"}.get(info["period"], info["period_key"])
    return (f"glwork cost alert: LLM spend {what} is ${info['total']:.2f}, "
            f"at or over the ${info['threshold']:.2f} threshold.")


def _notify(alert, info):
    text = _message(info)
    n = alert.notification
    try:
        if callable(n):
            n(info)
        elif n == "log":
            log.warning(text)
        elif n == "banner":
            _banner(text)
        elif _is_slack(n):
            post_slack(n[len("slack:"):].strip(), text)
    except Exception as exc:   # an alert must never break the call that triggered it
        log.warning("cost alert %r could not be delivered: %s", alert.name, redact(str(exc)))


def _banner(text):
    shell = None
    if "IPython" in sys.modules:
        from IPython import get_ipython
        shell = get_ipython()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        from html import escape

        from IPython.display import HTML, display
        display(HTML('<div style="padding:8px 12px;border-left:4px solid #d9534f;background:#fdf2f2">'
                     f"<b>&#9888; {escape(text)}</b></div>"))
    else:
        print(f"WARNING: {text}")


def post_slack(channel, text, url=None, timeout=SLACK_TIMEOUT_S):
    """POST {"text", "channel"} to the webhook; True on HTTP 2xx. Never logs or raises the URL."""
    url = url or os.environ.get(SLACK_ENV)
    if not url:
        log.warning("%s is not set, so this alert for %s was not posted: %s", SLACK_ENV, channel, text)
        return False
    if not url.lower().startswith(("https://", "http://")):
        log.warning("%s is not an http(s) URL, so this alert for %s was not posted: %s", SLACK_ENV, channel, text)
        return False
    import urllib.error
    import urllib.request  # on first post only: it pulls in http.client and ssl
    body = json.dumps({"text": text, "channel": channel}).encode()
    try:
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except urllib.error.HTTPError as exc:
        why = f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        why = f"{type(exc.reason).__name__}: {exc.reason}"
    except (OSError, ValueError) as exc:   # ValueError texts quote the URL: name the type only
        why = type(exc).__name__
    log.warning("Posting the cost alert to Slack %s failed (%s); the alert was: %s", channel,
                redact(why.replace(url, MASK)), text)
    return False
