"""The embedded local backend: a small open model behind the providers' own HTTP APIs.

    import glwork.local as local
    srv = local.start()                       # 127.0.0.1, random free port, daemon thread
    openai.OpenAI(base_url=srv.url + "/v1", api_key="local")
    anthropic.Anthropic(base_url=srv.url, api_key="local")
    openai.AzureOpenAI(azure_endpoint=srv.url, api_version="2024-10-21", api_key="local")

Chat runs a Qwen2.5-Coder Instruct GGUF (0.5B or 1.5B, see glwork.local.models; a request whose
`model` names one gets that one) through llama-cpp-python, or, if that cannot load, the extractive
fallback "glwork-extractive-v1"; embeddings run all-MiniLM-L6-v2. Nothing is downloaded at run
time (`glwork models install` does it at set-up). Heavy imports happen on first use, never at
`import glwork.local`.
"""
import atexit
import threading

from .faults import PLAN as _PLAN

__all__ = ["start", "stop", "url", "engine_info", "inject_faults", "clear_faults", "fault_stats"]

_server = None
_lock = threading.Lock()
_atexit_registered = False


def start():
    """Start the shared server if needed and return it (`.url` is "http://127.0.0.1:PORT")."""
    global _server, _atexit_registered
    with _lock:
        if _server is None or not _server.running:
            from .server import LocalServer
            _server = LocalServer().start()
            if not _atexit_registered:
                atexit.register(stop)
                _atexit_registered = True
        return _server


def url():
    """Base URL of the running shared server (starting it if needed)."""
    return start().url


def stop():
    """Stop the shared server (requests held by a timeout fault are released). Idempotent."""
    global _server
    with _lock:
        srv, _server = _server, None
    if srv is not None:
        srv.stop()


def engine_info(model=None):
    """Which chat engine serves requests naming `model` (None: any non-local name, such as gpt-4):
    {"engine", "model", "runtime", "why", ...}. Loads the engine if it is not loaded yet."""
    from .engine import get_engine
    eng = get_engine(model)
    return {**eng.info(), "why": getattr(eng, "why", "")}


def inject_faults(seq, session=None):
    """Script faults, consumed one per API request: replaces the global script, or the script of
    requests sending header `x-glwork-session: <session>`. See glwork.local.faults for specs."""
    _PLAN.set(seq, session)


def clear_faults(session=None):
    """Drop one session's script, or (no argument) every script and the fault counters."""
    _PLAN.clear(session)


def fault_stats():
    """What is scripted and what was injected so far (same as GET /_glwork/faults)."""
    return _PLAN.snapshot()
