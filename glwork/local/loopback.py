"""Make sure 127.0.0.1 is reachable before serving on it.

In a private network namespace (`unshare -n`, some sandboxes and CI runners) the loopback
interface starts *down*: binding works but connecting fails with "Network is unreachable".
Bringing `lo` up there touches nothing outside that namespace; elsewhere it is already up.
"""
import errno
import fcntl
import socket
import struct

from ..security import get_logger

log = get_logger(__name__)
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def reachable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError as exc:
        if exc.errno in (errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            return False
        raise


def bring_up():
    """Set the `lo` interface up (needs CAP_NET_ADMIN in its namespace). Returns True on success."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        try:
            flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, req))[1]
            fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))
            return True
        except OSError as exc:
            log.warning("loopback interface is down and could not be brought up (%s); "
                        "the local backend is unreachable in this network namespace", exc)
            return False


def ensure(port):
    """Check the server on `port` can be reached; bring loopback up once if it is down."""
    if reachable(port):
        return True
    log.info("loopback interface is down (private network namespace?): bringing it up")
    return bring_up() and reachable(port)
