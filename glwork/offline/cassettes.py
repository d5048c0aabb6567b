"""Cassettes: vcrpy recordings of provider traffic, one per notebook.

Requests match on method, path and the JSON body normalised (key order, volatile fields) but
not on host or port, so a cassette recorded against any endpoint (the real API, or the local
backend on a random port) replays. Credentials and account headers are scrubbed before anything
is written, and the cassette carries its provenance (date, backend, models) under `metadata`.
"""
import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import LLMError
from ..security import find_secrets, redact

# Headers that carry credentials or account data; removed from requests and responses.
SCRUB_HEADERS = ("authorization", "x-api-key", "api-key", "openai-organization", "openai-project",
                 "anthropic-organization-id", "cookie", "set-cookie", "x-stainless-arch", "x-stainless-os",
                 "x-stainless-runtime-version", "cf-ray", "x-glwork-session")
# Request fields that change between runs without changing the question.
VOLATILE_FIELDS = ("user", "metadata", "seed", "store")
SERIALIZER = "glwork"


class CassetteMissError(LLMError):
    """A request that the open cassette does not hold, in replay mode. Nothing went to the network."""

    default_code = "not_in_cassette"


def normalized_body(request):
    body = request.body
    if not body:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        for key in VOLATILE_FIELDS:
            data.pop(key, None)
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def body_matcher(r1, r2):
    if normalized_body(r1) != normalized_body(r2):
        raise AssertionError("JSON bodies differ")


def path_matcher(r1, r2):
    # Azure deployments and OpenAI's /v1 path are kept; host, port and api-version are not.
    if urlsplit(r1.uri).path.rstrip("/") != urlsplit(r2.uri).path.rstrip("/"):
        raise AssertionError("paths differ")


def _scrub_response(response):
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in SCRUB_HEADERS:
            del headers[name]
    body = response.get("body") or {}
    text = body.get("string")
    if isinstance(text, bytes):
        try:
            body["string"] = redact(text.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            pass
    elif isinstance(text, str):
        body["string"] = redact(text)
    return response


RECORDED_HOST = "https://recorded.glwork.invalid"


def _scrub_request(request):
    for name in list(request.headers):
        if name.lower() in SCRUB_HEADERS + ("host",):
            del request.headers[name]
    if isinstance(request.body, bytes):
        try:
            request.body = redact(request.body.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            pass
    # Hosts are not matched; a neutral one keeps loopback ports out and survives ignore_hosts.
    parts = urlsplit(request.uri)
    request.uri = RECORDED_HOST + parts.path + (f"?{parts.query}" if parts.query else "")
    return request


class _Serializer:
    """vcrpy's YAML plus provenance in `metadata`, computed from what was recorded."""

    backend = "unknown"

    def serialize(self, data):
        from vcr.serializers import yamlserializer
        models = set()
        for item in data.get("interactions", []):
            models |= _models_in(item["response"]["body"].get("string") or "")
        meta = dict(data.get("metadata") or {})
        meta["provenance"] = {"recorded_on": dt.date.today().isoformat(), "backend": self.backend,
                              "models": sorted(models), "interactions": len(data.get("interactions", []))}
        data = {**data, "metadata": meta}
        return yamlserializer.serialize(data)

    def deserialize(self, text):
        from vcr.serializers import yamlserializer
        return yamlserializer.deserialize(text)


_serializer = _Serializer()


def _models_in(body):
    """Model names in a JSON or SSE response body."""
    found = set()
    for line in body.splitlines() or [body]:
        line = line[5:].strip() if line.startswith("data:") else line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        model = data.get("model") or (data.get("message") or {}).get("model")
        if model:
            found.add(model)
    if not found and body.strip().startswith("{"):
        try:
            model = json.loads(body).get("model")
            found |= {model} if model else set()
        except ValueError:
            pass
    return found


def make_vcr(record, ignore_hosts=(), backend=None):
    """A vcrpy VCR with the kit's matching and scrubbing; `backend` labels what a recording is made against."""
    import vcr
    if backend is not None:
        _serializer.backend = backend
    v = vcr.VCR(
        serializer=SERIALIZER,
        record_mode="all" if record else "none",
        match_on=["method", "glwork_path", "glwork_body"],
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
        ignore_hosts=list(ignore_hosts),
    )
    v.register_serializer(SERIALIZER, _serializer)
    v.register_matcher("glwork_body", body_matcher)
    v.register_matcher("glwork_path", path_matcher)
    return v


def read_provenance(path):
    """The provenance dict stored in a cassette file (empty if none)."""
    import yaml
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return (data.get("metadata") or {}).get("provenance") or {}


def check_clean(path):
    """Refuse a cassette that holds anything credential-shaped."""
    hits = find_secrets(Path(path).read_text(errors="replace"))
    if hits:
        Path(path).unlink()  # a secret must not persist on disk, let alone reach a commit
        raise LLMError(f"Cassette {path} held {len(hits)} secret-shaped strings ({hits[0][0]}); it was deleted. "
                       f"Remove the secret from the notebook's prompts and record again.",
                       error_code="secret_in_cassette")


def miss_error(exc, notebook, provider=None):
    """A clear replay-miss error from vcrpy's CannotOverwriteExistingCassetteException."""
    req = exc.failed_request
    summary = ""
    if req is not None:
        body = normalized_body(req)
        try:
            msgs = json.loads(body).get("messages") or []
            last = next((m for m in reversed(msgs) if m.get("role") == "user"), {})
            content = last.get("content")
            summary = f" asking {str(content)[:80]!r}" if content else ""
        except (ValueError, AttributeError):
            pass
        summary = f"{req.method} {urlsplit(req.uri).path}{summary}"
    name = notebook or "this notebook"
    return CassetteMissError(
        f"Replay mode: the request {summary} is not in the cassette of {name} (reason: {exc.reason}). "
        f"Nothing was sent to the network. Record it with `glwork record {notebook or 'NOTEBOOK'} --backend local` "
        f"(or with a provider key, `glwork record {notebook or 'NOTEBOOK'}`), or run this cell with "
        f"GLWORK_MODE=local to ask the local model.", provider=provider)
