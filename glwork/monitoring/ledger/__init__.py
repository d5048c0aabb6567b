"""The cost ledger: a persistent record of every call from every session, in every kernel.

    store.py     the SQLite files: schema and migrations, one connection per file per process
    writer.py    rows in: the background writer thread, fed from the event bus (nothing to wire)
    tracker.py   CostTracker: totals, breakdowns and tables read from the ledger
    periods.py   today and this month, in the local calendar

Where: `CostTracker(path=...)`, else the environment variable GLWORK_LEDGER, else
`platformdirs.user_data_dir("glwork")/ledger.sqlite3`. GLWORK_LEDGER=off (or :memory:) keeps an
in-process ledger only. Totals skip calls whose model has no known price (cost NULL; NaN in
to_dataframe()).

A class-wide ledger: with a shared backend (GLWORK_BACKEND_URL=redis://..., see glwork.backends)
the default ledger is a Redis stream that every kernel appends to; each row names its `attendee`
(GLWORK_ATTENDEE, else the JupyterHub user, else the login name), and CostTracker() answers for the
whole class (CostTracker(attendee="ana") for one attendee; get_cost_breakdown(by="attendee")).
Each kernel reads the stream into an in-memory copy, fetching only rows it has not seen.
Redis unreachable: rows wait in memory and are sent when it is back (each row has an id, so one
sent twice is counted once); rows still waiting at exit go to the local SQLite ledger, with a
warning; reads answer from the rows seen so far. CostTracker(path=...) is always a SQLite file.
"""
from .periods import period_bounds, period_key
from .store import BILLED, COLUMNS, ENV, MEMORY, SCHEMA_VERSION, default_path, spool_dir
from .tracker import GROUPS, CostTracker
from .writer import ensure_default, flush, row_from_record, write_rows

__all__ = ["CostTracker", "ensure_default", "flush", "write_rows", "row_from_record", "default_path", "spool_dir",
           "period_bounds", "period_key", "BILLED", "COLUMNS", "ENV", "GROUPS", "MEMORY", "SCHEMA_VERSION"]
