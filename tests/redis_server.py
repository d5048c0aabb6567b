"""A real redis-server on a free loopback port, for the classroom (shared backend) tests.

    from redis_server import redis_server, redis_url   # fixtures

`redis_server` (one per test module) starts `redis-server --port <free> --save '' --appendonly no`
bound to 127.0.0.1 and stops it after; `redis_url` empties it before each test and gives its URL.
Without redis-server the tests FAIL and say to run `make setup` (which installs the Debian package
redis-server); GLWORK_SKIP_REDIS=1 skips them instead, e.g. on a machine that cannot install it.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

SKIP_ENV = "GLWORK_SKIP_REDIS"
START_TIMEOUT_S = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process; `kill()` then `start()` again on the same port (a restart)."""

    def __init__(self, workdir, port=None, extra_args=()):
        self.binary = shutil.which("redis-server")
        self.extra_args = list(extra_args)
        self.workdir = str(workdir)
        self.port = port or free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        log = open(os.path.join(self.workdir, f"redis-{self.port}.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir, "--daemonize", "no", "--loglevel", "warning", *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.workdir}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {START_TIMEOUT_S} s")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def kill(self):
        """SIGKILL: the server vanishes mid-run, as a crashed or rebooted one does."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def flush(self):
        import redis
        r = redis.Redis.from_url(self.url, socket_timeout=2)
        try:
            r.flushall()
        finally:
            r.close()


def require_redis_server():
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: the shared-backend (Redis) tests are skipped")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed, so the classroom tests cannot run. Run `make setup` "
                    "(it installs the Debian package redis-server; as root: apt-get install -y redis-server), "
                    f"or set {SKIP_ENV}=1 to skip these tests.", pytrace=False)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    require_redis_server()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    for attempt in range(3):   # the free port may be taken between choosing and binding it
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
            server.port = free_port()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server, monkeypatch):
    """An empty Redis (restarted if a test killed it), as GLWORK_BACKEND_URL for this test."""
    if not redis_server.ping():
        redis_server.start()
    redis_server.flush()
    from glwork import backends
    backends._backends.clear()     # fresh links: none remembers an outage from an earlier test
    monkeypatch.setenv("GLWORK_BACKEND_URL", redis_server.url)
    return redis_server.url


class StartLine:
    """Lets spawned workers start their work together, however long each took to import:
    each calls `arrive()` when ready, which returns the common start time once all have arrived."""

    def __init__(self, directory):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)

    def arrive(self):
        open(os.path.join(self.directory, f"ready-{os.getpid()}"), "w").close()
        return self.wait_go()

    def wait_go(self, timeout=300):
        go = os.path.join(self.directory, "go")
        deadline = time.monotonic() + timeout
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                raise TimeoutError("the other workers never became ready")
            time.sleep(0.01)
        start = float(open(go).read())
        wait_until(start)
        return start

    def release(self, n, timeout=300, delay=0.3):
        deadline = time.monotonic() + timeout
        while sum(name.startswith("ready-") for name in os.listdir(self.directory)) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {n} workers became ready")
            time.sleep(0.01)
        tmp = os.path.join(self.directory, "go.tmp")
        with open(tmp, "w") as f:
            f.write(repr(time.time() + delay))
        os.replace(tmp, os.path.join(self.directory, "go"))


def run_processes(target, args_list, timeout=300, start_line=None):
    """Run target(*args) in one fresh (spawned) process per args tuple, all at once; their results.
    An exception in any child is raised here. Spawned, not forked: like separate kernels.
    With `start_line`, the workers (which call start_line.arrive()) are released together."""
    import concurrent.futures
    import multiprocessing
    import threading
    ctx = multiprocessing.get_context("spawn")
    releaser = None
    if start_line is not None:
        releaser = threading.Thread(target=start_line.release, args=(len(args_list),), daemon=True)
        releaser.start()
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(args_list), mp_context=ctx) as pool:
        futures = [pool.submit(target, *args) for args in args_list]
        return [f.result(timeout=timeout) for f in futures]


def wait_until(wall_time):
    """Sleep until `wall_time` (time.time())."""
    delay = wall_time - time.time()
    if delay > 0:
        time.sleep(delay)
