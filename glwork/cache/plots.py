"""Plots of a cache's precision against its recall (curves from glwork.cache.evaluation)."""
from ..errors import ConfigurationError

MEASURES = {"fair": ("precision", "recall", "hits on an equivalent question are right"),
            "all": ("precision_all", "recall", "unjudged hits counted as wrong"),
            "strict": ("precision_strict", "recall_strict", "only the pair's own question is right")}


def operating_points(curves, threshold, reference, cache, measure="fair"):
    """(the cache's row at `threshold`, the reference's row at the same recall or just above)."""
    p_key, r_key, _ = MEASURES[measure]
    rows = curves[cache]
    mine = min(rows, key=lambda r: abs(r["threshold"] - threshold))
    same = [r for r in curves[reference] if r[r_key] >= mine[r_key]]
    theirs = max(same, key=lambda r: r["threshold"]) if same else None
    return mine, theirs


def plot_precision_recall(data, measure="fair", threshold=0.95, target=(0.90, 0.50), height=440):
    """A plotly figure: precision against recall for each cache in `data` (load_precision_curves()),
    the kit's default threshold marked, and the reference (plain cosine) at the same recall."""
    import plotly.graph_objects as go
    if measure not in MEASURES:
        raise ConfigurationError(f"measure must be one of {sorted(MEASURES)}, got {measure!r}.")
    p_key, r_key, p_label = MEASURES[measure]
    curves, meta = data["curves"], data["meta"]
    fig = go.Figure()
    if target:
        fig.add_shape(type="rect", x0=target[1], x1=1, y0=target[0], y1=1, line_width=0,
                      fillcolor="rgba(46, 160, 67, 0.10)", layer="below")
        fig.add_annotation(x=1, y=1, xanchor="right", yanchor="top", showarrow=False,
                           text=f"target: precision >= {target[0]:.2f}, recall >= {target[1]:.2f}")
    for name, rows in curves.items():
        rows = [r for r in rows if r["hits"]]
        fig.add_trace(go.Scatter(
            x=[r[r_key] for r in rows], y=[r[p_key] for r in rows], mode="lines", name=name,
            customdata=[[r["threshold"], r["hits"], r["unjudged"]] for r in rows],
            hovertemplate="threshold %{customdata[0]}<br>recall %{x:.3f}, precision %{y:.3f}<br>"
                          "%{customdata[1]} hits, %{customdata[2]} unjudged<extra>" + name + "</extra>"))
    mine, theirs = operating_points(curves, threshold, meta["reference"], meta["cache"], measure)
    fig.add_trace(go.Scatter(x=[mine[r_key]], y=[mine[p_key]], mode="markers+text", name=f"default ({threshold})",
                             marker={"size": 13, "symbol": "star"}, text=[f"default {threshold}"],
                             textposition="top right"))
    if theirs:
        fig.add_trace(go.Scatter(x=[theirs[r_key]], y=[theirs[p_key]], mode="markers+text",
                                 name="plain cosine, same recall", marker={"size": 10, "symbol": "circle-open"},
                                 text=[f"cosine {theirs['threshold']}"], textposition="bottom left"))
    fig.update_layout(title={"text": f"{meta['title']}<br><sup>precision ({measure}: {p_label}) against recall</sup>"},
                      xaxis_title="recall (share of duplicate pairs answered right)", yaxis_title="precision",
                      height=height, xaxis_range=[0, 1], yaxis_range=[0.5, 1.0],
                      legend={"x": 0.01, "y": 0.01, "xanchor": "left", "yanchor": "bottom"})
    return fig
