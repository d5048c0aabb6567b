"""Scripted, deterministic fault injection for teaching resilience (retries, timeouts, fallbacks).

A script is a list of faults consumed one per API request (chat, messages, embeddings). Requests
carrying header `x-glwork-session: NAME` draw from NAME's script if one was set (so parallel
notebooks or tests never see each other's faults); all other requests draw from the global
script. An exhausted script passes requests through. Fault specs:

    "ok"                          pass this request through
    429 / {"status": 429, "retry_after": 2}   rate limit, with retry-after and retry-after-ms
    500, 502, 503, 529 (or any 4xx/5xx)       provider-shaped error (529 -> 503 on OpenAI paths)
    "timeout" / {"fault": "timeout", "seconds": 5}   hold the request, then close, no response
    "cut_stream" / {"fault": "cut_stream", "after": 3}   send `after` SSE events (or part of a
                                  JSON body) then drop the connection
    "malformed_json"              200 whose body is not valid JSON
"""
import os
import threading
import time
from collections import Counter, deque

from .wire import error_body

SESSION_HEADER = "x-glwork-session"
KINDS = ("ok", "timeout", "cut_stream", "malformed_json")
DEFAULT_TIMEOUT_SECONDS = float(os.environ.get("GLWORK_FAULT_TIMEOUT_SECONDS", "5"))
DEFAULT_RETRY_AFTER = 1
DEFAULT_CUT_AFTER = 3


def normalize(spec):
    """A fault spec -> {"kind", "label", ...}; ValueError for anything unknown."""
    if isinstance(spec, dict):
        spec = dict(spec)
        if "status" in spec:
            spec = {**spec, "kind": "status"}
        else:
            spec["kind"] = spec.pop("fault", spec.get("kind"))
    elif isinstance(spec, bool):
        raise ValueError(f"not a fault: {spec!r}")
    elif isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        spec = {"kind": "status", "status": int(spec)}
    elif isinstance(spec, str):
        spec = {"kind": spec}
    else:
        raise ValueError(f"not a fault: {spec!r}")
    kind = spec["kind"]
    if kind == "status":
        status = int(spec["status"])
        if not 400 <= status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, not {status}")
        spec["status"] = status
        if status == 429:
            spec["retry_after"] = spec.get("retry_after", DEFAULT_RETRY_AFTER)
        spec["label"] = str(status)
    elif kind in KINDS:
        if kind == "timeout":
            spec["seconds"] = float(spec.get("seconds", DEFAULT_TIMEOUT_SECONDS))
        if kind == "cut_stream":
            spec["after"] = max(1, int(spec.get("after", DEFAULT_CUT_AFTER)))
        spec["label"] = kind
    else:
        raise ValueError(f"unknown fault {kind!r}: use a 4xx/5xx status or one of "
                         f"{', '.join(KINDS)}")
    return spec


class FaultPlan:
    """Fault scripts (global and per session) plus counters of what was injected."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def set(self, seq, session=None):
        """Replace the script of `session` (None: the global one)."""
        if isinstance(seq, (str, int, dict)):
            seq = [seq]
        faults = deque(normalize(s) for s in seq)   # validate everything before changing state
        with self._lock:
            if session is None:
                self._global = faults
            else:
                self._sessions[str(session)] = faults

    def clear(self, session=None):
        """Drop one session's script, or (no session) every script and all counters."""
        with self._lock:
            if session is not None:
                self._sessions.pop(str(session), None)
                return
            self._global, self._sessions = deque(), {}
            self._by_kind, self._by_session = Counter(), Counter()
            self._log, self._n = deque(maxlen=200), 0

    def take(self, session, path):
        """The fault for this request, or None to serve it normally."""
        with self._lock:
            script = self._sessions.get(session) if session in self._sessions else self._global
            if not script:
                return None
            fault = script.popleft()
            self._n += 1
            self._by_kind[fault["label"]] += 1
            self._by_session[session or "(global)"] += 1
            self._log.append({"n": self._n, "time": round(time.time(), 3), "session": session,
                              "path": path, "fault": fault["label"]})
            return None if fault["kind"] == "ok" else fault

    def snapshot(self):
        with self._lock:
            injected = {k: v for k, v in self._by_kind.items() if k != "ok"}
            return {
                "pending": {"global": _labels(self._global),
                            "sessions": {s: _labels(q) for s, q in self._sessions.items()}},
                "injected": {"total": sum(injected.values()), "by_kind": dict(self._by_kind),
                             "by_session": dict(self._by_session)},
                "log": list(self._log),
            }


def _labels(script):
    return [f["label"] for f in script]


PLAN = FaultPlan()


def status_reply(provider, fault, rid):
    """(status, headers, body) of an injected HTTP error, shaped like `provider`'s own."""
    status = fault["status"]
    headers = {}
    if status == 529 and provider != "anthropic":
        status = 503    # 529 is Anthropic's; OpenAI and Azure say 503 when overloaded
    if status == 429:
        secs = fault["retry_after"]
        headers = {"retry-after": f"{secs:g}", "retry-after-ms": str(int(secs * 1000))}
        if provider == "anthropic":
            headers["anthropic-ratelimit-requests-remaining"] = "0"
        else:
            headers.update({"x-ratelimit-remaining-requests": "0",
                            "x-ratelimit-reset-requests": f"{secs:g}s"})
    message, etype, code = _MESSAGES.get((provider, status)) or _MESSAGES.get(
        ("openai" if provider == "azure" else provider, status)) or (
        f"Injected fault: HTTP {status}.", None, None)
    if status == 429:
        message = message.format(secs=f"{fault['retry_after']:g}")
    if provider == "azure" and status == 429:
        body = {"error": {"code": "429", "message": message}}
    else:
        body = error_body(provider, status, message, etype, None, code, rid)
    return status, headers, body


# Documented messages and types (none of these were in a public cassette; see wire README).
_MESSAGES = {
    ("openai", 429): ("Rate limit reached on requests per min (RPM) (injected by glwork). "
                      "Please try again in {secs}s.", "requests", "rate_limit_exceeded"),
    ("openai", 500): ("The server had an error while processing your request. Sorry about that!",
                      "server_error", None),
    ("openai", 502): ("Bad gateway.", "cf_bad_gateway", 502),
    ("openai", 503): ("The engine is currently overloaded, please try again later.",
                      "server_error", None),
    ("azure", 429): ("Requests to the ChatCompletions_Create Operation under Azure OpenAI API have "
                     "exceeded call rate limit of your current pricing tier (injected by glwork). "
                     "Please retry after {secs} seconds.", None, "429"),
    ("anthropic", 429): ("Number of requests has exceeded your per-minute rate limit (injected by "
                         "glwork).", "rate_limit_error", None),
    ("anthropic", 500): ("Internal server error", "api_error", None),
    ("anthropic", 502): ("Bad gateway", "api_error", None),
    ("anthropic", 503): ("Service unavailable", "api_error", None),
    ("anthropic", 529): ("Overloaded", "overloaded_error", None),
}
