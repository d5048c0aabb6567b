"""glwork: the offline-first workbench for the workshop "Using LLM & AI Infrastructure".

`import glwork` stays light: torch, sentence-transformers, faiss and the SDKs load on first use.
"""
from .config import configure, current_mode  # noqa: F401
from .security import get_logger as _get_logger

__version__ = "0.1.0"
_get_logger("glwork")  # redact keys from every record logged to the package logger


def notebook(name, mode=None, quiet=False, tracebacks="short"):
    """Call once at the top of a notebook: sets the mode, opens its cassette, prints the banner, and
    shows glwork errors in short form (message, fix, cell line; `%tb` for the full traceback)."""
    from .offline import notebook as _notebook
    return _notebook(name, mode=mode, quiet=quiet, tracebacks=tracebacks)


def check_environment():
    """Print what the kit needs and finds (never a key's value); True if all required parts are there."""
    from .doctor import check_environment as _check
    return _check()
