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
"""
import math
import threading

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
    def __init__(self, limit):
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0 \
                or math.isinf(limit):
            raise ConfigurationError(f"cost_limit must be a positive number of USD, got {limit!r}.")
        self.limit = float(limit)
        self.spent = 0.0
        self.reserved = 0.0
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
        return Hold(self, worst_case)


class Hold:
    """A reservation: `settle(cost)` books the real cost, `release()` books nothing."""

    def __init__(self, budget, amount):
        self.budget, self.amount, self.open = budget, amount, True

    def settle(self, cost):
        b = self.budget
        with b._lock:
            if self.open:
                self.open = False
                b.reserved -= self.amount
                b.spent += self.amount if cost is None or cost != cost else cost

    def release(self):
        self.settle(0.0)
