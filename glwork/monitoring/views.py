"""Tables and figures for the resilience and monitoring notebooks, built from public objects only.

    retry_table(session.get_retry_events())        # one row per failed attempt (pandas)
    retry_timeline(session.get_retry_events())     # attempts and the waits between them (plotly)

Nothing here reads a clock: the timeline's x axis is the sum of the waits the session took, so the
same events always draw the same figure (request latency is left out on purpose).
"""

RETRY_COLUMNS = ("provider", "model", "attempt", "status_code", "error_code", "retryable", "retry_after",
                 "wait", "action")
_FAIL, _OK, _WAIT = "#d62728", "#2ca02c", "rgba(31, 119, 180, 0.35)"


def retry_table(events):
    """`session.get_retry_events()` as a DataFrame (no wall-clock time or latency columns)."""
    import pandas as pd
    rows = [{c: e.get(c) for c in RETRY_COLUMNS} for e in events]
    df = pd.DataFrame(rows, columns=list(RETRY_COLUMNS))
    df.index = pd.RangeIndex(1, len(df) + 1, name="failure")
    return df


def _label(e):
    return str(e.get("status_code") or e.get("error_code") or "error")


def retry_timeline(events, succeeded=True, answered_by=None, title="Retries and the waits between them"):
    """A plotly figure of one call's attempts: a red mark per failed attempt (its HTTP status or
    error code), a blue bar per wait before the next attempt, a green mark for the attempt that
    answered (`succeeded`; `answered_by` names its provider if a fallback took over).

    x: seconds after the first attempt, counting only the waits. y: the provider tried.
    """
    import plotly.graph_objects as go

    t, fails, waits = 0.0, [], []
    for e in events:
        fails.append((t, e["provider"], f"#{e['attempt']} {_label(e)}", e))
        wait = e.get("wait")
        if wait:
            waits.append((t, float(wait), e["provider"]))
            t = round(t + float(wait), 6)
    fig = go.Figure()
    if waits:
        fig.add_trace(go.Bar(
            name="wait", orientation="h", base=[w[0] for w in waits], x=[w[1] for w in waits],
            y=[w[2] for w in waits], marker_color=_WAIT, width=0.3,
            text=[f"wait {w[1]:g} s" for w in waits], textposition="inside", insidetextanchor="middle",
            hovertemplate="waited %{x:.3f} s<extra></extra>"))
    if fails:
        fig.add_trace(go.Scatter(
            name="failed attempt", mode="markers+text", x=[f[0] for f in fails], y=[f[1] for f in fails],
            marker=dict(symbol="x", size=14, color=_FAIL), text=[f[2] for f in fails],
            textposition="top center",
            customdata=[[f[3].get("error_code"), f[3].get("action")] for f in fails],
            hovertemplate="%{text}: %{customdata[0]} -> %{customdata[1]}<extra></extra>"))
    if succeeded:
        provider = answered_by or (events[-1]["provider"] if events else "answer")
        attempt = sum(1 for e in events if e["provider"] == provider) + 1
        fig.add_trace(go.Scatter(
            name="answered", mode="markers+text", x=[t], y=[provider],
            marker=dict(symbol="circle", size=14, color=_OK), text=[f"#{attempt} ok"],
            textposition="top center", hovertemplate="answered<extra></extra>"))
    providers = list(dict.fromkeys([e["provider"] for e in events] + ([answered_by] if answered_by else [])))
    fig.update_layout(
        title=title, height=220 + 60 * max(len(providers), 1), barmode="overlay",
        xaxis_title="seconds after the first attempt (waits only)", yaxis_title=None,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        margin=dict(l=80, r=20, t=80, b=40))
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=providers[::-1] or None)
    fig.update_xaxes(rangemode="tozero")
    return fig
