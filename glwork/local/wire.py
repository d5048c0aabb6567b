"""Shared wire pieces: replies, SSE frames, ids and each provider's error body shape."""
import json
import random
import string
import time
import uuid
from dataclasses import dataclass, field

_B62 = string.ascii_letters + string.digits

# Anthropic's documented error types by HTTP status.
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                         402: "billing_error", 403: "permission_error", 404: "not_found_error",
                         413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                         504: "timeout_error", 529: "overloaded_error"}


class WireError(Exception):
    """An error to send in the calling provider's documented shape."""

    def __init__(self, status, message, type=None, param=None, code=None, headers=None):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}


@dataclass
class Reply:
    status: int
    body: object                      # dict/list (sent as JSON) or bytes (sent as is)
    headers: dict = field(default_factory=dict)


@dataclass
class Stream:
    """An SSE response: `frames` yields encoded frames; `close()` stops generation early."""

    frames: object
    events: object = None             # the engine events behind the frames (closed too)
    headers: dict = field(default_factory=dict)

    def close(self):
        # An unstarted generator skips its `finally` on close(): close the events directly.
        for gen in (self.frames, self.events):
            if gen is not None:
                gen.close()


def rand_id(prefix, n=24):
    return prefix + "".join(random.choices(_B62, k=n))


def request_id(provider):
    if provider == "anthropic":
        return rand_id("req_011", 21)
    if provider == "azure":
        return str(uuid.uuid4())
    return "req_" + uuid.uuid4().hex


def now():
    return int(time.time())


def sse(data, event=None):
    """One server-sent event; compact JSON like the providers send."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def error_body(provider, status, message, type=None, param=None, code=None, rid=None):
    if provider == "anthropic":
        etype = type or ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": etype, "message": message}, "request_id": rid}
    if type is None:
        type = ("invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def wire_error_reply(provider, err, rid=None):
    body = error_body(provider, err.status, err.message, err.type, err.param, err.code, rid)
    return Reply(err.status, body, dict(err.headers))


def primed(events):
    """Run an engine event stream up to its first event, so request errors (e.g. a prompt longer
    than the context) surface before a 200 and SSE headers are sent."""
    first = next(events)

    def gen():
        try:
            yield first
            yield from events
        finally:
            events.close()
    return gen()


def final_result(events):
    """Drain an engine's (kind, value) events and return the "done" value (non-streamed replies)."""
    result = None
    try:
        for kind, value in events:
            if kind == "done":
                result = value
    finally:
        events.close()
    return result
