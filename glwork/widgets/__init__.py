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
from importlib import import_module

_LAZY = {
    "ChatWidget": "glwork.widgets.chat",
    "RAGTuner": "glwork.widgets.rag_tuner",
    "CacheDashboard": "glwork.widgets.cache_dashboard",
    "CostDashboard": "glwork.widgets.cost_dashboard",
    "HealthDashboard": "glwork.widgets.health_dashboard",
    "figure": "glwork.widgets.figures",
    "class_dashboard": "glwork.widgets.classroom",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'glwork.widgets' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
