"""Reading GLWORK_BACKEND_URL: which shared backend, where, under which key prefix.

    (unset), "local", "embedded"          the embedded backends (in-process / SQLite), as before
    redis://[[user]:password@]host[:port][/db][?namespace=NAME&socket_timeout=S]
    rediss://...                          the same over TLS
    unix:///path/to/redis.sock[?db=N]     a local socket

`namespace` (default "glwork") prefixes every key, so two classes can share one Redis server.
A Redis URL may hold a password: `redacted` is the form shown in messages and logs, and the
password is registered with glwork.security so it is masked wherever else it might appear.
"""
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigurationError
from ..security import MASK, redact, register_secret

LOCAL_WORDS = ("", "local", "embedded", "none", "off")
SCHEMES = ("redis", "rediss", "unix")
DEFAULT_NAMESPACE = "glwork"
# Short on purpose: a kernel must never hang on a Redis that went away (see link.py).
CONNECT_TIMEOUT_S = 0.5
SOCKET_TIMEOUT_S = 2.0
_NAMESPACE_RX = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
EXAMPLE = "redis://127.0.0.1:6379/0 (or redis://:PASSWORD@host:6379/0?namespace=myclass)"


@dataclass(frozen=True)
class BackendConfig:
    kind: str                          # "local" or "redis"
    url: str | None = field(default=None, repr=False)   # with its password: never print it
    redacted: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    connect_timeout: float = CONNECT_TIMEOUT_S
    socket_timeout: float = SOCKET_TIMEOUT_S

    @property
    def shared(self):
        return self.kind != "local"

    @property
    def label(self):
        """How the backend is named in messages, reprs and ledger events (no password)."""
        if not self.shared:
            return "local"
        return f"{self.redacted}#{self.namespace}"


LOCAL = BackendConfig("local")


def parse(url):
    """A BackendConfig for `url` (a string, or None for the embedded backends)."""
    if url is None:
        return LOCAL
    if not isinstance(url, str):
        raise ConfigurationError(f"backend_url must be a string such as {EXAMPLE}, or None; "
                                 f"got {type(url).__name__}.")
    text = url.strip()
    if text.lower() in LOCAL_WORDS:
        return LOCAL
    parts = urlsplit(text)
    if parts.password:
        register_secret(parts.password)
    shown = redact_url(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(f"GLWORK_BACKEND_URL / backend_url {shown!r} is not a Redis URL. Write {EXAMPLE}, "
                                 f"or 'local' (or leave it unset) for the embedded backends.")
    if scheme != "unix" and not parts.hostname:
        raise ConfigurationError(f"The backend URL {shown!r} names no host. Write {EXAMPLE}.")
    try:
        parts.port   # noqa: B018 (the look-up raises ValueError for a port that is not a number)
    except ValueError:
        raise ConfigurationError(f"The backend URL {shown!r} has a port that is not a number. "
                                 f"Write {EXAMPLE}.") from None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    namespace = query.pop("namespace", DEFAULT_NAMESPACE) or DEFAULT_NAMESPACE
    if not _NAMESPACE_RX.match(namespace):
        raise ConfigurationError(f"namespace={namespace!r} in the backend URL: use 1-64 letters, digits, '_', '-' "
                                 "or '.', e.g. redis://host:6379/0?namespace=class-2024.")
    timeouts = {}
    for name, default in (("socket_connect_timeout", CONNECT_TIMEOUT_S), ("socket_timeout", SOCKET_TIMEOUT_S)):
        raw = query.pop(name, None)
        try:
            value = default if raw is None else float(raw)
        except ValueError:
            value = -1.0
        if not 0 < value <= 60:
            raise ConfigurationError(f"{name}={raw!r} in the backend URL: give seconds from 0 to 60, e.g. "
                                     f"redis://host:6379/0?{name}={default}.")
        timeouts[name] = value
    if scheme != "unix" and parts.path not in ("", "/") and not parts.path.strip("/").isdigit():
        raise ConfigurationError(f"The backend URL {shown!r}: the path is the database number, e.g. /0.")
    clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return BackendConfig("redis", clean, redact_url(clean), namespace,
                         timeouts["socket_connect_timeout"], timeouts["socket_timeout"])


def redact_url(url):
    """`url` with any password (and user name) replaced by [REDACTED], then key-shaped text masked."""
    try:
        parts = urlsplit(url)
        if parts.password is not None or parts.username:
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            port = ""
            try:
                port = f":{parts.port}" if parts.port else ""
            except ValueError:
                port = ":?"
            url = urlunsplit((parts.scheme, f"{MASK}@{host}{port}", parts.path, parts.query, parts.fragment))
    except ValueError:
        url = re.sub(r"//[^@/]*@", f"//{MASK}@", url)
    return redact(url)
