"""The instructor's view of a class: spend, cache hit rate, rate-limit headroom, busiest questions.

    from glwork.widgets import class_dashboard
    class_dashboard(cache=cache, limiters=[limiter])      # a summary and four charts

The figures come from `class_overview()` (glwork.llm): with a shared backend (GLWORK_BACKEND_URL)
the whole class's, otherwise this machine's.
"""
import time

from .figures import figure


def class_figure(view):
    """Four charts from class_overview()'s figures (a plotly Figure)."""
    from plotly.subplots import make_subplots
    people = view["attendees"]
    fig = make_subplots(rows=2, cols=2, horizontal_spacing=0.22, vertical_spacing=0.22, subplot_titles=(
        f"Spend per attendee (USD, total ${view['spend']['all']:.4f})",
        f"Hit rate per attendee (%, class {view['hit_rate']:.0f}%)",
        "Rate-limit headroom (% of the limit still free)", "Busiest questions (times asked)"))
    fig.add_bar(x=list(people["attendee"]), y=[round(c, 6) for c in people["cost"]], row=1, col=1,
                marker_color="#4c78a8", name="spend")
    fig.add_bar(x=list(people["attendee"]), y=list(people["hit_rate"]), row=1, col=2,
                marker_color="#54a24b", name="hit rate")
    limits = view["limits"]
    fig.add_bar(x=[f"{r['limiter']}<br>{r['kind']}" for r in limits], y=[r["headroom_pct"] for r in limits],
                text=[f"{r['used']:,} of {r['limit']:,} used" for r in limits], row=2, col=1,
                marker_color="#f58518", name="headroom")
    busiest = view["busiest"][::-1]
    fig.add_bar(y=[q if len(q) <= 40 else q[:37] + "..." for q, _ in busiest], x=[n for _, n in busiest],
                orientation="h", row=2, col=2, marker_color="#b279a2", name="asked")
    fig.update_yaxes(range=[0, 100], row=1, col=2)
    fig.update_yaxes(range=[0, 100], row=2, col=1)
    fig.update_layout(height=620, width=900, showlegend=False, margin=dict(l=40, r=20, t=60, b=40))
    return fig


def class_summary(view):
    """The dashboard's figures as a few lines of text."""
    budget = view["budget"]
    lines = [f"calls in the ledger: {view['calls']}  ·  spend today ${view['spend']['today']:.4f}, "
             f"this month ${view['spend']['month']:.4f}  ·  answered from the cache: {view['hit_rate']:.1f}%"]
    if budget is None:
        lines.append("class budget: unknown (the shared backend is unreachable; calls are refused meanwhile)")
    else:
        for period in ("day", "month"):
            b = budget[period]
            limit = "no limit" if b["limit"] is None else f"limit ${b['limit']:.2f}, ${b['remaining']:.4f} left"
            lines.append(f"class budget per {period}: {limit}")
    for r in view["limits"]:
        lines.append(f"{r['limiter']}: {r['used']:,} of {r['limit']:,} {r['kind']} used in the window, "
                     f"{r['headroom']:,} free")
    return "\n".join(lines)


def class_dashboard(cache=None, limiters=(), refresh_seconds=0, rounds=1):
    """Print the summary and show the charts; with refresh_seconds > 0, redraw `rounds` times.
    Returns the last class_overview() dict."""
    from IPython.display import clear_output, display

    from ..backends.overview import class_overview
    view = None
    for n in range(max(1, rounds)):
        view = class_overview(cache=cache, limiters=list(limiters))
        if refresh_seconds > 0:
            clear_output(wait=True)
        print(class_summary(view))
        display(figure(class_figure(view)))
        if refresh_seconds > 0 and n < rounds - 1:
            time.sleep(refresh_seconds)
    return view
