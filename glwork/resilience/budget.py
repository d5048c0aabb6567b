"""Per-session spending limit (`ChatSession(cost_limit=10.00)`), checked before a call is sent.

Each attempt reserves its worst-case cost under a lock: estimated prompt tokens plus 25%, all at the
uncached input price, plus the output it may produce at the output price: the session's
`max_tokens`, else the model's own output limit (nothing is sent, so a reasoning model keeps its
whole reply), else DEFAULT_MAX_TOKENS sent as a cap, said once (see Runner._output_bound). A call
that would take spent + reserved past the limit is refused with BudgetExceededError before anything
is sent, so concurrent calls from threads can never pass the limit together. When the reply comes
back the reservation is replaced by the real cost; an attempt that broke off is booked as an
estimate (see glwork.resilience.runner). (If a prompt needs more than its estimate plus 25%, the
surplus is spent and later calls are refused.) Replayed and local calls cost nothing; a session's
own cost_limit still counts them at the price they would have had, so a budget can be tried
without a key.

A model with no known price cannot be bounded: the call is refused (register a price with
glwork.monitoring.pricing.register_price). A limit nobody can check is not a limit.

The class budget, reserved against as well when one is configured: glwork.resilience.class_budget.
"""
from __future__ import annotations

import math
import threading

from ..config import record_backend
from ..errors import BudgetExceededError, ConfigurationError
from ..monitoring import pricing
from .class_budget import ClassBudget, ClassHold, class_budget

DEFAULT_MAX_TOKENS = 1024
PROMPT_MARGIN = 1.25


def worst_case_cost(model: str, prompt_tokens: int, max_tokens: int, provider: str | None = None) -> float:
    """USD a call may cost at most: its prompt plus PROMPT_MARGIN at the input price, `max_tokens` of output."""
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

    def __init__(self, limit: float | None, class_budget: ClassBudget | None = None):
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
    def remaining(self) -> float:
        with self._lock:
            return self.limit - self.spent - self.reserved

    def totals(self) -> tuple[float, float]:
        """(spent, reserved) in USD, read together."""
        with self._lock:
            return self.spent, self.reserved

    def reserve(self, worst_case: float, provider: str | None = None, model: str | None = None,
                billed: bool = True) -> Hold:
        """A Hold for `worst_case` USD, or BudgetExceededError. `billed=False` (a local or replayed call,
        priced as if): the session's own limit only, never the class budget."""
        with self._lock:
            if self.spent + self.reserved + worst_case > self.limit:
                raise BudgetExceededError(
                    f"cost_limit ${self.limit:.2f} would be exceeded: spent ${self.spent:.4f}, "
                    f"in flight ${self.reserved:.4f}, this call up to ${worst_case:.4f} "
                    f"({model}). The call was not sent.", provider=provider)
            self.reserved += worst_case
        shared = None
        if self.class_budget is not None and billed:
            try:
                shared = self.class_budget.reserve(worst_case, provider, model)
            except BaseException:
                with self._lock:
                    self.reserved -= worst_case
                raise
        return Hold(self, worst_case, shared)


class Hold:
    """A reservation: `settle(cost)` books the real cost, `release()` books nothing."""

    def __init__(self, budget: Budget, amount: float, shared: ClassHold | None = None):
        self.budget, self.amount, self.open, self.shared = budget, amount, True, shared

    def settle(self, cost: float | None) -> None:
        b = self.budget
        with b._lock:
            if not self.open:
                return
            self.open = False
            b.reserved -= self.amount
            b.spent += self.amount if cost is None or cost != cost else cost
        if self.shared is not None:
            self.shared.settle(cost)

    def release(self) -> None:
        self.settle(0.0)


def spends_money(mode: str | None) -> bool:
    """True if a call in `mode` reaches a provider that bills it: live, or record against a provider.
    Replay and the local backend (record --backend local included) cost nothing."""
    if mode == "record":
        return record_backend() != "local"
    return mode in (None, "live")


def session_budget(cost_limit: float | None, mode: str | None = None) -> Budget | None:
    """The Budget a ChatSession reserves against: its cost_limit (may be None) plus the class budget
    when a shared backend is configured (or, embedded, when a class limit is set). Which calls reserve
    is decided per route at send time (see Runner._reserves): the class budget takes only routes that
    spend money, so a live fallback behind a local primary is covered too. `mode` is not used (kept
    for callers of the old signature)."""
    candidate = class_budget()
    shared = candidate if (candidate.shared or candidate.has_limits) else None
    if shared is None:
        return Budget(cost_limit) if cost_limit is not None else None
    return Budget(cost_limit, shared)
