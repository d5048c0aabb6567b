"""CostTracker: what the ledger says was spent, across sessions, kernels and (with a shared
backend) the whole class (workshop Part 5)."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ... import backends
from ...errors import ConfigurationError
from ...response import USD
from . import store, writer
from .periods import period_bounds
from .store import BILLED, COLUMNS, MEMORY, SOURCE

GROUPS = ("provider", "model", "requested_model", "session", "status", "mode", "attendee", "source", "day",
          "month")


class CostTracker:
    """Spend across all sessions and kernels, from the ledger (workshop Part 5).

        tracker = CostTracker()
        tracker.get_daily_cost(), tracker.get_monthly_cost()
        tracker.get_cost_breakdown()              # {"openai": 45.23, "anthropic": 12.45}, all time
        tracker.get_cost_breakdown(by="model", period="month")
        tracker.to_dataframe()                    # one row per call

    Creating one attaches the ledger writer; with `path=` that file also receives every call of
    this process from now on (until `close()`).

    Totals are money spent: live calls (exact, or estimated for attempts that broke off; see
    `get_cost_summary`). Replayed calls and the local model cost nothing; their rows carry the price
    they would have had (source "recorded" / "local") and count only with `include_free=True`.
    `to_dataframe()` lists every row, with its `source` and whether it was `billed`.
    """

    def __init__(self, path: str | os.PathLike | None = None, clock: Callable[[], float] = time.time,
                 attendee: str | None = None, include_free: bool = False):
        writer.ensure_default()
        self.include_free = bool(include_free)
        self._explicit = path is not None
        self._shared = None
        if path is None:
            backend = backends.current()
            if backend is not None:
                self._shared = writer.shared_ledger(backend)
        if self._shared is not None:
            self.path = self._shared.label
        else:
            self.path = (MEMORY if path == MEMORY else os.path.abspath(os.path.expanduser(str(path)))) \
                if path is not None else store.default_path()
        if attendee is not None and not isinstance(attendee, str):
            raise ConfigurationError(f"attendee must be a name (a string), got {type(attendee).__name__}.")
        self.attendee = attendee
        self._clock = clock
        if self._explicit:
            writer.watch(self.path)

    def __repr__(self):
        who = f", attendee={self.attendee!r}" if self.attendee else ""
        free = ", include_free=True" if self.include_free else ""
        return f"CostTracker(path={self.path!r}{who}{free})"

    @property
    def shared(self) -> bool:
        """True when this tracker reads the class-wide ledger in the shared backend."""
        return self._shared is not None

    @property
    def _store(self):
        writer.flush()   # read-your-writes: rows this process queued are in the file before we read it
        if self._shared is not None:
            return self._shared.synced()
        return store.for_path(self.path)

    def close(self) -> None:
        """Stop feeding an explicit `path` (the default ledger keeps recording)."""
        if self._explicit:
            writer.unwatch(self.path)

    def add_row(self, **row: Any) -> None:
        """Record a call made outside ChatSession (fields as in COLUMNS)."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ConfigurationError(f"Unknown ledger field(s): {', '.join(sorted(unknown))}.")
        writer.write_rows(self.path, [row])

    def _where(self, period, all_rows=False):
        start, end = period_bounds(period, self._clock())
        terms, args = ([] if all_rows or self.include_free else [BILLED]), []
        if start is not None:
            terms.append("ts >= ? AND ts < ?")
            args += [start, end]
        if self.attendee is not None:
            terms.append("attendee = ?")
            args.append(self.attendee)
        return (" WHERE " + " AND ".join(terms) if terms else ""), tuple(args)

    def get_total_cost(self, period: str = "all") -> USD:
        where, args = self._where(period)
        return USD(round(self._store.run(f"SELECT TOTAL(cost) FROM calls{where}", args)[0][0], 8))

    def get_daily_cost(self) -> USD:
        """USD spent today (local calendar day), all sessions and kernels."""
        return self.get_total_cost("day")

    def get_monthly_cost(self) -> USD:
        """USD spent this calendar month."""
        return self.get_total_cost("month")

    def get_cost_summary(self, period: str = "all") -> dict[str, USD]:
        """Money spent and what is only priced as if, apart: {"spent", "spent_exact", "spent_estimated"
        (attempts that broke off, replies priced at the requested model), "free_as_if" (replayed and
        local calls at the price they would have had)} in USD."""
        where, args = self._where(period, all_rows=True)
        rows = self._store.run(f"SELECT {BILLED} AS billed, cost_is_estimate, TOTAL(cost) FROM calls{where} "
                               f"GROUP BY 1, 2", args)
        got = {(bool(b), bool(e)): c for b, e, c in rows}
        exact, estimated = got.get((True, False), 0.0), got.get((True, True), 0.0)
        free = got.get((False, False), 0.0) + got.get((False, True), 0.0)
        return {k: USD(round(v, 8)) for k, v in (("spent", exact + estimated), ("spent_exact", exact),
                                                 ("spent_estimated", estimated), ("free_as_if", free))}

    def get_cost_breakdown(self, by: str = "provider", period: str = "all") -> dict[str, USD]:
        """{key: USD} by "provider" (default), "model", "requested_model", "session", "status",
        "mode", "source", "day" or "month", most expensive first; `period` "all" (default), "day" or "month"."""
        if by not in GROUPS:
            raise ConfigurationError(f"by must be one of {', '.join(GROUPS)}, got {by!r}.")
        key = {"day": "date(ts, 'unixepoch', 'localtime')", "source": SOURCE,
               "month": "strftime('%Y-%m', ts, 'unixepoch', 'localtime')"}.get(by, by)
        where, args = self._where(period)
        rows = self._store.run(f"SELECT {key} AS k, TOTAL(cost) AS c FROM calls{where} GROUP BY k "
                               f"ORDER BY c DESC, k", args)
        return {k: USD(round(c, 8)) for k, c in rows}

    def get_call_count(self, period: str = "all") -> int:
        """Calls in `period`, free ones included (a count is not spend)."""
        where, args = self._where(period, all_rows=True)
        return self._store.run(f"SELECT COUNT(*) FROM calls{where}", args)[0][0]

    def to_dataframe(self, period: str = "all") -> Any:
        """Every call of `period` as a pandas DataFrame (`time` as local datetimes), free ones included:
        `source` says where each reply came from and `billed` whether it cost money."""
        import pandas as pd
        where, args = self._where(period, all_rows=True)
        cols = [c if c != "source" else f"{SOURCE} AS source" for c in COLUMNS]
        rows = self._store.run(f"SELECT id, {', '.join(cols)}, {BILLED} FROM calls{where} ORDER BY ts, id", args)
        df = pd.DataFrame(rows, columns=["id", *COLUMNS, "billed"])
        df.insert(1, "time", pd.to_datetime(df["ts"].map(datetime.fromtimestamp)))
        df["cost"] = df["cost"].astype(float)
        for col in ("cost_is_estimate", "cached", "streamed", "fallback_used", "billed"):
            df[col] = df[col].astype(bool)
        return df

    def mark_alert_fired(self, alert: str, period: str) -> bool:
        """True the first time (across processes) `alert` is marked for `period`."""
        if self._shared is not None:
            return self._shared.mark_alert_fired(alert, period)
        cur = self._store.run("INSERT OR IGNORE INTO alerts_fired (alert, period, ts) VALUES (?, ?, ?)",
                              (alert, period, time.time()), write=True)
        return cur.rowcount == 1
