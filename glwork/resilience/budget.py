"""Per-session spending limit (`ChatSession(cost_limit=10.00)`), checked before a call is sent.

Each call reserves its worst-case cost under a lock: estimated prompt tokens plus 25%, all at the
uncached input price, plus `max_tokens` (a session with a cost_limit and no max_tokens sends
DEFAULT_MAX_TOKENS so the worst case is real) at the output price. A call that would take
spent + reserved past the limit is refused with BudgetExceededError before anything is sent, so
concurrent calls from threads can never pass the limit together. When the reply comes back the
reservation is replaced by the real cost. (If a prompt needs more than its estimate plus 25%,
the surplus is spent and later calls are refused.)

A model with no known price cannot be bounded: the call is refused (register a price with
glwork.monitoring.pricing.register_price). A limit nobody can check is not a limit.

The class budget (`ClassBudget().set_limits(day=50, month=500)`): one spend counter per calendar
day and month for every kernel of a class, in the shared backend (GLWORK_BACKEND_URL=redis://...),
with the same reserve-before-send rule, atomic across kernels (a Lua script). With a shared backend
every live session reserves against it, with or without its own cost_limit (see `session_budget`).
Redis unreachable: fail closed. A call is refused (BudgetExceededError, nothing sent) unless this
kernel last saw no class limit set; spend settled during the outage is added when Redis is back.
Embedded (no backend URL): the class budget is this kernel's own counter, used by sessions created
after a limit was set.
"""
import itertools
import math
import os
import threading
import time

from ..errors import BudgetExceededError, ConfigurationError
from ..monitoring import pricing

DEFAULT_MAX_TOKENS = 1024
PROMPT_MARGIN = 1.25


def worst_case_cost(model, prompt_tokens, max_tokens, provider=None):
    price = pricing.lookup(model)
    if price is None:
        raise BudgetExceededError(
            f"No price is known for model {model!r}, so cost_limit cannot be enforced and the call was "
            f"not sent. Add a price with glwork.monitoring.pricing.register_price({model!r}, input=..., "
            f"output=...) (USD per 1M tokens).", provider=provider)
    prompt = math.ceil(prompt_tokens * PROMPT_MARGIN)
    return (prompt * price.input + max_tokens * price.output) / 1_000_000


class Budget:
    """A session's cost_limit; `class_budget` (a ClassBudget) is reserved against as well."""

    def __init__(self, limit, class_budget=None):
        if limit is None and class_budget is not None:
            limit = math.inf    # class budget only: no limit of the session's own
        elif isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0 \
                or math.isinf(limit):
            raise ConfigurationError(f"cost_limit must be a positive number of USD, got {limit!r}.")
        self.limit = float(limit)
        self.spent = 0.0
        self.reserved = 0.0
        self.class_budget = class_budget
        self._lock = threading.Lock()

    def __repr__(self):
        return f"Budget(limit={self.limit}, spent={self.spent:.6f}, reserved={self.reserved:.6f})"

    @property
    def remaining(self):
        with self._lock:
            return self.limit - self.spent - self.reserved

    def reserve(self, worst_case, provider=None, model=None):
        with self._lock:
            if self.spent + self.reserved + worst_case > self.limit:
                raise BudgetExceededError(
                    f"cost_limit ${self.limit:.2f} would be exceeded: spent ${self.spent:.4f}, "
                    f"in flight ${self.reserved:.4f}, this call up to ${worst_case:.4f} "
                    f"({model}). The call was not sent.", provider=provider)
            self.reserved += worst_case
        shared = None
        if self.class_budget is not None:
            try:
                shared = self.class_budget.reserve(worst_case, provider, model)
            except BaseException:
                with self._lock:
                    self.reserved -= worst_case
                raise
        return Hold(self, worst_case, shared)


class Hold:
    """A reservation: `settle(cost)` books the real cost, `release()` books nothing."""

    def __init__(self, budget, amount, shared=None):
        self.budget, self.amount, self.open, self.shared = budget, amount, True, shared

    def settle(self, cost):
        b = self.budget
        with b._lock:
            if not self.open:
                return
            self.open = False
            b.reserved -= self.amount
            b.spent += self.amount if cost is None or cost != cost else cost
        if self.shared is not None:
            self.shared.settle(cost)

    def release(self):
        self.settle(0.0)


