"""The local backend's HTTP server: 127.0.0.1 only, stdlib http.server, one thread per connection.

It speaks OpenAI's, Azure OpenAI's and Anthropic's own wire formats so the real SDKs run
unchanged. Streams use chunked transfer encoding, as the providers do, so a dropped connection
(the cut_stream fault) is an incomplete body to the client, not a quiet end.
"""
import json
import re
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import anthropic_wire, openai_wire
from .engine import ContextLengthError, get_engine, log
from .faults import PLAN, SESSION_HEADER, status_reply
from .wire import Reply, Stream, WireError, error_body, request_id, sse, wire_error_reply

# (method, path regex, provider, handler); faults apply to these API routes only.
_API_PATHS = [
    ("POST", r"/(?:v1/)?chat/completions", "openai", openai_wire.chat),
    ("POST", r"/openai/deployments/[^/]+/chat/completions", "azure", openai_wire.chat),
    ("POST", r"/openai/v1/chat/completions", "azure", openai_wire.chat),
    ("POST", r"/(?:v1/)?embeddings", "openai", openai_wire.embeddings),
    ("POST", r"/openai/deployments/[^/]+/embeddings", "azure", openai_wire.embeddings),
    ("POST", r"/openai/v1/embeddings", "azure", openai_wire.embeddings),
    ("POST", r"/(?:v1/)?messages", "anthropic", anthropic_wire.messages),
    ("POST", r"/(?:v1/)?messages/count_tokens", "anthropic", anthropic_wire.count_tokens),
]
API_ROUTES = [(m, re.compile(p + "$"), prov, fn) for m, p, prov, fn in _API_PATHS]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MAX_BODY_BYTES = 10 * 1024 * 1024     # far above any prompt the local model (4k context) can take
BODY_TIMEOUT_S = 30.0
_ID_HEADER = {"openai": "x-request-id", "azure": "apim-request-id", "anthropic": "request-id"}
_BROKEN_JSON = b'{"id": "glwork-malformed", "object": "chat.completion", "choices": [{"ind'
_BROKEN_SSE = {
    "openai": b'data: {"id":"chatcmpl-glwork","object":"chat.completion.chunk","choices":[\n\n'
              b"data: [DONE]\n\n",
    "anthropic": b'event: message_start\ndata: {"type":"message_start","message":{"id":\n\n',
}


@dataclass
class Call:
    """One API request as the wire modules see it."""

    provider: str
    body: dict
    headers: object
    app: object

    @property
    def engine(self):
        return self.app.engine_for(self.body.get("model"))


def _guess_provider(path, headers):
    if path.startswith("/openai/"):
        return "azure"
    if headers.get("anthropic-version") or path.rstrip("/").endswith("messages"):
        return "anthropic"
    return "openai"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, like the SDKs expect
    server_version = "glwork-local"
    sys_version = ""

    def setup(self):
        super().setup()
        self.server.app._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.app._track(self.connection, add=False)

    def log_message(self, fmt, *args):
        log.debug("local backend: " + fmt, *args)

    def do_GET(self):
        self.server.app.handle(self, "GET")

    def do_POST(self):
        self.server.app.handle(self, "POST")

    def do_DELETE(self):
        self.server.app.handle(self, "DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (a closed SDK, an interrupted cell) is normal, not a traceback
        # on the attendee's terminal; anything else goes to the glwork log.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        log.warning("local backend: request from %s failed: %s: %s", client_address[0],
                    type(exc).__name__, exc)


