"""The local backend works inside a private network namespace where loopback starts down."""
import shutil
import socket
import subprocess
import sys
import time

import pytest

CODE = """
import socket, glwork.local.loopback as lb
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
port = s.getsockname()[1]
before = lb.reachable(port)
print(before, lb.ensure(port))
"""


@pytest.mark.skipif(not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0,
                    reason="needs `unshare -n` (root or user namespaces)")
def test_loopback_brought_up_in_private_namespace():
    out = subprocess.run(["unshare", "-n", sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_reachable_on_a_normal_machine():
    from glwork.local.loopback import ensure
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    assert ensure(s.getsockname()[1])
    s.close()


def test_a_client_that_hangs_up_leaves_no_traceback(capfd):
    from glwork.local.server import LocalServer
    srv = LocalServer().start()
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()   # linger 0: the server's read gets ECONNRESET
        time.sleep(0.5)
    finally:
        srv.stop()
    assert "Traceback" not in capfd.readouterr().err
