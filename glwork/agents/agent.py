"""The `Agent` base class of the workshop's lab (Part 6): setup / execute / teardown around a run."""
import threading
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from .. import events
from ..security import get_logger, redact

log = get_logger("glwork.agents")


class AgentError(Exception):
    """An agent run failed. Says which agent, which version and which input; never a key."""

    def __init__(self, message, agent=None, version=None, input_data=None):
        self.agent, self.version = agent, version
        self.input_data = input_data
        shown = redact(repr(input_data))
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        self.message = redact(message)
        super().__init__(f"{agent} v{version}: {self.message} (input: {shown})")


class AgentInputError(AgentError, ValueError):
    """The input did not pass validation; nothing ran."""


@dataclass
class RunRecord:
    """One `execute_with_input` run, for tables and widgets."""

    input: dict
    output: object = None
    duration_ms: float = 0.0
    cost: float | None = None
    tokens: int = 0          # measured: tokens of the LLM calls made during the run
    llm_calls: int = 0
    status: str = "ok"
    error: str | None = None
    started_at: float = field(default_factory=time.time)


class Agent:
    """Base class: override `setup()`, `execute()` (reads `self.input_data`) and `teardown()`.

    `execute_with_input(data)` runs `setup()` once if it has not run yet, validates `data`, times the
    run, logs its start and end, records it in `history`, and returns `execute()`'s result. Use the
    agent as a context manager and `teardown()` always runs.

    `input_schema` (class attribute), e.g. `{"query": str}`, lists required keys and their types.

    The run measures the LLM calls its thread makes (ChatSession, RAGEngine): their tokens and cost
    are in the run record, and a dict result that leaves out "tokens" or "cost" gets them filled in
    (0 for a run served from a cache), so callers can print result["tokens"] for every run.
    """

    input_schema: dict[str, type] | None = None

    def __init__(self, name, version="0.1.0"):
        if not name or not isinstance(name, str):
            raise ValueError("An agent needs a name, e.g. Agent(name='carbon_qa_agent', version='1.0.0').")
        self.name, self.version = name, str(version)
        self.input_data = {}
        self.history = []
        self._ready = False

    def __getattribute__(self, attr):
        value = object.__getattribute__(self, attr)
        # Track setup/teardown however they were defined (subclass, or methods assigned later).
        if attr in ("setup", "teardown") and callable(value):
            def tracked(*args, **kwargs):
                result = value(*args, **kwargs)
                object.__setattr__(self, "_ready", attr == "setup")
                return result
            return tracked
        return value

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} v{self.version}: {len(self.history)} runs>"

    # ---- to override ---------------------------------------------------------------------------
    def setup(self):
        """Create clients, load documents. Runs once before the first run."""

    def execute(self):
        """Do the work for `self.input_data` and return the result."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def teardown(self):
        """Release what setup() created."""

    def validate_input(self, data):
        """Raise AgentInputError if `data` is not acceptable. Default: a dict matching input_schema."""
        if not isinstance(data, Mapping):
            raise AgentInputError(f"input must be a dict, got {type(data).__name__}", self.name, self.version, data)
        for key, kind in (self.input_schema or {}).items():
            if key not in data:
                raise AgentInputError(f"input is missing {key!r}", self.name, self.version, data)
            if kind is not None and not isinstance(data[key], kind):
                raise AgentInputError(f"input {key!r} must be {getattr(kind, '__name__', kind)}, "
                                      f"got {type(data[key]).__name__}", self.name, self.version, data)

    # ---- running -------------------------------------------------------------------------------
    def execute_with_input(self, data):
        self.validate_input(data)
        if not self._ready:
            self.setup()
        self.input_data = dict(data)
        record = RunRecord(input=dict(data))
        log.info("%s v%s: run %d started", self.name, self.version, len(self.history) + 1)
        start = time.perf_counter()
        used, stop_measuring = _measure_llm_calls()
        try:
            result = self.execute()
        except Exception as exc:
            stop_measuring()
            record.duration_ms = (time.perf_counter() - start) * 1000
            record.status, record.error = "error", redact(f"{type(exc).__name__}: {exc}")
            self.history.append(record)
            log.warning("%s v%s: run failed after %.0f ms: %s", self.name, self.version, record.duration_ms,
                        record.error)
            raise AgentError(f"execute() raised {type(exc).__name__}: {exc}", self.name, self.version,
                             data) from exc
        stop_measuring()
        record.duration_ms = (time.perf_counter() - start) * 1000
        record.tokens, record.llm_calls = used["tokens"], used["calls"]
        if isinstance(result, MutableMapping):
            result.setdefault("tokens", used["tokens"])
            result.setdefault("cost", round(used["cost"], 6))
        record.output = result
        if isinstance(result, Mapping) and isinstance(result.get("cost"), (int, float)):
            record.cost = float(result["cost"])
        self.history.append(record)
        log.info("%s v%s: run finished in %.0f ms", self.name, self.version, record.duration_ms)
        return result

    def __enter__(self):
        if not self._ready:
            self.setup()
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def history_dataframe(self):
        """Runs as a pandas DataFrame (input, status, duration, cost)."""
        import pandas as pd
        return pd.DataFrame([{"input": redact(str(r.input)), "status": r.status, "duration_ms": round(r.duration_ms, 1),
                              "cost": r.cost, "error": r.error} for r in self.history])


def _measure_llm_calls():
    """Add up the LLM calls this thread makes until the returned stop() is called."""
    thread, used = threading.get_ident(), {"tokens": 0, "cost": 0.0, "calls": 0}

    def on_event(event):
        if event.get("kind") == "llm_call" and threading.get_ident() == thread:
            record = event["record"]
            used["calls"] += 1
            used["tokens"] += record.usage.total_tokens if record.usage else 0
            used["cost"] += record.cost or 0.0
    return used, events.subscribe(on_event)