# ---- the class budget ------------------------------------------------------------------------------
PERIODS = ("day", "month")
_hold_ids = itertools.count()
_local = {"limits": {"day": None, "month": None}, "spent": {}, "reserved": {}, "lock": threading.Lock()}


def _period_keys(now):
    from ..monitoring.ledger import period_key
    return period_key("day", now), period_key("month", now)


class ClassBudget:
    """Spending limits for a whole class per calendar day and month (USD), checked before each call.

        ClassBudget().set_limits(day=50.00, month=500.00)    # the instructor, once
        ClassBudget().get_status()                            # limits, spent, in flight, remaining

    The counters live in the shared backend (`backend`: None = the configured one), so every
    kernel reserves against the same dollars; embedded, they are this process's own.
    """

    def __init__(self, backend=None, clock=time.time):
        from .. import backends
        self.backend = backends.current() if backend is None else backends.get(backend)
        self._clock = clock
        self._counters = None
        if self.backend is not None:
            from ..backends.budget import RedisBudgetCounters
            self._counters = self.backend.part("class_budget", RedisBudgetCounters)
        self._pending = []           # settles that could not reach Redis, sent when it is back
        self._known_limits = None    # the limits seen last (for the fail-closed decision)
        self._lock = threading.Lock()

    def __repr__(self):
        return f"ClassBudget(backend={self.label!r})"

    @property
    def label(self):
        return self.backend.label if self.backend is not None else "local (this kernel)"

    @property
    def shared(self):
        return self.backend is not None

    def set_limits(self, day=..., month=...):
        """Set (a number of USD) or remove (None) the class's daily and/or monthly limit."""
        limits = {}
        for period, value in (("day", day), ("month", month)):
            if value is ...:
                continue
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not value > 0 or math.isinf(value)):
                raise ConfigurationError(f"The class {period} limit must be a positive number of USD or None "
                                         f"(no limit), got {value!r}.")
            limits[period] = value
        if not limits:
            raise ConfigurationError("Say which limit: set_limits(day=50.0) and/or month=500.0 (None removes one).")
        if self._counters is None:
            with _local["lock"]:
                _local["limits"].update({p: None if v is None else float(v) for p, v in limits.items()})
            return self.get_limits()
        from ..backends.budget import to_nano
        self._counters.set_limits({p: None if v is None else to_nano(v) for p, v in limits.items()})
        return self.get_limits()

    def get_limits(self):
        return {p: v["limit"] for p, v in self.get_status().items() if p in PERIODS}

    @property
    def has_limits(self):
        """True if a limit is set (for a shared backend: as last seen; unknown counts as set)."""
        if self._counters is None:
            return any(v is not None for v in _local["limits"].values())
        return self._known_limits is None or any(v is not None for v in self._known_limits.values())

    def get_status(self):
        """{"day": {...}, "month": {...}} with limit (None: none), spent, reserved, remaining (USD).
        Raises glwork.backends.BackendUnavailable while the shared backend cannot be reached."""
        day, month = _period_keys(self._clock())
        keys = {"day": day, "month": month}
        if self._counters is None:
            with _local["lock"]:
                raw = {p: (_local["limits"][p], _local["spent"].get((p, keys[p]), 0.0),
                           _local["reserved"].get((p, keys[p]), 0.0)) for p in PERIODS}
        else:
            from ..backends.budget import NANO
            self._flush_pending()
            counted = self._counters.status(day, month)
            raw = {p: (None if lim is None else lim / NANO, sp / NANO, res / NANO)
                   for p, (lim, sp, res) in counted.items()}
            self._known_limits = {p: raw[p][0] for p in PERIODS}
        return {p: {"period": keys[p], "limit": lim, "spent": round(sp, 8), "reserved": round(res, 8),
                    "remaining": None if lim is None else round(lim - sp - res, 8)}
                for p, (lim, sp, res) in raw.items()}

    def reserve(self, worst_case, provider=None, model=None):
        """A ClassHold for `worst_case` USD, or BudgetExceededError (nothing sent)."""
        now = self._clock()
        day, month = _period_keys(now)
        if self._counters is None:
            return self._reserve_local(worst_case, day, month, provider, model)
        from ..backends.budget import NANO, BackendUnavailable, to_nano
        amount = to_nano(worst_case, up=True)
        hold_id = f"{os.getpid()}-{id(self):x}-{next(_hold_ids)}"
        try:
            self._flush_pending()
            ok, detail = self._counters.reserve(amount, hold_id, day, month)
        except BackendUnavailable:
            if self._known_limits is not None and not any(v is not None for v in self._known_limits.values()):
                return ClassHold(self, None, amount, day, month)   # no class limit to protect: count later
            raise BudgetExceededError(
                f"The class budget is kept in {self.label}, which cannot be reached now, so this call was not "
                f"sent ({model}): a class budget refuses calls it cannot check rather than risk overspending. "
                f"Try again in a moment; if it persists, the instructor should check that redis-server runs.",
                provider=provider) from None
        if ok:
            self._known_limits = {p: None if v is None else v / NANO for p, v in detail.items()}
            return ClassHold(self, hold_id, amount, day, month)
        period, limit, spent, held = detail
        raise BudgetExceededError(
            f"The class's {period} budget ${limit / NANO:.2f} would be exceeded: spent ${spent / NANO:.4f}, "
            f"in flight ${held / NANO:.4f}, this call up to ${amount / NANO:.4f} ({model}). The call was not sent.",
            provider=provider)

    def _reserve_local(self, worst_case, day, month, provider, model):
        keys = {"day": day, "month": month}
        with _local["lock"]:
            for p in PERIODS:
                limit = _local["limits"][p]
                spent = _local["spent"].get((p, keys[p]), 0.0)
                held = _local["reserved"].get((p, keys[p]), 0.0)
                if limit is not None and spent + held + worst_case > limit:
                    raise BudgetExceededError(
                        f"The class's {p} budget ${limit:.2f} would be exceeded: spent ${spent:.4f}, in flight "
                        f"${held:.4f}, this call up to ${worst_case:.4f} ({model}). The call was not sent.",
                        provider=provider)
            for p in PERIODS:
                _local["reserved"][(p, keys[p])] = _local["reserved"].get((p, keys[p]), 0.0) + worst_case
        return ClassHold(self, "local", worst_case, day, month)

    def _settle(self, hold, cost):
        cost = 0.0 if cost is None or cost != cost else max(float(cost), 0.0)
        if self._counters is None:
            keys = {"day": hold.day, "month": hold.month}
            with _local["lock"]:
                for p in PERIODS:
                    k = (p, keys[p])
                    _local["reserved"][k] = _local["reserved"].get(k, 0.0) - hold.amount
                    _local["spent"][k] = _local["spent"].get(k, 0.0) + cost
            return
        from ..backends.budget import BackendUnavailable, to_nano
        item = (hold.hold_id or "-", to_nano(cost), hold.amount, hold.day, hold.month)
        try:
            self._flush_pending()
            self._counters.settle(*item)
        except BackendUnavailable:
            with self._lock:
                self._pending.append(item)   # the hold itself expires in Redis; the spend must not

    def _flush_pending(self):
        with self._lock:
            pending, self._pending = self._pending, []
        for i, item in enumerate(pending):
            try:
                self._counters.settle(*item)
            except BaseException:
                with self._lock:
                    self._pending[:0] = pending[i:]
                raise


