"""HealthDashboard: each provider's latency (with its p95), error rate and retries, live.

    HealthDashboard()            # a ProviderHealthMonitor over the last 5 minutes
    HealthDashboard(monitor)

Fed by the same events as the monitor (every HTTP attempt); answers from the semantic cache are
not provider requests and do not appear.
"""
import math
from datetime import datetime

from ..errors import ConfigurationError
from ..providers import PROVIDERS
from .dashboard import REFRESH_S, Dashboard, figure_widget
from .view import esc, table, volatile

COLORS = {"openai": "#1f77b4", "anthropic": "#9467bd", "azure": "#17becf"}
PLOT_LAST = 500      # samples per provider drawn (the window may hold more)


def running_p95(latencies):
    """p95 of the latencies up to each point (the monitor's definition: nearest rank)."""
    out, seen = [], []
    for v in latencies:
        seen.append(v)
        ranked = sorted(seen)
        out.append(ranked[max(math.ceil(0.95 * len(ranked)) - 1, 0)])
    return out


class HealthDashboard(Dashboard):
    """Each provider's latency (with p95), error rate and retries, redrawn as calls land."""

    title = "Provider health"
    kinds = ("llm_call", "llm_retry", "llm_error")

    def __init__(self, monitor=None, refresh_delay=REFRESH_S):
        from ..monitoring.health import ProviderHealthMonitor
        if monitor is None:
            monitor = ProviderHealthMonitor()
        if not hasattr(monitor, "get_status"):
            raise ConfigurationError(f"HealthDashboard needs a ProviderHealthMonitor, got {type(monitor).__name__}.")
        self.monitor = monitor
        super().__init__(refresh_delay)

    def _figure(self):
        import plotly.graph_objects as go
        fig = figure_widget(2, 2, ("Latency of successful attempts (ms), dashed: running p95",
                                   "Error rate (%)", "Retries"), 600,
                            specs=[[{"colspan": 2}, None], [{}, {}]])
        for p in PROVIDERS:
            fig.add_trace(go.Scatter(name=p, mode="markers", marker_color=COLORS[p], legendgroup=p), 1, 1)
        for p in PROVIDERS:
            fig.add_trace(go.Scatter(name=f"{p} p95", mode="lines", line=dict(color=COLORS[p], dash="dash"),
                                     legendgroup=p, showlegend=False), 1, 1)
        fig.add_trace(go.Bar(name="error rate", showlegend=False, marker_color="#d62728"), 2, 1)
        fig.add_trace(go.Bar(name="retries", showlegend=False, marker_color="#ff7f0e"), 2, 2)
        fig.update_yaxes(rangemode="nonnegative", row=2)
        return fig

    def _data(self):
        now = self.monitor.clock()
        status = self.monitor.get_all_status()
        samples = {p: self.monitor.collector.samples(p, now - self.monitor.window) for p in status}
        return {"status": status, "samples": samples}

    def _draw(self, data):
        d = self.figure.data
        for i, p in enumerate(PROVIDERS):
            ok = [s for s in data["samples"].get(p, []) if s[1] == "ok" and s[2] is not None][-PLOT_LAST:]
            times, latencies = [datetime.fromtimestamp(s[0]) for s in ok], [s[2] for s in ok]
            d[i].x, d[i].y = times, latencies          # (inside batch_update a read gives the old value)
            d[i + len(PROVIDERS)].x, d[i + len(PROVIDERS)].y = times, running_p95(latencies)
        names = list(data["status"])
        d[-2].x, d[-2].y = names, [data["status"][p]["error_rate"] for p in names]
        d[-1].x, d[-1].y = names, [data["status"][p]["retries"] for p in names]

    def _headline(self, data):
        if not data["status"]:
            return "no provider requests yet"
        return " · ".join(f"{esc(p)}: {esc(s['state'])}" for p, s in data["status"].items()) + \
            f" (last {self.monitor.window:g} s)"

    def _static_body(self, data):
        def ms(v):
            return "—" if v is None else volatile(f"{v:.0f} ms")
        rows = [[esc(p), esc(s["state"]), str(s["requests"]), str(s["errors"]), f"{s['error_rate']:.1f}%",
                 str(s["retries"]), ms(s["avg_latency"]), ms(s["p95_latency"])] for p, s in data["status"].items()]
        return table(["provider", "state", "requests", "errors", "error rate", "retries", "avg latency",
                      "p95 latency"], rows)
