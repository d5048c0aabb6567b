"""The class budget (`ClassBudget().set_limits(day=50, month=500)`): one spend counter per calendar
day and month for every kernel of a class, in the shared backend (GLWORK_BACKEND_URL=redis://...),
with the same reserve-before-send rule, atomic across kernels (a Lua script). With a shared backend
every call that spends money reserves against it (live and record routes, fallbacks included),
with or without a cost_limit of the session's own. Holds are renewed while their call runs.
Redis unreachable or refusing writes: fail closed. A call is refused (BudgetExceededError, nothing
sent) unless this kernel last saw no class limit set; spend settled during the outage is added when
Redis is back, or by the next kernel if this one exits first (a side file, counted once).
Embedded (no backend URL): the class budget is this kernel's own counter, used by sessions created
after a limit was set.
"""
from __future__ import annotations

import atexit
import itertools
import math
import os
import threading
import time
from collections.abc import Callable
from types import EllipsisType
from typing import Any

from .. import backends
from ..backends import BackendUnavailable
from ..errors import BudgetExceededError, ConfigurationError
from ..monitoring import spool
from ..monitoring.ledger.periods import PERIODS, period_key
from ..monitoring.ledger.store import spool_dir
from ..security import get_logger

log = get_logger(__name__)
EXIT_TIMEOUT_S = 3.0
# The shared counters count whole nano-USD: integer adds are exact, so a thousand kernels adding
# fractions of a cent never drift.
NANO = 1_000_000_000


def to_nano(usd: float, up: bool = False) -> int:
    """USD -> whole nano-USD; `up` rounds a reservation up so it never under-reserves."""
    v = float(usd) * NANO
    return int(math.ceil(v - 1e-6)) if up else int(round(v))


_hold_ids = itertools.count()
_local: dict[str, Any] = {"limits": {"day": None, "month": None}, "spent": {}, "reserved": {},
                          "lock": threading.Lock()}


def _period_keys(now: float) -> tuple[str, str]:
    return period_key("day", now), period_key("month", now)


class ClassBudget:
    """Spending limits for a whole class per calendar day and month (USD), checked before each call.

        ClassBudget().set_limits(day=50.00, month=500.00)    # the instructor, once
        ClassBudget().get_status()                            # limits, spent, in flight, remaining

    The counters live in the shared backend (`backend`: None = the configured one), so every
    kernel reserves against the same dollars; embedded, they are this process's own.
    """

    def __init__(self, backend: Any = None, clock: Callable[[], float] = time.time):
        self.backend = backends.current() if backend is None else backends.get(backend)
        self._clock = clock
        self._counters = None
        if self.backend is not None:
            self._counters = self.backend.budget_counters()
        self._pending: list[Any] = []           # settles that could not reach Redis, sent when it is back
        self._imported = self._counters is None   # side files of earlier kernels: read once
        # the limits seen last, for the fail-closed decision
        self._known_limits: dict[str, float | None] | None = None
        self._lock = threading.Lock()
        self._keeper = _HoldKeeper(self) if self._counters is not None else None

    def __repr__(self):
        return f"ClassBudget(backend={self.label!r})"

    @property
    def label(self) -> str:
        return self.backend.label if self.backend is not None else "local (this kernel)"

    @property
    def shared(self) -> bool:
        return self.backend is not None

    def set_limits(self, day: float | None | EllipsisType = ...,
                   month: float | None | EllipsisType = ...) -> dict[str, float | None]:
        """Set (a number of USD) or remove (None) the class's daily and/or monthly limit."""
        limits: dict[str, float | None] = {}
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
        self._counters.set_limits({p: None if v is None else to_nano(v) for p, v in limits.items()})
        return self.get_limits()

    def get_limits(self) -> dict[str, float | None]:
        return {p: v["limit"] for p, v in self.get_status().items() if p in PERIODS}

    @property
    def has_limits(self) -> bool:
        """True if a limit is set (for a shared backend: as last seen; unknown counts as set)."""
        if self._counters is None:
            return any(v is not None for v in _local["limits"].values())
        return self._known_limits is None or any(v is not None for v in self._known_limits.values())

    def get_status(self) -> dict[str, dict[str, Any]]:
        """{"day": {...}, "month": {...}} with limit (None: none), spent, reserved, remaining (USD).
        Raises glwork.backends.BackendUnavailable while the shared backend cannot be reached."""
        day, month = _period_keys(self._clock())
        keys = {"day": day, "month": month}
        if self._counters is None:
            with _local["lock"]:
                raw = {p: (_local["limits"][p], _local["spent"].get((p, keys[p]), 0.0),
                           _local["reserved"].get((p, keys[p]), 0.0)) for p in PERIODS}
        else:
            self._flush_pending()
            counted = self._counters.status(day, month)
            raw = {p: (None if lim is None else lim / NANO, sp / NANO, res / NANO)
                   for p, (lim, sp, res) in counted.items()}
            self._known_limits = {p: raw[p][0] for p in PERIODS}
        return {p: {"period": keys[p], "limit": lim, "spent": round(sp, 8), "reserved": round(res, 8),
                    "remaining": None if lim is None else round(lim - sp - res, 8)}
                for p, (lim, sp, res) in raw.items()}

    def reserve(self, worst_case: float, provider: str | None = None, model: str | None = None) -> ClassHold:
        """A ClassHold for `worst_case` USD, or BudgetExceededError (nothing sent)."""
        now = self._clock()
        day, month = _period_keys(now)
        if self._counters is None:
            return self._reserve_local(worst_case, day, month, provider, model)
        amount = to_nano(worst_case, up=True)
        hold_id = f"{os.getpid()}-{id(self):x}-{next(_hold_ids)}"
        try:
            self._flush_pending()
            ok, detail = self._counters.reserve(amount, hold_id, day, month)
        except BackendUnavailable:
            if self._known_limits is not None and not any(v is not None for v in self._known_limits.values()):
                return ClassHold(self, hold_id, amount, day, month)   # no class limit to protect: count later
            raise BudgetExceededError(
                f"The class budget is kept in {self.label}, which cannot be reached now, so this call was not "
                f"sent ({model}): a class budget refuses calls it cannot check rather than risk overspending. "
                f"Try again in a moment; if it persists, the instructor should check that redis-server runs.",
                provider=provider) from None
        if ok:
            self._known_limits = {p: None if v is None else v / NANO for p, v in detail.items()}
            hold = ClassHold(self, hold_id, amount, day, month)
            if self._keeper is not None:   # always, with counters
                self._keeper.add(hold_id)
            return hold
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
        # An unknown cost (no price, or a partial reply) books the worst case that was reserved.
        unknown = cost is None or cost != cost
        if self._counters is None:
            cost = hold.amount if unknown else max(float(cost), 0.0)
            keys = {"day": hold.day, "month": hold.month}
            with _local["lock"]:
                for p in PERIODS:
                    k = (p, keys[p])
                    _local["reserved"][k] = _local["reserved"].get(k, 0.0) - hold.amount
                    _local["spent"][k] = _local["spent"].get(k, 0.0) + cost
            return
        self._keeper.discard(hold.hold_id)
        item = (hold.hold_id, hold.amount if unknown else to_nano(max(float(cost), 0.0)), hold.amount,
                hold.day, hold.month)
        try:
            self._flush_pending()
            self._counters.settle(*item)
        except BackendUnavailable:
            with self._lock:
                self._pending.append(item)   # the hold itself expires in Redis; the spend must not
            _exit_flush.add(self)

    def _flush_pending(self):
        if not self._imported:
            self._imported = True
            self._import_spooled()
        with self._lock:
            pending, self._pending = self._pending, []
        for i, item in enumerate(pending):
            try:
                self._counters.settle(*item)
            except BaseException:
                with self._lock:
                    self._pending[:0] = pending[i:]
                raise

    @property
    def pending(self) -> int:
        """Settles waiting for the shared backend (spend booked while it was unreachable)."""
        return len(self._pending)

    def _spool_stem(self):
        return os.path.join(spool_dir(), f"class-budget-{self.backend.config.namespace}")

    def _import_spooled(self):
        """Settles a previous kernel saved at exit while Redis was down: sent now (each counts once)."""
        with self._lock:
            spool.import_into(self._spool_stem(), lambda rows: self._pending.extend(
                (r["hold_id"], int(r["cost"]), int(r["amount"]), r["day"], r["month"]) for r in rows))

    def flush_at_exit(self, timeout: float = EXIT_TIMEOUT_S) -> bool:
        """Send settles still waiting; what cannot reach Redis in `timeout` s is saved to a side file
        that the next kernel using this backend sends (spend is never dropped)."""
        if self.backend is None:
            return True               # embedded: nothing waits for Redis
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            self.backend.link.ping()
            try:
                self._flush_pending()
            except BackendUnavailable:
                time.sleep(0.2)
        with self._lock:
            left, self._pending = self._pending, []
        if left:
            keys = ("hold_id", "cost", "amount", "day", "month")
            where = spool.write(self._spool_stem(), [dict(zip(keys, item)) for item in left])
            if where:
                log.warning("%d class-budget settle(s) could not reach %s before exit; saved to %s and sent by "
                            "the next kernel that uses it.", len(left), self.label, where)
        return not left