class ClassHold:
    """A reservation on the class budget: settle(cost) once (release() = settle(0))."""

    def __init__(self, budget, hold_id, amount, day, month):
        self.budget, self.hold_id, self.amount, self.day, self.month = budget, hold_id, amount, day, month
        self.open = True

    def settle(self, cost):
        if self.open:
            self.open = False
            self.budget._settle(self, cost)

    def release(self):
        self.settle(0.0)


_class_budgets = {}


def class_budget():
    """This process's ClassBudget for the configured backend."""
    from .. import backends
    backend = backends.current()
    key = (None if backend is None else backend.label, os.getpid())
    budget = _class_budgets.get(key)
    if budget is None:
        budget = _class_budgets[key] = ClassBudget(backend=None if backend is None else backend.config)
    return budget


def session_budget(cost_limit, mode=None):
    """The Budget a ChatSession reserves against: its cost_limit (may be None) plus the class budget
    when a shared backend is configured (or, embedded, when a class limit is set), for calls that
    spend real money (live / record modes; replay and the local model cost nothing)."""
    shared = None
    if mode in (None, "live", "record"):
        candidate = class_budget()
        if candidate.shared or candidate.has_limits:
            shared = candidate
    if shared is None:
        return Budget(cost_limit) if cost_limit is not None else None
    return Budget(cost_limit, shared)
