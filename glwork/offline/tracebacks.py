"""Readable errors in notebooks: a glwork error that escapes a cell shows its message, the fix and the
line of the learner's cell that raised it, not thirty frames of library code.

Installed by `glwork.notebook()` in IPython. Other exceptions keep IPython's own traceback. The full
traceback of the last error is one `%tb` away; `glwork.notebook(..., tracebacks="full")` or
GLWORK_TRACEBACKS=full turns the short form off.
"""
import os
import sys
import traceback

from ..errors import LLMError

# What to do, by error_code, when the message itself does not already say it.
HINTS = {
    "rate_limit": "Wait a little and run the cell again, or let the session retry: ChatSession(max_retries=3).",
    "timeout": "Run the cell again, or give the call longer: ChatSession(timeout=120).",
    "connection_error": "Check the network (or work offline: GLWORK_MODE=local) and run the cell again.",
    "server_error": "The provider failed; run the cell again, or add fallback_provider=... (Part 4).",
    "overloaded": "The provider is overloaded; run the cell again later, or add fallback_provider=... (Part 4).",
    "budget_exceeded": "Raise cost_limit=, lower max_tokens=, or start a new session.",
    "context_length_exceeded": "Shorten the prompt or the history (session.reset()), or use RAG top-k (Part 2).",
    "authentication": "Check the API key in your environment (never in the notebook) and restart the kernel.",
    "missing_api_key": "Set the key in your environment and restart the kernel, or stay offline (no key needed).",
    "invalid_json": "Ask for JSON in the system message too, or retry; the reply was not added to the history.",
}
_FULL = {"value": None}   # set by install(); None: follow GLWORK_TRACEBACKS


def install(full=None):
    """Register the short form for glwork errors with the running IPython shell (no-op elsewhere)."""
    _FULL["value"] = full
    shell = _shell()
    if shell is None:
        return False
    shell.set_custom_exc((LLMError,), _handler)
    return True


def short_form(exc, tb):
    """The lines a learner sees for a glwork error: what happened, what to do, where in their cell."""
    lines = [f"{type(exc).__name__}: {exc}"]
    hint = HINTS.get(getattr(exc, "error_code", None))
    if hint and hint not in str(exc):
        lines.append(f"What to do: {hint}")
    where = _cell_line(tb)
    if where:
        lines.append(f"Raised by: {where}")
    lines.append("(Full traceback: run %tb in a new cell.)")
    return lines


def _handler(shell, etype, value, tb, tb_offset=None):
    # %tb reads these; IPython sets them only on its own traceback path.
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    if _wants_full():
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    lines = short_form(value, tb)
    stb = [_red(lines[0])] + lines[1:]
    shell._showtraceback(etype, value, stb)
    return stb


def _wants_full():
    if _FULL["value"] is not None:
        return bool(_FULL["value"])
    return os.environ.get("GLWORK_TRACEBACKS", "").strip().lower() == "full"


def _cell_line(tb):
    """The last frame of the learner's own code (a cell), as "line N: source"."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if name.startswith("<ipython-input-") or "/ipykernel_" in name or name.startswith("<cell"):
            found = (lineno, frame)
    if found is None:
        return None
    lineno, frame = found
    import linecache
    text = linecache.getline(frame.f_code.co_filename, lineno).strip()
    return f"line {lineno}: {text}" if text else f"line {lineno}"


def _red(text):
    return f"\x1b[0;31m{text}\x1b[0m"


def _shell():
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None