class LocalServer:
    """The HTTP server; `engine=None` uses the process-wide engine (see engine.get_engine)."""

    def __init__(self, engine=None, host="127.0.0.1", port=0, faults=None):
        self._engine = engine
        self.faults = faults or PLAN
        self.host, self.port = host, port
        self._httpd = self._thread = None
        self._stop = threading.Event()
        self._conns, self._conns_lock = set(), threading.Lock()

    @property
    def engine(self):
        # Not cached: the process-wide engine follows GLWORK_LOCAL_ENGINE if it changes.
        return self._engine if self._engine is not None else get_engine()

    def engine_for(self, requested):
        """A request's engine: its `model` may name a local model ("qwen2.5-coder-1.5b-instruct");
        any other name (gpt-4, claude-...) gets the chosen one (see models.chosen)."""
        if self._engine is not None:
            return self._engine
        from .models import lookup
        spec = lookup(requested) if isinstance(requested, str) else None
        return get_engine(spec.name if spec else None)

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        if self.running:
            return self
        self._stop.clear()
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.app = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="glwork-local-server", daemon=True)
        self._thread.start()
        if self.host == "127.0.0.1":
            from .loopback import ensure
            ensure(self.port)
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._stop.set()          # releases requests held by a timeout fault
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conns_lock:    # idle keep-alive connections would keep threads reading
            conns = list(self._conns)
        for conn in conns:
            _abort(conn)
        self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def _track(self, conn, add):
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    # -- request handling --------------------------------------------------------------------

    def handle(self, h, method):
        path, _, query = h.path.partition("?")
        path = path.rstrip("/") or "/"
        route = next(((prov, fn) for m, rx, prov, fn in API_ROUTES
                      if m == method and rx.match(path)), None)
        provider = route[0] if route else _guess_provider(path, h.headers)
        rid = request_id(provider)
        try:
            _check_host(h)
            raw = _read_body(h)
            if route:
                reply = self._api(h, path, raw, route, rid)
            elif path == "/_glwork/faults":
                reply = self._admin_faults(method, raw, query)
            elif method == "GET" and path == "/health":
                reply = Reply(200, self.health())
            elif method == "GET" and re.match(r"/(v1/)?models$", path):
                reply = Reply(200, self._models(provider))
            elif provider == "anthropic":
                raise WireError(404, "Not Found")
            else:
                raise WireError(404, f"Invalid URL ({method} {path})", code="unknown_url")
        except WireError as err:
            reply = wire_error_reply(provider, err, rid)
        except ContextLengthError as err:
            msg = (str(err) if provider != "anthropic" else
                   f"prompt is too long: {err.prompt_tokens} tokens > {err.n_ctx} maximum")
            reply = Reply(400, error_body(provider, 400, msg, "invalid_request_error", "messages",
                                          "context_length_exceeded", rid))
        except Exception as exc:  # a bug or an engine failure: still in the provider's shape
            log.exception("local backend failed on %s %s", method, path)
            reply = Reply(500, error_body(provider, 500, f"Local backend error: {exc}", None,
                                          None, None, rid))
        if reply is not None:
            self._send(h, reply, provider, rid)

    def _api(self, h, path, raw, route, rid):
        provider, fn = route
        fault = self.faults.take(h.headers.get(SESSION_HEADER), path)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        streaming = isinstance(body, dict) and bool(body.get("stream"))
        if fault and fault["kind"] != "cut_stream":
            return self._fault(h, fault, provider, streaming, rid)
        if not isinstance(body, dict):
            raise WireError(400, "There was an issue with your request body: invalid JSON object"
                            if provider == "anthropic" else
                            "We could not parse the JSON body of your request. The API expects a "
                            "JSON object.")
        _check_shapes(body)
        call = Call(provider, body, h.headers, self)
        reply = fn(call)
        if reply is not None:
            reply.headers.setdefault("x-glwork-engine", call.engine.name)
        if fault:   # cut_stream: serve the real response, but only part of it
            self._send(h, reply, provider, rid, cut=fault["after"])
            return None
        return reply

    def _fault(self, h, fault, provider, streaming, rid):
        kind = fault["kind"]
        if kind == "status":
            status, headers, body = status_reply(provider, fault, rid)
            return Reply(status, body, headers)
        if kind == "timeout":
            self._stop.wait(fault["seconds"])   # stop() wakes it: never blocks shutdown
            h.close_connection = True
            _abort(h.connection)
            return None
        # malformed_json: a 200 whose body breaks off mid-object.
        if not streaming:
            return Reply(200, _BROKEN_JSON, {"Content-Type": "application/json"})
        frame = _BROKEN_SSE["anthropic" if provider == "anthropic" else "openai"]
        return Reply(200, frame, {"Content-Type": "text/event-stream; charset=utf-8"})

    def _send(self, h, reply, provider, rid, cut=None):
        headers = {_ID_HEADER[provider]: rid}
        if provider == "azure":
            headers["x-request-id"] = rid
        # A scripted fault needs no model loaded; an API reply names its own engine (see _api).
        if (isinstance(reply, Stream) or reply.status == 200) and "x-glwork-engine" not in reply.headers:
            headers["x-glwork-engine"] = self.engine.name
        headers.update(reply.headers)
        try:
            if isinstance(reply, Stream):
                self._send_stream(h, reply, headers, cut, provider)
                return
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            headers.setdefault("Content-Type", "application/json")
            h.send_response(reply.status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if cut:
                h.wfile.write(data[:max(1, len(data) // 2)])
                h.close_connection = True
                _abort(h.connection)
            else:
                h.wfile.write(data)
        except OSError:   # the client went away (e.g. its own timeout): nothing to tell it
            h.close_connection = True

    def _send_stream(self, h, stream, headers, cut, provider):
        try:
            h.send_response(200)
            headers.setdefault("Content-Type", "text/event-stream; charset=utf-8")
            headers.update({"Cache-Control": "no-cache", "Transfer-Encoding": "chunked"})
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            try:
                for n, frame in enumerate(stream.frames, 1):
                    h.wfile.write(_chunk(frame))
                    if cut and n >= cut:
                        h.close_connection = True
                        _abort(h.connection)
                        return
            except OSError:
                raise
            except Exception as exc:   # failed mid-stream: end with an error event, as providers do
                log.exception("local backend stream failed")
                h.wfile.write(_chunk(_stream_error(provider, f"Local backend error: {exc}")))
            h.wfile.write(b"0\r\n\r\n")
        finally:
            stream.close()

    # -- small routes ------------------------------------------------------------------------

    def health(self):
        from ..embeddings.local import MODEL_NAME, local_embedder
        info = {**self.engine.info(), "why": getattr(self.engine, "why", "")}
        return {"status": "ok", "url": self.url, "engine": info,
                "embeddings": {"model": MODEL_NAME, "dimensions": 384,
                               "loaded": local_embedder().loaded},
                "faults": self.faults.snapshot()["injected"]}

    def _models(self, provider):
        from ..embeddings.local import MODEL_NAME
        from .model import is_installed
        from .models import MODELS
        ids = [self.engine.model]
        if self._engine is None and self.engine.name == "llama":   # any installed one answers by name
            ids += [m.id for m in MODELS.values() if m.id not in ids and is_installed(m)]
        ids.append(MODEL_NAME)
        if provider == "anthropic":
            data = [{"type": "model", "id": i, "display_name": i,
                     "created_at": "2025-01-01T00:00:00Z"} for i in ids]
            return {"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]}
        return {"object": "list", "data": [{"id": i, "object": "model", "created": 1735689600,
                                            "owned_by": "glwork-local"} for i in ids]}

    def _admin_faults(self, method, raw, query):
        session = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("session")
        if method == "DELETE":
            self.faults.clear(session)
        elif method == "POST":
            try:
                body = json.loads(raw or b"{}")
                session = body.get("session", session)
                if body.get("clear"):
                    self.faults.clear(session)
                else:
                    self.faults.set(body["faults"], session)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise WireError(400, f"expected {{\"faults\": [...], \"session\": optional}} or "
                                     f"{{\"clear\": true}}: {exc}") from exc
        elif method != "GET":
            raise WireError(405, f"{method} is not allowed on /_glwork/faults")
        return Reply(200, self.faults.snapshot())


def _check_host(h):
    """Refuse a request not addressed to the loopback name: a web page can make a browser send
    requests to 127.0.0.1 under its own host name (DNS rebinding); those carry that name."""
    host = (h.headers.get("Host") or "").strip().lower()
    name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 \
        else host
    if name not in LOOPBACK_NAMES:
        h.close_connection = True
        raise WireError(403, f"The glwork local backend answers only requests addressed to 127.0.0.1, localhost "
                             f"or [::1] (this one named host {host[:80]!r}). Use the URL glwork.local.url() "
                             f"gives.", "permission_error")


def _read_body(h):
    """The request body, or a WireError (the connection is then closed: its framing is unknown)."""
    raw = h.headers.get("Content-Length")
    if raw is None:
        if h.headers.get("Transfer-Encoding"):
            h.close_connection = True
            raise WireError(411, "The local backend needs a Content-Length header (chunked request bodies "
                                 "are not accepted).")
        return b""
    raw = raw.strip()
    if not raw.isdigit():
        h.close_connection = True
        raise WireError(400, f"Content-Length must be a whole number of bytes, got {raw[:40]!r}.")
    length = int(raw)
    if length > MAX_BODY_BYTES:
        h.close_connection = True
        raise WireError(413, f"The request body is {length:,} bytes; the local backend accepts at most "
                             f"{MAX_BODY_BYTES:,}. Send fewer or shorter messages.", "request_too_large")
    if not length:
        return b""
    h.connection.settimeout(BODY_TIMEOUT_S)   # a client that never sends its body frees the thread
    try:
        data = h.rfile.read(length)
    except TimeoutError:
        data = b""
    finally:
        h.connection.settimeout(None)
    if len(data) < length:
        h.close_connection = True
        raise WireError(400, f"The request body ended after {len(data)} of {length} bytes (Content-Length).")
    return data


# Fields the wire modules read as objects or lists: another type is the client's error (400),
# not a crash (500, which the SDKs would retry).
_SHAPES = {"response_format": dict, "stream_options": dict, "output_config": dict, "output_format": dict,
           "metadata": dict, "messages": list, "tools": list, "stop_sequences": list}


def _check_shapes(body):
    for name, kind in _SHAPES.items():
        value = body.get(name)
        if value is not None and not isinstance(value, kind):
            raise WireError(400, f"Invalid type for '{name}': expected {'an object' if kind is dict else 'an array'}, "
                                 f"got {type(value).__name__}.", "invalid_request_error", name)
    fmt = body.get("response_format") or {}
    if fmt.get("json_schema") is not None and not isinstance(fmt["json_schema"], dict):
        raise WireError(400, "Invalid type for 'response_format.json_schema': expected an object.",
                        "invalid_request_error", "response_format.json_schema")
    for i, m in enumerate(body.get("messages") or []):
        calls = m.get("tool_calls") if isinstance(m, dict) else None
        if calls is not None and not (isinstance(calls, list) and all(
                isinstance(c, dict) and isinstance(c.get("function") or {}, dict) for c in calls)):
            raise WireError(400, f"Invalid 'messages[{i}].tool_calls': expected an array of objects with a "
                                 f"'function' object.", "invalid_request_error", f"messages[{i}].tool_calls")


def _chunk(data):
    """One piece of a chunked transfer-encoded body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _stream_error(provider, message):
    """The error event a provider sends when a stream fails after it started."""
    body = error_body(provider, 500, message)
    if provider == "anthropic":
        return sse({"type": "error", "error": body["error"]}, "error")
    return sse(body)


def _abort(conn):
    """Drop a connection at once (the client sees it cut, not a clean end)."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
