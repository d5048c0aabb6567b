"""What every glwork widget shares: a live ipywidgets view plus a static HTML snapshot.

A widget is displayed with both: JupyterLab (a live kernel with the widget manager) shows the live
view; nbval, papermill output and GitHub's preview have no widget manager and show the HTML
snapshot instead. Numbers that differ from run to run (latencies, dates) sit in
`<span class="glw-volatile">` so a notebook test can blank exactly those.
"""
import html
import threading

from ..errors import LLMError
from ..security import redact

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ERROR_FIELDS = ("error_code", "provider", "status_code", "retryable", "retry_after")
STYLE = ("<style>.glw table{border-collapse:collapse;font-size:12px}.glw td,.glw th{border:1px solid #ddd;"
         "padding:2px 6px;text-align:left;vertical-align:top}.glw mark{background:#fff3a3}"
         ".glw-error{border-left:4px solid #d62728;background:#fdecea;padding:4px 8px;margin:4px 0}"
         ".glw-foot{color:#666;font-size:11px}.glw-note{color:#666;font-style:italic}</style>")


def ipywidgets():
    """ipywidgets, imported on first use (it is not needed to `import glwork`)."""
    import ipywidgets as w
    return w


def esc(value):
    return html.escape("" if value is None else str(value))


def volatile(text):
    """A value that changes between runs (a latency, a date): marked for notebook sanitising."""
    return f'<span class="glw-volatile">{esc(text)}</span>'


def table(header, rows):
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def error_fields(exc):
    """What the user sees of an error: the LLMError fields, redacted; never a traceback or a key."""
    if isinstance(exc, LLMError):
        d = exc.to_dict()
    else:   # an unexpected bug still shows as one line, not a traceback
        d = {"type": type(exc).__name__, "message": str(exc), "error_code": "unexpected_error"}
    return {k: (redact(v) if isinstance(v, str) else v) for k, v in d.items()}


def error_html(exc, hint=""):
    """An inline error box from an exception (or from its already extracted fields)."""
    d = exc if isinstance(exc, dict) else error_fields(exc)
    extra = " · ".join(f"{k}: {esc(d[k])}" for k in ERROR_FIELDS if d.get(k) not in (None, ""))
    tip = f"<div>{esc(hint)}</div>" if hint else ""
    return (f'<div class="glw-error"><b>{esc(d.get("type"))}</b>: {esc(d.get("message"))}'
            f'<div class="glw-foot">{extra}</div>{tip}</div>')


def markdown_html(text):
    """Markdown to HTML for the static snapshot, with raw HTML escaped (model output is untrusted)."""
    try:
        import mistune
        return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])(text)
    except Exception:   # mistune comes with JupyterLab (via nbconvert); plain text if it is missing
        return f"<pre>{esc(text)}</pre>"


class Debouncer:
    """Run `fn` once, `delay` seconds after the last call (0: at once, in the caller's thread)."""

    def __init__(self, fn, delay):
        self.fn, self.delay = fn, float(delay)
        self._timer = None
        self._lock = threading.Lock()

    def __call__(self):
        if self.delay <= 0:
            self.fn()
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self.fn)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self):
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


class View:
    """Base of the glwork widgets: `.widget` is the live ipywidgets view, `static_html()` the snapshot."""

    widget = None

    def static_html(self):
        raise NotImplementedError

    def summary(self):
        return type(self).__name__

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        data = {"text/plain": self.summary(),
                "text/html": f'<div class="glw tex2jax_ignore mathjax_ignore">{STYLE}{self.static_html()}</div>'}
        live = self.widget._repr_mimebundle_() if self.widget is not None else None
        if live and WIDGET_MIME in live:
            data[WIDGET_MIME] = live[WIDGET_MIME]
        return data

    def __repr__(self):
        return self.summary()