class _HoldKeeper:
    """Renews this kernel's open class holds every third of their lifetime, so a call that runs past
    HOLD_TTL_S (a long stream, record mode's retries) keeps its reservation. A kernel that dies stops
    renewing and its holds expire as before."""

    def __init__(self, budget):
        self.budget = budget
        self._open = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def add(self, hold_id):
        with self._lock:
            self._open.add(hold_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="glwork-class-holds", daemon=True)
                self._thread.start()

    def discard(self, hold_id):
        with self._lock:
            self._open.discard(hold_id)

    def _run(self):
        counters = self.budget._counters
        while True:
            self._wake.wait(max(counters.hold_ttl / 3.0, 0.05))
            with self._lock:
                ids = list(self._open)
                if not ids:
                    self._thread = None
                    return
            try:
                counters.renew(ids)
            except BackendUnavailable:
                pass   # the link warned; tried again next round


_exit_flush: set[ClassBudget] = set()    # class budgets with settles waiting for Redis


@atexit.register
def _flush_all_at_exit():
    for budget in list(_exit_flush):
        if budget._pending:
            budget.flush_at_exit()


class ClassHold:
    """A reservation on the class budget: settle(cost) once (release() = settle(0))."""

    def __init__(self, budget: ClassBudget, hold_id: str, amount: float | int, day: str, month: str):
        self.budget, self.hold_id, self.amount, self.day, self.month = budget, hold_id, amount, day, month
        self.open = True

    def settle(self, cost: float | None) -> None:
        if self.open:
            self.open = False
            self.budget._settle(self, cost)

    def release(self) -> None:
        self.settle(0.0)


_class_budgets: dict[Any, ClassBudget] = {}


def class_budget() -> ClassBudget:
    """This process's ClassBudget for the configured backend."""
    backend = backends.current()
    key = (None if backend is None else backend.label, os.getpid())
    budget = _class_budgets.get(key)
    if budget is None:
        budget = _class_budgets[key] = ClassBudget(backend=None if backend is None else backend.config)
    return budget


