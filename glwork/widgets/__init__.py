"""Notebook widgets (ipywidgets + plotly, imported on first use):

    ChatWidget(session)              chat with a ChatSession, streamed markdown replies
    RAGTuner(engine_or_documents)    turn RAG knobs and watch the retrieved chunks change
    CacheDashboard(cache_or_session) semantic-cache hits, misses, similarity vs threshold
    CostDashboard(tracker)           spend per day, provider, model; cumulative vs budget and alerts
    HealthDashboard(monitor)         latency with p95, error rate, retries per provider
    figure(fig)                      a plotly figure, with a PNG in written outputs for GitHub
    class_dashboard(cache, limiters) the instructor's view: spend, hit rate, headroom, busiest questions

Each shows a live view in JupyterLab and a static HTML snapshot where no widget can render
(nbval, papermill output, GitHub's preview).
"""
import typing as _typing

from .._lazy import lazy as _lazy

if _typing.TYPE_CHECKING:   # what type checkers and editors see; at run time each loads on first use (below)
    from .cache_dashboard import CacheDashboard
    from .chat import ChatWidget
    from .classroom import class_dashboard
    from .cost_dashboard import CostDashboard
    from .figures import figure
    from .health_dashboard import HealthDashboard
    from .rag_tuner import RAGTuner

__all__ = ["ChatWidget", "RAGTuner", "CacheDashboard", "CostDashboard", "HealthDashboard", "figure", "class_dashboard"]

__getattr__, __dir__ = _lazy(__name__, {
    "ChatWidget": "glwork.widgets.chat",
    "RAGTuner": "glwork.widgets.rag_tuner",
    "CacheDashboard": "glwork.widgets.cache_dashboard",
    "CostDashboard": "glwork.widgets.cost_dashboard",
    "HealthDashboard": "glwork.widgets.health_dashboard",
    "figure": "glwork.widgets.figures",
    "class_dashboard": "glwork.widgets.classroom",
})
