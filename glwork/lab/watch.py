"""What the homework grader sees of an agent: what its setup() indexed, and for each question its
LLM calls, its retrievals and the result its own execute() returned.

Measured, not read from flags: the LLM calls come from the sessions' events, the documents and
search types from RAGEngine itself (wrapped only while grading).
"""
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .. import events
from .attendee_code import ask


@dataclass
class Run:
    """One question put to the agent."""

    query: str
    result: object = None
    error: str | None = None
    raw_keys: frozenset = frozenset()   # keys execute() itself returned (the kit fills cost/tokens)
    calls: list = field(default_factory=list)      # llm_call events answered by a model
    cache_calls: int = 0                            # llm_call events a session's cache answered
    failures: list = field(default_factory=list)   # llm_error events (a route gave up)
    searches: list = field(default_factory=list)   # search types of retrievals on any RAGEngine

    @property
    def ok(self):
        return self.error is None and isinstance(self.result, Mapping)

    @property
    def answer(self):
        value = self.result.get("answer") if self.ok else None
        return str(value).strip() if isinstance(value, str) and str(value).strip() else ""

    @property
    def sources(self):
        value = self.result.get("sources") if self.ok else None
        return value if isinstance(value, list) else []

    @property
    def source_ids(self):
        return [str(s["id"]) for s in self.sources if isinstance(s, Mapping) and "id" in s]

    @property
    def llm_calls(self):
        return len(self.calls)

    @property
    def cost(self):
        """USD of this run's LLM calls; None if a model had no known price."""
        costs = [e["record"].cost for e in self.calls]
        return None if any(c is None for c in costs) else float(sum(costs))

    @property
    def tokens(self):
        return sum(e["record"].usage.total_tokens for e in self.calls if e["record"].usage)

    def says(self, key):
        return self.result.get(key) if self.ok else None

    def said_itself(self, key):
        return key in self.raw_keys


class Watch:
    """Context manager: wraps RAGEngine (indexing, search type) and the reference agent's execute()
    and listens to LLM events while grading; `ask()` runs one question and returns its `Run`."""

    def __init__(self):
        self.indexed = {}            # id(engine) -> ids of the documents indexed during setup()
        self._engines = []           # those engines, kept alive so that no other object gets their id
        self.reference_used = False  # the kit's CarbonQAAgent answered something
        self._setup = False
        self._run = None
        self._undo = []

    def __enter__(self):
        from ..agents import CarbonQAAgent
        from ..rag.engine import RAGEngine
        watch = self

        def index_documents(engine, documents, *args, **kwargs):
            if isinstance(documents, Iterator):   # a generator is read once: by both of us
                documents = list(documents)
            result = originals["index"](engine, documents, *args, **kwargs)
            if watch._setup:
                if id(engine) not in watch.indexed:
                    watch._engines.append(engine)
                watch.indexed.setdefault(id(engine), set()).update(str(d["id"]) for d in documents)
            return result

        def query_settings(engine, *args, **kwargs):
            settings = originals["settings"](engine, *args, **kwargs)
            if watch._run is not None:
                watch._run.searches.append(settings[1])
            return settings

        def execute(agent, *args, **kwargs):
            watch.reference_used = True
            return originals["execute"](agent, *args, **kwargs)

        originals = {"index": RAGEngine.index_documents, "settings": RAGEngine.query_settings,
                     "execute": CarbonQAAgent.execute}
        for cls, name, new in ((RAGEngine, "index_documents", index_documents),
                               (RAGEngine, "query_settings", query_settings),
                               (CarbonQAAgent, "execute", execute)):
            old = cls.__dict__[name]
            setattr(cls, name, new)
            self._undo.append((cls, name, old))
        self._undo.append(events.subscribe(self._on_event))
        return self

    def __exit__(self, *exc):
        for undo in reversed(self._undo):
            if callable(undo):
                undo()
            else:
                cls, name, old = undo
                setattr(cls, name, old)
        self._undo = []
        return False

    def setup(self, agent):
        """Run agent.setup(), noting what it indexes."""
        self._setup = True
        try:
            agent.setup()
        finally:
            self._setup = False

    def ask(self, agent, query):
        run = Run(query)
        own = agent.__dict__.get("execute")
        original = agent.execute

        def execute():
            result = original()
            if isinstance(result, Mapping):
                run.raw_keys = frozenset(result)
            return result

        agent.__dict__["execute"] = execute
        self._run = run
        try:
            run.result, run.error = ask(agent, query)
        finally:
            self._run = None
            if own is None:
                agent.__dict__.pop("execute", None)
            else:
                agent.__dict__["execute"] = own
        return run

    def _on_event(self, event):
        # Any thread: an agent that calls its model from a worker thread still made the call.
        run = self._run
        if run is None:
            return
        if event.get("kind") == "llm_call":
            if getattr(event["record"], "cached", False):
                run.cache_calls += 1
            else:
                run.calls.append(event)
        elif event.get("kind") == "llm_error":
            run.failures.append(event)


def same_money(reported, measured):
    """A reported cost matches the measured one (1% or rounding to 4-6 decimals); unknown prices
    (measured None) match None or NaN."""
    if measured is None:
        return reported is None or (isinstance(reported, float) and math.isnan(reported))
    if not isinstance(reported, (int, float)) or isinstance(reported, bool) or math.isnan(reported):
        return False
    return math.isclose(reported, measured, rel_tol=0.01, abs_tol=1e-6) or any(
        math.isclose(reported, round(measured, n), abs_tol=1e-9) for n in (4, 5, 6))
