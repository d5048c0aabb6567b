"""CostDashboard: spend from the cost ledger, redrawn after each call lands in it.

    CostDashboard()                                   # the default ledger (CostTracker())
    CostDashboard(tracker, budget=5.0, alerts=alert_manager)

Four charts: cost per day; by provider; by model (the model each call asked for, whose price it
is charged at); cumulative spend against the budget and the alerts' thresholds.
"""
from ..errors import ConfigurationError
from .dashboard import REFRESH_S, Dashboard, figure_widget
from .view import esc, table, volatile

BUDGET, ALERT = "#d62728", "#ff7f0e"
MIN_DELAY_S = 0.05


def usd(v):
    """A threshold or budget as written: $100.00, $0.0005."""
    return f"${v:,.2f}" if v >= 1 else f"${v:.4g}"


class CostDashboard(Dashboard):
    """Spend per day, provider and model from the cost ledger; cumulative against a budget, with alerts."""

    title = "Cost"
    kinds = ("ledger_row", "cost_alert")

    def __init__(self, tracker=None, budget=None, alerts=None, refresh_delay=REFRESH_S):
        from ..monitoring.ledger import CostTracker
        if tracker is None:
            tracker = CostTracker()
        if not hasattr(tracker, "to_dataframe"):
            raise ConfigurationError(f"CostDashboard needs a CostTracker, got {type(tracker).__name__}.")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
            raise ConfigurationError(f"budget must be a positive number of USD, got {budget!r}.")
        if alerts is not None and not hasattr(alerts, "list_alerts"):
            raise ConfigurationError(f"alerts must be a CostAlertManager, got {type(alerts).__name__}.")
        self.tracker, self.budget, self.alerts = tracker, budget, alerts
        self.fired = []
        # Never redraw in the ledger writer's own thread: reading the ledger waits for that writer.
        super().__init__(max(refresh_delay, MIN_DELAY_S))

    def _wants(self, event):
        if event["kind"] == "cost_alert":
            self.fired.append({k: event.get(k) for k in ("name", "threshold", "period", "total")})
            return True
        return event.get("path") == self.tracker.path

    def _figure(self):
        import plotly.graph_objects as go
        fig = figure_widget(2, 2, ("Cost per day", "By provider", "By model asked for", "Cumulative vs budget"), 620)
        fig.add_trace(go.Bar(name="per day", showlegend=False), 1, 1)
        fig.add_trace(go.Bar(name="by provider", showlegend=False), 1, 2)
        fig.add_trace(go.Bar(name="by model", showlegend=False), 2, 1)
        fig.add_trace(go.Scatter(name="cumulative", mode="lines+markers", line_shape="hv"), 2, 2)
        fig.add_trace(go.Scatter(name="budget", mode="lines", line=dict(color=BUDGET, dash="dash")), 2, 2)
        fig.add_trace(go.Scatter(name="alerts", mode="lines", line=dict(color=ALERT, dash="dot")), 2, 2)
        for r, c in ((1, 1), (1, 2), (2, 1), (2, 2)):
            fig.update_yaxes(title_text="USD", tickprefix="$", tickformat=".6~f", rangemode="tozero", row=r, col=c)
        fig.update_xaxes(type="category", row=1, col=1)   # one bar per calendar day, not a time axis
        return fig

    def _data(self):
        df = self.tracker.to_dataframe()
        if not getattr(self.tracker, "include_free", True):   # money spent only, like the tracker's totals
            df = df[df["billed"]]
        cost = df["cost"].fillna(0.0)
        per_day = cost.groupby(df["time"].dt.strftime("%Y-%m-%d")).sum() if len(df) else cost
        lines = [(a.name, a.threshold, a.period) for a in (self.alerts.list_alerts() if self.alerts else [])]
        return {"calls": len(df), "total": float(cost.sum()), "today": float(self.tracker.get_daily_cost()),
                "per_day": {k: float(v) for k, v in per_day.items()},
                "by_provider": {k: float(v) for k, v in self.tracker.get_cost_breakdown("provider").items()},
                "by_model": {k: float(v) for k, v in self.tracker.get_cost_breakdown("requested_model").items()},
                "times": list(df["time"]), "cumulative": list(cost.cumsum()), "alert_lines": lines,
                "unpriced": int(df["cost"].isna().sum())}

    def _draw(self, data):
        d = self.figure.data
        d[0].x, d[0].y = list(data["per_day"]), list(data["per_day"].values())
        d[1].x, d[1].y = list(data["by_provider"]), list(data["by_provider"].values())
        d[2].x, d[2].y = list(data["by_model"]), list(data["by_model"].values())
        d[3].x, d[3].y = data["times"], data["cumulative"]
        span = [data["times"][0], data["times"][-1]] if data["times"] else []
        d[4].x, d[4].y = (span, [self.budget] * len(span)) if self.budget else ([], [])
        xs, ys, names = [], [], []
        for name, threshold, period in data["alert_lines"]:
            xs += span + [None]
            ys += [threshold] * len(span) + [None]
            names += [f"{name} ({period})"] * (len(span) + 1)
        d[5].x, d[5].y, d[5].text = xs, ys, names

    def _headline(self, data):
        used = f" · budget {usd(self.budget)} ({100 * data['total'] / self.budget:.1f}% used)" if self.budget else ""
        unpriced = f" · {data['unpriced']} calls of unknown price" if data["unpriced"] else ""
        fired = f" · alerts fired: {len(self.fired)}" if self.fired else ""
        return f"{data['calls']} calls · total ${data['total']:.6f}{used}{unpriced}{fired}"

    def _static_body(self, data):
        parts = []
        for title, key in (("by provider", "by_provider"), ("by model asked for", "by_model")):
            rows = [[esc(k), f"${v:.6f}"] for k, v in data[key].items()]
            parts.append(f"<div>{title}</div>" + table(["", "USD"], rows))
        rows = [[volatile(k), f"${v:.6f}"] for k, v in data["per_day"].items()]
        parts.append("<div>per day</div>" + table(["day", "USD"], rows))
        if data["alert_lines"]:
            rows = [[esc(n), usd(t), esc(p)] for n, t, p in data["alert_lines"]]
            parts.append("<div>alerts</div>" + table(["alert", "threshold", "period"], rows))
        return "".join(parts)
