"""Offline-first plumbing: which endpoint a session talks to, and the notebook's cassette."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import config
from ..config import record_backend
from ..errors import ConfigurationError
from ..providers.base import Adapter, add_error_mapper
from . import latency
from .cassettes import CassetteMissError, check_clean, make_vcr, miss_error, read_provenance
from .latency import LATENCY_HEADER, played_latency  # noqa: F401  (re-exported)
from .replay import LOCAL_TIMEOUT, ReplayAdapter

REPLAY_HOST = "http://replay.glwork.invalid"  # never resolves: a replay miss can't reach a network
_open: dict[str, Any] = {"name": None, "cm": None, "cassette": None, "path": None, "mode": None}


@dataclass
class NotebookInfo:
    name: str
    mode: str
    cassette: str
    provenance: dict
    banner: str

    def __repr__(self):
        return f"NotebookInfo(name={self.name!r}, mode={self.mode!r})"


def cassette_dir() -> Path:
    """`GLWORK_CASSETTE_DIR`, else the `cassettes/` folder of the kit (searched upwards from here)."""
    if os.environ.get("GLWORK_CASSETTE_DIR"):
        return Path(os.environ["GLWORK_CASSETTE_DIR"])
    for base in [Path.cwd(), *Path.cwd().parents]:
        if (base / "cassettes").is_dir() and (base / "notebooks").is_dir():
            return base / "cassettes"
    return Path.cwd() / "cassettes"


def _notebook_mode(path):
    explicit = config.explicit_mode()
    if explicit:
        return explicit
    if any(config.has_key(p) for p in config.PROVIDER_KEYS):
        return "live"
    return "replay" if path.exists() else "local"


def notebook(name: str, mode: str | None = None, quiet: bool = False, tracebacks: str = "short") -> NotebookInfo:
    """Set up a workshop notebook: choose the mode, open its cassette, print where answers come from.

    Call once at the top of each notebook, e.g. `glwork.notebook("01_chatsession")`. In IPython, a
    glwork error that escapes a cell then shows its message, the fix and the cell line that raised
    it; `%tb` prints the full traceback, and tracebacks="full" (or GLWORK_TRACEBACKS=full) keeps
    IPython's long form.
    """
    if tracebacks not in ("short", "full"):
        raise ConfigurationError('tracebacks must be "short" or "full".')
    if not name or not isinstance(name, str):
        raise ConfigurationError("notebook() needs the notebook's name, e.g. glwork.notebook('01_chatsession').")
    close_cassette()
    if mode is not None:
        config.configure(mode=mode)
    path = cassette_dir() / f"{name}.yaml"
    mode = _notebook_mode(path)
    if mode == "replay" and not path.exists():
        raise CassetteMissError(
            f"Replay mode needs the cassette {path}, which does not exist. Record it with "
            f"`glwork record {name} --backend local`, or run with GLWORK_MODE=local (local model) or a key (live).")
    if mode in ("replay", "record"):
        _open_cassette(name, path, record=(mode == "record"))
    _open.update(name=name, mode=mode)
    from . import tracebacks as _tb
    _tb.install(full=True if tracebacks == "full" else None)   # None: GLWORK_TRACEBACKS decides
    from .banner import banner_text
    text = banner_text(name, mode, path)
    if not quiet:
        print(text)
    return NotebookInfo(name, mode, str(path) if mode in ("replay", "record") else "", read_provenance(path), text)


def _open_cassette(name, path, record):
    local_hosts = [] if (record and record_backend() == "local") else ["127.0.0.1", "localhost"]
    if record:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()  # a recording starts from scratch: stale interactions never linger
    cm = make_vcr(record, ignore_hosts=local_hosts, backend=_backend_label() if record else None).use_cassette(
        str(path), allow_playback_repeats=False)
    cassette = cm.__enter__()
    if record:
        _save_each_interaction(cassette)
    else:
        latency.remember_played(cassette)
    _open.update(name=name, cm=cm, cassette=cassette, path=path)
    config.set_cassette_active(True)


def _save_each_interaction(cassette):
    """A kernel is often killed rather than closed: write the cassette after every interaction."""
    append = cassette.append

    def append_and_save(request, response):
        append(request, response)
        cassette._save(force=True)
    cassette.append = append_and_save


def record_latency(latency_ms: float) -> None:
    """Note the latency of the call just recorded on its interaction (record mode; else nothing)."""
    if _open.get("mode") == "record":
        latency.write(_open.get("cassette"), latency_ms)


def _backend_label():
    if record_backend() == "local":
        from ..local import engine_info
        return f"glwork local backend ({engine_info().get('runtime', 'local')})"
    return "live provider APIs"


def close_cassette() -> None:
    """Write (in record mode) and close the open cassette, if any."""
    cm = _open.get("cm")
    if cm is not None:
        _open.update(cm=None, cassette=None)
        cm.__exit__(None, None, None)
        if _open.get("mode") == "record" and _open["path"].exists():
            check_clean(_open["path"])
    config.set_cassette_active(False)


def cassette_miss(exc: BaseException, provider: str | None = None) -> CassetteMissError | None:
    """vcrpy's "not in the cassette" as a CassetteMissError naming the notebook, else None: registered
    with the provider adapters, since vcrpy raises it inside the SDK's HTTP client."""
    if "vcr" not in sys.modules:    # no cassette was ever opened
        return None
    from vcr.errors import CannotOverwriteExistingCassetteException
    for cause in (exc, exc.__cause__, exc.__context__):
        if isinstance(cause, CannotOverwriteExistingCassetteException):
            return miss_error(cause, _open.get("name"), provider)
    return None


