"""Calendar periods of spend: today and this month, in the local calendar (the ledger's totals,
alerts and the class budget count by them)."""
from __future__ import annotations

import time
from datetime import datetime

from ...errors import ConfigurationError

PERIODS = ("day", "month")


def period_bounds(period: str | None, now: float | None = None) -> tuple[float | None, float | None]:
    """(start, end) unix times of "day" / "month" (local calendar) or "all" (None, None)."""
    if period in (None, "all"):
        return None, None
    t = datetime.fromtimestamp(now if now is not None else time.time())
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = datetime.fromordinal(start.toordinal() + 1)
    elif period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    else:
        raise ConfigurationError(f"period must be 'day', 'month' or 'all', got {period!r}.")
    return start.timestamp(), end.timestamp()


def period_key(period: str, now: float | None = None) -> str:
    """"YYYY-MM-DD" for "day", "YYYY-MM" for "month": the name of the period `now` falls in."""
    t = datetime.fromtimestamp(now if now is not None else time.time())
    return t.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")
