"""A plotly figure for a notebook: interactive in JupyterLab, and with a PNG beside it in the stored
output so GitHub and nbviewer (which run no JavaScript) show it too.

    from glwork.widgets import figure
    figure(fig)          # as a cell's last line

The PNG is drawn by kaleido in a headless Chromium (Debian's chromium), ~3 s a figure, so only when
outputs are being written for others to read: `glwork record` sets GLWORK_STATIC_FIGURES=1, or pass
static=True. nbval does not compare images, so replayed runs skip it.
"""
import base64
import os

from ..security import get_logger

log = get_logger(__name__)
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class Figure:
    def __init__(self, fig, static=None, width=800, height=None):
        self.fig, self.static, self.width, self.height = fig, static, width, height

    def _wants_png(self):
        if self.static is not None:
            return bool(self.static)
        return os.environ.get("GLWORK_STATIC_FIGURES", "").strip() in ("1", "true", "yes")

    def png(self):
        """The figure as PNG bytes, or None where no browser can draw it (said once in the log)."""
        try:
            height = self.height or self.fig.layout.height or 450
            return self.fig.to_image(format="png", width=self.width, height=height)
        except Exception as exc:   # no chromium / kaleido here: the interactive figure still shows
            log.info("no static image for the figure: %s", exc)
            return None

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        import plotly.io as pio
        data = dict(pio.renderers["plotly_mimetype"].to_mimebundle(self.fig.to_dict()))
        title = self.fig.layout.title.text if self.fig.layout.title else None
        data["text/plain"] = f"<figure: {title}>" if title else "<figure>"
        if self._wants_png():
            png = self.png()
            if png:
                data["image/png"] = base64.b64encode(png).decode("ascii")
        return data

    def __repr__(self):
        return "Figure()"


def figure(fig, static=None, width=800, height=None):
    """Show `fig` (a plotly Figure) interactively, plus a PNG in written outputs (see module doc)."""
    return Figure(fig, static=static, width=width, height=height)
