"""Serve recorded (and documented) provider HTTP traffic to the real SDKs.

Cassettes live in tests/fixtures/wire/ (vcrpy format, see its README.md and
SOURCES.tsv for origin and licence). Stdlib + yaml only.

Choice on gzip: recorded gzip bodies are served as the raw gzip bytes with
their Content-Encoding: gzip header, exactly as on the wire; the SDKs'
httpx2 transport decompresses them.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

WIRE_DIR = Path(__file__).parent / "fixtures" / "wire"

# Framing headers are recomputed by the server (recorded content-length is
# often wrong because source projects re-indented bodies); the rest would
# break connection handling.
HOP_BY_HOP = {
    "transfer-encoding", "content-length", "connection", "keep-alive",
    "proxy-connection", "te", "trailer", "upgrade",
}

Headers = Mapping[str, str] | Iterable[Sequence[str]]


def _header_pairs(headers: Headers | None) -> list[tuple[str, str]]:
    """Normalise a dict, a vcrpy dict of lists, or (name, value) pairs."""
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs = []
    for name, value in items:
        # vcrpy values are lists, but some cassettes have plain scalars.
        for v in value if isinstance(value, list) else [value]:
            pairs.append((str(name), str(v)))
    return pairs


def _to_bytes(body) -> bytes:
    if body is None:
        return b""
    return body if isinstance(body, bytes) else str(body).encode("utf-8")


@dataclass
class Interaction:
    """One recorded request/response pair, as stored in the cassette."""

    method: str
    uri: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    reason: str
    headers: list[tuple[str, str]]  # recorded response headers, as-is
    body: bytes  # raw, possibly gzip (see content-encoding in headers)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def decoded_body(self) -> bytes:
        """Body with gzip undone, for assertions in tests."""
        if (self.header("content-encoding") or "").lower() == "gzip":
            return gzip.decompress(self.body)
        return self.body

    def json(self):
        return json.loads(self.decoded_body)

    def request_json(self):
        return json.loads(self.request_body) if self.request_body else None


def load_interactions(relpath: str) -> list[Interaction]:
    """Read a cassette, e.g. load_interactions("openai/chat_nonstream_basic.yaml")."""
    with open(WIRE_DIR / relpath, "rb") as f:
        data = yaml.safe_load(f)  # safe_load turns !!binary into bytes
    out = []
    for item in data["interactions"]:
        req, resp = item["request"], item["response"]
        body = resp.get("body") or {}
        out.append(Interaction(
            method=req["method"],
            uri=req["uri"],
            request_headers=_header_pairs(req.get("headers")),
            request_body=_to_bytes(req.get("body")),
            status=int(resp["status"]["code"]),
            reason=str(resp["status"].get("message") or ""),
            headers=_header_pairs(resp.get("headers")),
            body=_to_bytes(body.get("string") if isinstance(body, dict) else body),
        ))
    return out


@dataclass
class Canned:
    """A response to serve once.

    headers: dict or list of (name, value) pairs (repeats allowed, e.g. Set-Cookie).
    Framing headers are always recomputed; pass chunked=True for
    Transfer-Encoding: chunked instead of Content-Length.

    cut_after: send only that many body bytes, then close the socket. The
    Content-Length of the FULL body (or an unterminated chunked body) is
    sent, so the client can tell the body is truncated. Same result with
    Content-Length and chunked framing. Verified in tests/test_wire_server.py
    (openai 3.57, anthropic 2.14):
      - non-streaming, either SDK: raises <sdk>.APIConnectionError
        (__cause__ httpx2.RemoteProtocolError); retried if max_retries > 0.
      - streaming, openai: chunks before the cut are yielded, then iteration
        raises openai.APIConnectionError (__cause__ httpx2.RemoteProtocolError).
      - streaming, anthropic: events before the cut are yielded, then
        iteration raises a bare httpx2.RemoteProtocolError (an
        httpx2.TransportError, NOT an anthropic.* exception).
      - streams are never retried mid-way and never end silently.
    """

    status: int = 200
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    cut_after: int | None = None
    chunked: bool = False
    reason: str = ""

    def __post_init__(self):
        self.headers = [(k, v) for k, v in _header_pairs(self.headers)
                        if k.lower() not in HOP_BY_HOP]
        self.body = _to_bytes(self.body)

    @classmethod
    def from_interaction(cls, inter: Interaction, **overrides) -> Canned:
        """Serve a recording. Keeps chunked framing when the recording had it."""
        chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower()
                      for k, v in inter.headers)
        kw = dict(status=inter.status, headers=inter.headers, body=inter.body,
                  chunked=chunked, reason=inter.reason)
        kw.update(overrides)
        return cls(**kw)


def cassette(relpath: str, **overrides) -> list[Canned]:
    """All interactions of a cassette as Canned, ready for srv.queue(*...)."""
    return [Canned.from_interaction(i, **overrides) for i in load_interactions(relpath)]


def canned_error(status: int, body_json, headers: Headers | None = None) -> Canned:
    h = [("content-type", "application/json")] + _header_pairs(headers)
    return Canned(status, h, json.dumps(body_json).encode())


def sse(events: Iterable[tuple[str | None, str]]) -> bytes:
    """Build an SSE body from (event_name or None, data) pairs."""
    parts = []
    for name, data in events:
        lines = [f"event: {name}"] if name else []
        lines += [f"data: {line}" for line in data.split("\n")]
        parts.append("\n".join(lines) + "\n\n")
    return "".join(parts).encode("utf-8")


def sse_response(events: Iterable[tuple[str | None, str]], **kw) -> Canned:
    return Canned(200, {"content-type": "text/event-stream; charset=utf-8"}, sse(events), **kw)


# --- Errors with no public recording -------------------------------------
# No public cassette has a 429, 5xx, Anthropic 529 or OpenAI
# context_length_exceeded (see fixtures/wire/README.md). These builders use
# the providers' DOCUMENTED error shapes (OpenAI: {"error": {message, type,
# param, code}}; Anthropic: {"type": "error", "error": {type, message},
# "request_id"}) with messages as documented / publicly reported. They are
# NOT recordings.

def _openai_error(status, message, type_, code=None, param=None, headers=None) -> Canned:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    h = [("x-request-id", f"req_wire_{status}")] + _header_pairs(headers)
    return canned_error(status, body, h)


def openai_rate_limit(retry_after: str = "1", message: str | None = None) -> Canned:
    msg = message or ("Rate limit reached for gpt-4o-mini in organization org-test on "
                      "requests per min (RPM): Limit 3, Used 3, Requested 1. "
                      "Please try again in 20s.")
    return _openai_error(429, msg, "requests", code="rate_limit_exceeded", headers={
        "retry-after": retry_after,
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "20s",
        "x-ratelimit-limit-tokens": "200000",
        "x-ratelimit-remaining-tokens": "199950",
        "x-ratelimit-reset-tokens": "15ms",
    })


def openai_server_error(status: int = 500) -> Canned:
    """500, 502 (Cloudflare JSON form) or 503 (overloaded)."""
    if status == 502:
        # Cloudflare's JSON 502 as seen in front of api.openai.com; note code is an int.
        return canned_error(502, {"error": {"code": 502, "message": "Bad gateway.",
                                            "param": None, "type": "cf_bad_gateway"}})
    if status == 503:
        return _openai_error(503, "That model is currently overloaded with other requests. "
                             "You can retry your request, or contact us through our help "
                             "center at help.openai.com if the error persists.", "server_error")
    return _openai_error(status, "The server had an error while processing your request. "
                         "Sorry about that!", "server_error")


def openai_context_length_exceeded() -> Canned:
    return _openai_error(
        400,
        "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9000 tokens. Please reduce the length of the messages.",
        "invalid_request_error", code="context_length_exceeded", param="messages")


def _anthropic_error(status, type_, message, headers=None) -> Canned:
    rid = f"req_wire_{status}"
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": rid}
    return canned_error(status, body, [("request-id", rid)] + _header_pairs(headers))


def anthropic_rate_limit(retry_after: str = "1", message: str | None = None) -> Canned:
    msg = message or ("This request would exceed the rate limit for your organization of "
                      "50 requests per minute. For details, refer to: "
                      "https://docs.claude.com/en/api/rate-limits.")
    return _anthropic_error(429, "rate_limit_error", msg, headers={
        "retry-after": retry_after,
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:30Z",
    })


def anthropic_api_error(status: int = 500) -> Canned:
    return _anthropic_error(status, "api_error", "Internal server error")


def anthropic_overloaded() -> Canned:
    return _anthropic_error(529, "overloaded_error", "Overloaded")


def anthropic_prompt_too_long() -> Canned:
    return _anthropic_error(400, "invalid_request_error",
                            "prompt is too long: 210000 tokens > 200000 maximum")


# --- Server ---------------------------------------------------------------

@dataclass
class Received:
    method: str
    path: str  # includes the query string
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: object = None


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # delayed ACKs would add ~40 ms per request
    protocol_version = "HTTP/1.1"  # keep-alive + chunked, like the real APIs
    timeout = 30  # don't let idle pooled connections pin threads forever

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    return data
                data += chunk
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _handle(self):
        srv: WireServer = self.server.wire  # type: ignore[attr-defined]
        body = self._read_body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers: dict[str, str] = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        srv.requests.append(Received(self.command, self.path, headers, body, parsed))
        self._send(srv._next())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def _send(self, c: Canned):
        # send_response_only: no extra Server/Date, recorded ones are kept.
        self.send_response_only(c.status, c.reason or None)
        for k, v in c.headers:
            self.send_header(k, v)
        if c.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(c.body)))
        if c.cut_after is not None:
            self.send_header("Connection", "close")
        self.end_headers()

        body = c.body if c.cut_after is None else c.body[:c.cut_after]
        if self.command == "HEAD":
            body = b""
        if c.chunked:
            # One chunk per SSE event so the client sees events as they come.
            for piece in _split_events(body):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if c.cut_after is None:
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()
        if c.cut_after is not None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _split_events(body: bytes) -> list[bytes]:
    pieces = [p + b"\n\n" for p in body.split(b"\n\n")]
    pieces[-1] = pieces[-1][:-2]  # the split added one separator too many
    return [p for p in pieces if p]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # pooled keep-alive connections must not block close()


class WireServer:
    """Threaded HTTP server on 127.0.0.1 serving queued Canned responses in FIFO
    order to whatever request arrives (any method, any path)."""

    def __init__(self):
        self.requests: list[Received] = []
        self._queue: deque[Canned] = deque()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.wire = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # Short poll so close() (shutdown) returns fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def queue(self, *responses: Canned) -> WireServer:
        with self._lock:
            self._queue.extend(responses)
        return self

    def queue_cassette(self, relpath: str) -> WireServer:
        return self.queue(*cassette(relpath))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _next(self) -> Canned:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return canned_error(500, {"error": {
            "message": "no response queued", "type": "wire_server_error"}})

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> WireServer:
        return self

    def __exit__(self, *exc):
        self.close()
