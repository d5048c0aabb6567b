"""glwork: the offline-first workbench for the workshop "Using LLM & AI Infrastructure".

`import glwork` stays light: torch, sentence-transformers, faiss and the SDKs load on first use.
"""
import typing as _typing

from . import config as _config
from .config import current_mode
from .security import get_logger as _get_logger

if _typing.TYPE_CHECKING:
    from .offline import NotebookInfo

__all__ = ["__version__", "notebook", "configure", "current_mode", "check_environment"]
__version__ = "0.1.0"
_get_logger("glwork")  # redact keys from every record logged to the package logger


def configure(mode: str | None = _config.UNSET, backend_url: str | None = _config.UNSET,
              local_model: str | None = _config.UNSET) -> None:
    """Set the process-wide mode (None returns to automatic choice) and/or the shared backend
    (`backend_url="redis://host:6379/0"`, "local" for the embedded ones, None: GLWORK_BACKEND_URL)
    and/or the embedded backend's chat model (`local_model="qwen2.5-coder-1.5b-instruct"`; None:
    GLWORK_LOCAL_MODEL or the per-use default, see glwork.local.models).
    `configure()` with no argument returns the mode to automatic."""
    if mode is not _config.UNSET:
        _config.check_mode(mode)   # before anything changes
    if local_model is not _config.UNSET:
        from .local.models import choose
        choose(local_model)  # an unknown name fails here, listing the known ones
        if mode is _config.UNSET and backend_url is _config.UNSET:
            return           # choosing a model leaves the mode alone
    _config.configure(mode=mode, backend_url=backend_url)


def notebook(name: str, mode: str | None = None, quiet: bool = False, tracebacks: str = "short") -> "NotebookInfo":
    """Call once at the top of a notebook: sets the mode, opens its cassette, prints the banner, and
    shows glwork errors in short form (message, fix, cell line; `%tb` for the full traceback)."""
    from .offline import notebook as _notebook
    return _notebook(name, mode=mode, quiet=quiet, tracebacks=tracebacks)


def check_environment() -> bool:
    """Print what the kit needs and finds (never a key's value); True if all required parts are there."""
    from .doctor import check_environment as _check
    return _check()
