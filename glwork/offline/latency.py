"""Latency through a recording: record mode writes each call's latency on its interaction, replay
reads it back, so a replayed notebook shows the recorded call's latency rather than the replay's."""
from __future__ import annotations

import threading
from typing import Any

LATENCY_HEADER = "x-glwork-latency-ms"
_played = threading.local()


def write(cassette: Any, latency_ms: float) -> None:
    """Put `latency_ms` on the cassette's last interaction and save the cassette."""
    if cassette is None or not cassette.data:
        return
    response = cassette.data[-1][1]
    response.setdefault("headers", {})[LATENCY_HEADER] = [f"{latency_ms:.0f}"]
    cassette._save(force=True)   # vcrpy's: a killed kernel must not lose the recording


def played_latency() -> float | None:
    """The recorded latency (ms) of the last response replayed in this thread, once; None if unknown."""
    value, _played.latency = getattr(_played, "latency", None), None
    return value


def remember_played(cassette: Any) -> None:
    """Have `cassette` note each replayed response's recorded latency for played_latency()."""
    play = cassette.play_response

    def play_and_remember(request):
        response = play(request)
        value = (response.get("headers") or {}).get(LATENCY_HEADER)
        try:
            _played.latency = float(value[0] if isinstance(value, list) else value) if value else None
        except (TypeError, ValueError):
            _played.latency = None
        return response
    cassette.play_response = play_and_remember
