"""How many threads llama.cpp should generate with right now.

llama.cpp's threads meet at a spinning barrier after every operation: when other work keeps the
cores busy, one of them is descheduled and the others spin until it returns. Measured on this
2-core machine with ~6 other runnable tasks: 40 tokens of the 0.5B took 83-136 s on 2 threads and
15 s on 1 (the same text). On idle cores 2 threads are ~1.7x faster than 1. So the engine uses as
many threads as there are cores nobody else is running on, at least one.
"""
import os
import statistics
import time
from pathlib import Path


def _runnable_total():
    """Runnable tasks on the machine now (the 4th field of /proc/loadavg: "running/total")."""
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[0])


def _runnable_own():
    """This process's runnable threads (the one reading counts, as it does in the total)."""
    n = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            n += stat.read_text().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return n


def spare_threads(most, samples=3):
    """`most`, or fewer while other processes' threads are runnable (never below 1). Where the
    kernel does not say (not Linux), `most`."""
    try:
        others = []
        for i in range(samples):     # one look can fall between another task's time slices
            if i:
                time.sleep(0.005)
            others.append(max(0, _runnable_total() - _runnable_own()))
    except (OSError, ValueError, IndexError):
        return most
    free = (os.cpu_count() or most) - statistics.median_low(others)
    return max(1, min(most, free))
