"""glwork.backends: choosing the backend, the Redis link (short timeouts, reconnection, warnings),
and a Redis password never reaching a message or a log. Against a real redis-server."""
import logging
import socket
import threading
import time

import pytest

import glwork
from glwork import backends, config
from glwork.backends import BackendUnavailable, attendee
from glwork.backends.config import parse, redact_url
from glwork.errors import ConfigurationError
from redis_server import RedisServer, free_port, redis_server, redis_url, require_redis_server  # noqa: F401

PASSWORD = "s3cret-Class-Passw0rd"


@pytest.fixture(autouse=True)
def _reset_configure():
    yield
    config.configure(backend_url=None)


# ---- choosing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, "", "local", "embedded", " LOCAL "])
def test_unset_or_local_means_the_embedded_backends(value, monkeypatch):
    monkeypatch.delenv("GLWORK_BACKEND_URL", raising=False)
    assert not parse(value).shared
    config.configure(backend_url=value)
    assert backends.current() is None


def test_environment_variable_chooses_redis_and_configure_overrides_it(monkeypatch):
    monkeypatch.setenv("GLWORK_BACKEND_URL", "redis://127.0.0.1:6399/2?namespace=class-a")
    b = backends.current()
    assert b.config.namespace == "class-a" and b.key("x") == "class-a:x"
    assert "namespace" not in b.config.url        # not passed on to redis-py
    glwork.configure(backend_url="local")
    assert backends.current() is None
    glwork.configure(backend_url=None)            # back to the environment
    assert backends.current() is b                # one backend object per URL and process


def test_configure_backend_keeps_the_mode_and_plain_configure_resets_it():
    glwork.configure(mode="replay")
    glwork.configure(backend_url="redis://127.0.0.1:6399/0")
    assert config.explicit_mode() == "replay"
    glwork.configure()
    assert config._state["mode"] is None


@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:6379", "is not a Redis URL"),
    ("postgres://u:p@db/x", "is not a Redis URL"),
    ("redis://", "names no host"),
    ("redis://host:port/0", "port that is not a number"),
    ("redis://host:6379/zero", "database number"),
    ("redis://host:6379/0?namespace=bad name!", "namespace"),
    ("redis://host:6379/0?socket_timeout=-1", "socket_timeout"),
])
def test_bad_urls_say_what_to_write(url, says):
    with pytest.raises(ConfigurationError) as err:
        glwork.configure(backend_url=url)
    assert says in str(err.value) and "redis://" in str(err.value)


def test_not_a_string_is_refused():
    with pytest.raises(ConfigurationError, match="must be a string"):
        parse(6379)


def test_password_is_redacted_everywhere_it_could_show():
    url = f"redis://teacher:{PASSWORD}@10.0.0.5:6380/1"
    cfg = parse(url)
    for text in (cfg.redacted, cfg.label, repr(cfg), redact_url(url), repr(backends.get(url)),
                 repr(backends.get(url).link)):
        assert PASSWORD not in text and "teacher" not in text
    assert cfg.redacted == "redis://[REDACTED]@10.0.0.5:6380/1"
    with pytest.raises(ConfigurationError) as err:
        parse(f"http://:{PASSWORD}@host")
    assert PASSWORD not in str(err.value)
    assert glwork.security.redact(f"oops {PASSWORD}") == "oops [REDACTED]"   # registered as a secret


def test_attendee_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("GLWORK_ATTENDEE", "ana")
    monkeypatch.setenv("JUPYTERHUB_USER", "hub-user")
    assert attendee() == "ana"
    monkeypatch.delenv("GLWORK_ATTENDEE")
    assert attendee() == "hub-user"
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert attendee()          # the login name


# ---- the link -------------------------------------------------------------------------------------
def test_nothing_listening_fails_fast_warns_once_and_retries_later(caplog):
    port = free_port()         # nobody listens here
    backend = backends.get(f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING, logger="glwork"):
        t0 = time.monotonic()
        for _ in range(20):
            with pytest.raises(BackendUnavailable):
                backend.link.run(lambda r: r.ping())
        assert time.monotonic() - t0 < 1.0
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1 and f"127.0.0.1:{port}" in warnings[0].getMessage()
    assert not backend.link.available and backend.link.outages == 1


def test_a_server_that_never_answers_times_out_instead_of_hanging():
    # A socket that accepts connections and then says nothing (a hung or firewalled server).
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = silent.getsockname()[1]
        backend = backends.get(f"redis://127.0.0.1:{port}/0?socket_timeout=0.3")
        t0 = time.monotonic()
        with pytest.raises(BackendUnavailable):
            backend.link.run(lambda r: r.ping())
        assert time.monotonic() - t0 < 2.0
    finally:
        stop.set()
        thread.join()
        for c in accepted:
            c.close()
        silent.close()


def test_reconnects_by_itself_when_redis_comes_back(redis_server, redis_url, caplog):
    backend = backends.get(redis_url)
    assert backend.link.run(lambda r: r.set("k", "v"))
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="glwork"):
        with pytest.raises(BackendUnavailable):
            backend.link.run(lambda r: r.get("k"))
        redis_server.start()
        time.sleep(1.05)       # the link waits RETRY_AFTER_S before trying again
        assert backend.link.run(lambda r: r.ping())
    assert backend.link.available
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert "shared Redis" in backends.describe() and "reachable" in backends.describe()


def test_wrong_password_is_an_outage_whose_messages_hide_the_password(tmp_path, caplog):
    require_redis_server()
    server = RedisServer(tmp_path, extra_args=["--requirepass", PASSWORD]).start()
    try:
        good = backends.get(f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0")
        assert good.link.run(lambda r: r.ping())
        bad = backends.get(f"redis://:wrong-{PASSWORD}@127.0.0.1:{server.port}/0")
        with caplog.at_level(logging.WARNING, logger="glwork"):
            with pytest.raises(BackendUnavailable) as err:
                bad.link.run(lambda r: r.ping())
        assert PASSWORD not in str(err.value) and PASSWORD not in caplog.text
        assert "unreachable" in caplog.text
    finally:
        server.stop()
