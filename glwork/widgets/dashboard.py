"""What the three dashboards share: a plotly FigureWidget under a one-line summary, redrawn a
moment after the events it listens to (debounced, so a burst of calls redraws once)."""
import threading
from copy import deepcopy

from .. import events
from .view import Debouncer, View, esc, ipywidgets

REFRESH_S = 0.5


def figure_widget(rows, cols, titles, height, specs=None):
    """A plotly FigureWidget with subplots (plotly and anywidget are imported here, on first use)."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
        fig = go.FigureWidget(make_subplots(rows=rows, cols=cols, subplot_titles=titles, specs=specs,
                                            vertical_spacing=0.18, horizontal_spacing=0.12))
    except ImportError as exc:
        from ..errors import ConfigurationError
        raise ConfigurationError(f"The dashboards need plotly's FigureWidget ({exc}). Install the kit with "
                                 f"`make setup` (or `pip install anywidget plotly`).") from None
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=60, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.06, xanchor="right", x=1.0))
    return fig


def sync_full_state(fig):
    """Put the whole figure in the widget's synced state, not only the edits.

    FigureWidget sends each edit as a one-off message that its browser model applies to the
    figure it keeps; a view draws from that figure when it appears. An edit that reaches the browser
    before plotly's widget code has loaded there is lost (seen in JupyterLab: a dashboard created in
    one cell and shown in a later one drew empty axes). Setting the full state after each redraw
    means a view always starts from the current figure."""
    fig._widget_data = deepcopy(fig._data)
    fig._widget_layout = deepcopy(fig._layout_obj._props)


class Dashboard(View):
    """Subclasses build `self.figure` in `_figure()` and fill it in `_draw()`; `events` lists the
    event kinds that make it redraw (`_wants(event)` can filter them further)."""

    kinds: tuple[str, ...] = ()
    title = "Dashboard"

    def __init__(self, refresh_delay=REFRESH_S):
        w = ipywidgets()
        self.updates = 0                     # redraws so far (tests and the e2e test read it)
        self.header = w.HTML()
        self.header.add_class("glw-dash-header")
        self._lock = threading.Lock()       # one redraw at a time (timer threads and the caller's)
        self.figure = self._figure()
        self.widget = w.VBox([self.header, self.figure])
        self.widget.add_class("glw-dashboard")
        self._soon = Debouncer(self.refresh, refresh_delay)
        self._unsubscribe = events.subscribe(self._on_event) if self.kinds else None
        self.refresh()

    def _on_event(self, event):
        if event.get("kind") in self.kinds and self._wants(event):
            self._soon()

    def _wants(self, event):
        return True

    def refresh(self):
        """Redraw from the current data (the events do this by themselves)."""
        with self._lock:
            data = self._data()
            with self.figure.batch_update():
                self._draw(data)
            sync_full_state(self.figure)
            self.updates += 1
            self.header.value = f'<b>{esc(self.title)}</b> · {self._headline(data)} · ' \
                                f'<span class="glw-updates">updates: {self.updates}</span>'
            return data

    def close(self):
        """Stop listening (the figure keeps what it shows)."""
        self._soon.cancel()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None

    def static_html(self):
        data = self._data()
        return (f"<div><b>{esc(self.title)}</b> · {self._headline(data)}</div>{self._static_body(data)}"
                '<div class="glw-note">Static view: the live chart needs JupyterLab with a running kernel.</div>')

    # subclasses
    def _figure(self):
        raise NotImplementedError

    def _data(self):
        raise NotImplementedError

    def _draw(self, data):
        raise NotImplementedError

    def _headline(self, data):
        return ""

    def _static_body(self, data):
        return ""
