"""The dashboards without a browser: the figures follow the cache, the ledger and the health samples."""
import time

import pytest

from glwork import events
from glwork.cache import HashingEmbedder, SemanticCacheManager
from glwork.llm import ChatSession, ConfigurationError, CostAlertManager, CostTracker, ProviderHealthMonitor
from glwork.monitoring.health import HealthCollector
from glwork.response import Usage
from glwork.session import CallRecord
from glwork.widgets import CacheDashboard, CostDashboard, HealthDashboard
from glwork.widgets.health_dashboard import running_p95

MIME = "application/vnd.jupyter.widget-view+json"


def wait_for(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out waiting for the dashboard to redraw")
        time.sleep(0.02)


# ---- cache ------------------------------------------------------------------------------------------
@pytest.fixture
def cache():
    c = SemanticCacheManager(embedder=HashingEmbedder(), guard=False, similarity_threshold=0.9)
    yield c
    c.close()


def test_cache_dashboard_plots_hits_misses_and_scores(cache):
    dash = CacheDashboard(cache, refresh_delay=0)
    cache.set("what is scope 2", "indirect emissions from bought energy", cost=0.01)
    assert cache.get("what is scope 2") == "indirect emissions from bought energy"       # behaviour unchanged
    assert cache.get("how big is the moon") is None
    hits, misses, served, missed, line = dash.figure.data
    assert list(hits.y) == [1, 1] and list(misses.y) == [0, 1]
    assert list(served.y) == [1.0] and len(missed.y) == 1 and missed.y[0] < 0.9
    assert list(line.y) == [0.9, 0.9]
    assert "hit rate 50.0%" in dash.header.value and "cost saved $0.010000" in dash.header.value
    html = dash._repr_mimebundle_()["text/html"]
    assert "how big is the moon" in html and "HIT" in html and "miss" in html


def test_cache_dashboard_stops_watching_when_closed(cache):
    dash = CacheDashboard(cache, refresh_delay=0)
    cache.get("anything at all")
    dash.close()
    cache.get("anything else")
    assert len(dash.lookups) == 1
    other = CacheDashboard(cache, refresh_delay=0)        # a second dashboard on the same cache still works
    cache.get("a third question")
    assert len(other.lookups) == 1 and len(dash.lookups) == 1


def test_cache_dashboard_follows_a_sessions_cache(cache):
    session = ChatSession(provider="openai", api_key="x" * 20, base_url="http://127.0.0.1:9/v1", semantic_cache=cache)
    assert CacheDashboard(session, refresh_delay=0).cache is cache
    with pytest.raises(ConfigurationError, match="semantic_cache=True"):
        CacheDashboard(ChatSession(provider="openai", api_key="x" * 20, base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(ConfigurationError, match="SemanticCacheManager"):
        CacheDashboard("cache")


def test_cache_dashboard_redraw_is_debounced(cache):
    dash = CacheDashboard(cache, refresh_delay=0.2)
    before = dash.updates
    for q in ("one question here", "two questions here", "three questions here"):
        cache.get(q)
    assert dash.updates == before
    wait_for(lambda: dash.updates > before)
    time.sleep(0.3)
    assert dash.updates == before + 1 and len(dash.figure.data[1].y) == 3


# ---- cost -------------------------------------------------------------------------------------------
def test_cost_dashboard_redraws_after_each_ledger_row(tmp_path):
    tracker = CostTracker(path=tmp_path / "ledger.sqlite3")
    alerts = CostAlertManager(tracker)
    alerts.set_alert(threshold=0.015, period="day", notification=lambda info: None, name="daily")
    dash = CostDashboard(tracker, budget=0.05, alerts=alerts, refresh_delay=0)
    try:
        assert "0 calls" in dash.header.value
        before = dash.updates
        tracker.add_row(provider="openai", model="gpt-4", requested_model="gpt-4", cost=0.01)
        tracker.add_row(provider="anthropic", model="claude-3-opus", requested_model="claude-3-opus", cost=0.02)
        wait_for(lambda: "2 calls" in dash.header.value)
        assert dash.updates > before
        day, provider, model, cumulative, budget, alert = dash.figure.data
        assert dict(zip(provider.x, provider.y)) == pytest.approx({"anthropic": 0.02, "openai": 0.01})
        assert dict(zip(model.x, model.y)) == pytest.approx({"claude-3-opus": 0.02, "gpt-4": 0.01})
        assert list(cumulative.y) == pytest.approx([0.01, 0.03]) and sum(day.y) == pytest.approx(0.03)
        assert set(budget.y) == {0.05} and set(v for v in alert.y if v is not None) == {0.015}
        wait_for(lambda: "alerts fired: 1" in dash.header.value)
        assert "budget $0.05 (60.0% used)" in dash.header.value
        html = dash._repr_mimebundle_()["text/html"]
        assert "$0.020000" in html and 'class="glw-volatile"' in html      # the day is run-dependent
    finally:
        dash.close()
        alerts.close()
        tracker.close()


def test_cost_dashboard_ignores_other_ledgers(tmp_path):
    tracker = CostTracker(path=tmp_path / "mine.sqlite3")
    other = CostTracker(path=tmp_path / "other.sqlite3")
    dash = CostDashboard(tracker, refresh_delay=0)
    try:
        before = dash.updates
        other.add_row(provider="openai", model="gpt-4", cost=1.0)
        time.sleep(0.3)
        assert dash.updates == before and "0 calls" in dash.header.value
    finally:
        dash.close()
        tracker.close()
        other.close()


def test_cost_dashboard_bad_arguments(tmp_path):
    tracker = CostTracker(path=tmp_path / "l.sqlite3")
    with pytest.raises(ConfigurationError, match="budget must be a positive"):
        CostDashboard(tracker, budget=-1)
    with pytest.raises(ConfigurationError, match="CostTracker"):
        CostDashboard("ledger.sqlite3")
    with pytest.raises(ConfigurationError, match="CostAlertManager"):
        CostDashboard(tracker, alerts=[1])
    tracker.close()


# ---- health -----------------------------------------------------------------------------------------
def call(provider, latency_ms, t):
    record = CallRecord(provider, "m", "m", Usage(10, 5), 0.0, False, latency_ms, time=t)
    events.emit("llm_call", record=record, attempt_latency_ms=latency_ms)


def test_health_dashboard_draws_latency_p95_errors_and_retries():
    now = [1_000_000.0]
    collector = HealthCollector().attach()
    monitor = ProviderHealthMonitor(collector=collector, clock=lambda: now[0])
    dash = HealthDashboard(monitor, refresh_delay=0)
    try:
        assert "no provider requests yet" in dash.header.value
        for i, ms in enumerate([100, 300, 200]):
            call("openai", ms, now[0] - 30 + i)
        events.emit("llm_retry", provider="anthropic", time=now[0] - 5, latency_ms=50, error_code="rate_limit",
                    retryable=True)
        call("anthropic", 400, now[0] - 4)
        data = dash.figure.data
        assert list(data[0].y) == [100, 300, 200] and list(data[3].y) == [100, 300, 300]   # running p95
        assert len(data[3].x) == len(data[0].x) == 3
        assert list(data[1].y) == [400]
        errors, retries = data[-2], data[-1]
        assert dict(zip(errors.x, errors.y)) == {"anthropic": 50.0, "openai": 0.0}
        assert dict(zip(retries.x, retries.y)) == {"anthropic": 1, "openai": 0}
        assert "openai: healthy" in dash.header.value and "anthropic: degraded" in dash.header.value
        html = dash.static_html()
        assert html.count('class="glw-volatile"') == 4 and "50.0%" in html
        now[0] += 1000                          # samples leave the window
        dash.refresh()
        assert list(dash.figure.data[0].y) == []
    finally:
        dash.close()
        collector.detach()


def test_running_p95_uses_the_monitors_nearest_rank():
    assert running_p95([]) == []
    assert running_p95([5, 1, 9]) == [5, 5, 9]
    values = list(range(1, 101))
    assert running_p95(values)[-1] == 95


def test_health_dashboard_bad_argument():
    with pytest.raises(ConfigurationError, match="ProviderHealthMonitor"):
        HealthDashboard(monitor="openai")


def test_dashboards_show_a_live_widget_and_a_static_view(cache, tmp_path):
    tracker = CostTracker(path=tmp_path / "l.sqlite3")
    for dash in (CacheDashboard(cache, refresh_delay=0), CostDashboard(tracker, refresh_delay=0),
                 HealthDashboard(refresh_delay=0)):
        bundle = dash._repr_mimebundle_()
        assert bundle[MIME]["model_id"] == dash.widget.model_id
        assert "Static view" in bundle["text/html"] and bundle["text/plain"] == type(dash).__name__
        assert type(dash.figure).__name__ == "FigureWidget"
        dash.close()
    tracker.close()
