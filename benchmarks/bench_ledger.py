"""Cost ledger write throughput (rows/s) with 1 and 2 writer processes on one SQLite file.

Two paths are measured:
- "per-row commit": CostTracker.add_row, one transaction per row (the explicit API);
- "event path": rows as sessions produce them (llm_call events), written by the background writer
  in batches; timed until `ledger.flush()` returns, so every row is on disk.
Each writer process starts at a barrier; the figure is all rows / wall time until the last finishes.
Rows are checked afterwards: none may be lost.

Usage: .venv/bin/python benchmarks/bench_ledger.py [rows_per_process]
"""
import multiprocessing
import os
import sys
import tempfile
import time

os.environ["GLWORK_LEDGER"] = "off"   # only the benchmark's own file is written


def writer(path, n, mode, start, out):
    from glwork import events
    from glwork.monitoring import ledger
    from glwork.monitoring.ledger import CostTracker
    from glwork.response import Usage
    from glwork.session import CallRecord

    tracker = CostTracker(path=path)
    tracker.get_call_count()          # open the file before the clock starts
    start.wait()
    t0 = time.perf_counter()
    if mode == "per-row commit":
        for i in range(n):
            tracker.add_row(provider="openai", model="gpt-4o-mini", input_tokens=22, output_tokens=3, cost=5e-6,
                            session=f"{os.getpid()}-{i}")
    else:
        ledger.ensure_default()
        for i in range(n):
            rec = CallRecord("openai", "gpt-4o-mini", "gpt-4o-mini", Usage(22, 3), 5e-6, False, 900.0)
            events.emit("llm_call", record=rec, session=f"{os.getpid()}-{i}", mode="bench")
        ledger.flush(120)
    out.put(time.perf_counter() - t0)
    tracker.close()


def run(mode, processes, n):
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ledger.sqlite3")
        start, out = ctx.Barrier(processes + 1), ctx.Queue()
        procs = [ctx.Process(target=writer, args=(path, n, mode, start, out)) for _ in range(processes)]
        for p in procs:
            p.start()
        start.wait()
        t0 = time.perf_counter()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        from glwork.monitoring.ledger import CostTracker
        t = CostTracker(path=path)
        rows = t.get_call_count()
        t.close()
    lost = processes * n - rows
    print(f"  {mode:15s} {processes} writer(s) x {n:6d} rows: {rows / wall:9.0f} rows/s "
          f"({wall:.2f} s){'' if not lost else f'  LOST {lost} ROWS'}")
    return lost == 0


def main(n=5000):
    print(f"Ledger write throughput (SQLite {__import__('sqlite3').sqlite_version}, WAL, synchronous=NORMAL):")
    ok = True
    for mode, rows in (("per-row commit", n), ("event path", n * 4)):
        for processes in (1, 2):
            ok &= run(mode, processes, rows)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000) else 1)
