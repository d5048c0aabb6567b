"""Replay with a safety net: what the cassette holds replays exactly; anything else (a learner's own
question, an edited prompt, a changed max_tokens) is answered by the embedded local backend through
the same SDK and wire format, and labelled as such. Never a network call, never a traceback.

GLWORK_REPLAY_STRICT=1 (CI, nbval, the papermill tests, `glwork record`'s refresh) keeps a miss an
error: there, a request the cassette does not hold means the notebook and its recording disagree.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager

from .. import config
from ..errors import LLMError
from ..providers.base import Adapter, ChatRequest, Progress
from ..response import Completion
from ..security import get_logger
from .cassettes import CassetteMissError
from .latency import played_latency

log = get_logger(__name__)
# A small local model on a busy laptop needs longer than a provider's API; jobs queue machine-wide
# (glwork.local.engine.one_at_a_time), so GLWORK_LOCAL_TIMEOUT can give recordings on a shared machine more.
LOCAL_TIMEOUT = float(os.environ.get("GLWORK_LOCAL_TIMEOUT") or 300.0)
_quiet = {"depth": 0}


class ReplayAdapter:
    """An adapter over the cassette that hands misses to a local-backend adapter of the same provider."""

    def __init__(self, replayed: Adapter, build_local: Callable[[], Adapter], provider: str):
        self.replayed = replayed
        self.provider = provider
        self.name = replayed.name
        # The provider's class facts are the replayed adapter's.
        self.family, self.default_model, self.key_envs = replayed.family, replayed.default_model, replayed.key_envs
        self.endpoint, self.resolve_model = replayed.endpoint, replayed.resolve_model
        self._build_local = build_local
        self._local = None

    def _local_adapter(self):
        if self._local is None:
            self._local = self._build_local()
        return self._local

    def create(self, req: ChatRequest) -> Completion:
        played_latency()   # forget any earlier call's
        try:
            completion = self.replayed.create(req)
            completion.latency_ms = played_latency()
        except CassetteMissError:
            if config.replay_strict():
                raise
            completion = self._local_adapter().create(req)
            completion.source = "local"
            announce(completion.model)
            return completion
        completion.source = "recorded"
        return completion

    def stream(self, req: ChatRequest, progress: Progress | None = None) -> Generator[str, None, Completion]:
        """Yield text deltas, from the cassette or (on a miss) the local backend; return the Completion."""
        played_latency()
        inner = self.replayed.stream(req, progress)
        source = "recorded"
        try:
            first = next(inner)
        except StopIteration as stop:        # a recorded reply without text (tool calls only)
            stop.value.source, stop.value.latency_ms = source, played_latency()
            return stop.value
        except CassetteMissError:
            if config.replay_strict():
                raise
            inner, source = self._local_adapter().stream(req, progress), "local"
            announce(local_model_name())
            try:
                first = next(inner)
            except StopIteration as stop:
                stop.value.source = source
                return stop.value
        yield first
        completion = yield from inner
        completion.source = source
        if source == "recorded":
            completion.latency_ms = played_latency()
        return completion

    def error(self, exc: BaseException, mid_stream: bool = False) -> LLMError:
        return self.replayed.error(exc, mid_stream)

    def close(self) -> None:
        self.replayed.close()
        if self._local is not None:
            self._local.close()


def local_model_name() -> str:
    """The model the local backend answers with (loads its engine if needed)."""
    from ..local import engine_info
    return engine_info().get("model", "local model")


def describe_local(model: str | None) -> str:
    """"the local model (NAME)", or for the extractive engine what it is and why it stands in."""
    if model and "extractive" in model:
        return f"the local extractive fallback ({model}: quotes the carbon corpus; no language model is installed)"
    return f"the local model ({model})"


def announce(model: str | None, what: str = "answered") -> None:
    """One short line under the cell: this answer (or embedding) is not from the recording."""
    # a learner should not take a small model's unprompted facts for the standard's
    caution = " · a small model, often wrong on facts: check them against the corpus" if what == "answered" else ""
    line = f"[not in this notebook's recording: {what} now by {describe_local(model)}{caution}]"
    log.info(line)
    if _quiet["depth"] == 0 and _in_notebook():
        print(line, file=sys.stdout, flush=True)


@contextmanager
def quiet() -> Iterator[None]:
    """No notice lines inside: for widgets, which label each answer themselves."""
    _quiet["depth"] += 1
    try:
        yield
    finally:
        _quiet["depth"] -= 1


def _in_notebook():
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    return shell is not None and getattr(shell, "kernel", None) is not None