add_error_mapper(cassette_miss)


def connection(provider: str, mode: str | None = None, base_url: str | None = None, api_key: str | None = None,
               azure_endpoint: str | None = None) -> dict[str, str | None]:
    """Endpoint overrides for a session of `provider` in `mode` (default: the current mode).

    Explicit `base_url`/`azure_endpoint` always win. Returns a dict of adapter options.
    """
    opts = {"base_url": base_url, "api_key": api_key, "azure_endpoint": azure_endpoint}
    if base_url or azure_endpoint:
        return opts
    mode = mode or config.current_mode(provider)
    if mode == "record" and record_backend() == "local":
        mode = "local"
    if mode == "replay":
        if not config.cassette_active():
            raise ConfigurationError(
                "Replay mode needs an open cassette: call glwork.notebook('NAME') first, "
                "or use GLWORK_MODE=local to ask the local model.")
        url, key = REPLAY_HOST, "replay-no-key"
    elif mode == "local":
        from .. import local
        url, key = local.url(), "local-no-key"
    else:
        return opts
    from ..providers import endpoint
    return {**opts, **endpoint(provider, url, key)}


def client_kwargs(provider: str) -> dict[str, str]:
    """Arguments for the provider's own SDK client (`openai.OpenAI(**client_kwargs("openai"))`) that point
    it where a ChatSession would go now: nothing in live mode (the SDK reads its environment variables),
    the notebook's recording in replay mode, the local backend in local mode. For showing raw SDK calls;
    they get none of ChatSession's fallbacks (a replay miss is the SDK's connection error)."""
    from ..providers import check_provider
    return {k: v for k, v in connection(check_provider(provider)).items() if v}


def adapter(provider: str, mode: str, timeout: float, api_version: str | None = None,
            default_headers: dict[str, str] | None = None, base_url: str | None = None, api_key: str | None = None,
            azure_endpoint: str | None = None) -> Adapter | ReplayAdapter:
    """The provider adapter a session uses in `mode`. In replay mode it replays the cassette and
    hands what the cassette does not hold to the local backend (see glwork.offline.replay)."""
    from ..providers import make_adapter
    endpoint = connection(provider, mode, base_url=base_url, api_key=api_key, azure_endpoint=azure_endpoint)
    built = make_adapter(provider, timeout=timeout, api_version=api_version, default_headers=default_headers,
                         **endpoint)
    if mode != "replay" or base_url or azure_endpoint:
        return built

    def local():
        return make_adapter(provider, timeout=max(timeout, LOCAL_TIMEOUT), api_version=api_version,
                            default_headers=default_headers, **connection(provider, "local"))
    return ReplayAdapter(built, local, provider)
