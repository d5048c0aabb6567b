"""A tiny in-process event bus: sessions publish, monitors and widgets subscribe.

Monitoring observes; it never steers a call. A failing subscriber is logged and skipped.
"""
import threading
from collections.abc import Callable

from .security import get_logger

log = get_logger(__name__)
_subscribers: list[Callable[[dict], None]] = []
_lock = threading.Lock()


def subscribe(callback):
    """Call `callback(event: dict)` for every event; returns a function that unsubscribes."""
    with _lock:
        _subscribers.append(callback)

    def unsubscribe():
        with _lock:
            if callback in _subscribers:
                _subscribers.remove(callback)
    return unsubscribe


def emit(kind, **data):
    event = {"kind": kind, **data}
    with _lock:
        subs = list(_subscribers)
    for cb in subs:
        try:
            cb(event)
        except Exception as exc:  # a broken dashboard must not break a call
            log.warning("event subscriber %r failed: %s", cb, exc)
