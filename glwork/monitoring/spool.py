"""Side files for records that could not be written before exit (a full disk, a locked ledger, Redis
down): JSON lines next to their target, imported by the next process that opens that target.

    <stem>.pending-<pid>-<time>.jsonl        written at exit
    <stem>.importing-<pid>                   claimed by one importer (a rename: only one wins)

A claimed file whose import fails is renamed back to pending, so nothing is ever dropped.
"""
import glob
import json
import os
import time

from ..security import get_logger

log = get_logger(__name__)


def write(stem, rows):
    """Write `rows` (JSON-able dicts) to a new side file of `stem`; its path, or None if that failed too."""
    path = f"{stem}.pending-{os.getpid()}-{time.time_ns()}.jsonl"
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=_plain) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path
    except OSError as exc:
        log.warning("%d record(s) could not be saved for later either (%s); they are lost.", len(rows), exc)
        return None


def pending(stem):
    return sorted(glob.glob(glob.escape(stem) + ".pending-*.jsonl"))


def import_into(stem, apply):
    """Claim each side file of `stem` and `apply(rows)`; a file is deleted only after `apply` returned.
    Returns how many rows were imported."""
    done = 0
    for path in pending(stem):
        claimed = f"{stem}.importing-{os.getpid()}-{time.time_ns()}"
        try:
            os.rename(path, claimed)          # another process got it first: skip it
        except OSError:
            continue
        try:
            with open(claimed, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
        except ValueError as exc:            # not ours, or damaged: keep it for a person to read
            os.rename(claimed, path + ".unreadable")
            log.warning("%s is not a readable side file (%s); renamed to %s.unreadable", path, exc, path)
            continue
        try:
            apply(rows)
        except Exception as exc:
            os.rename(claimed, path)          # try again next start
            log.warning("saved records in %s could not be imported yet (%s); kept for the next try.", path, exc)
            continue
        os.unlink(claimed)
        done += len(rows)
    return done


def _plain(value):
    return float(value) if hasattr(value, "__float__") else str(value)
