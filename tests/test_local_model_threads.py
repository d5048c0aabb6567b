"""The local model generates on the cores nobody else is using: llama.cpp's spinning threads make
2 threads on 2 busy cores many times slower than 1 (see glwork/local/cpu.py)."""
import pytest

from glwork.local import cpu


@pytest.fixture
def machine(monkeypatch):
    """Set how many tasks are runnable on the machine and in this process."""
    state = {"total": [1], "own": 1, "cpus": 2}
    monkeypatch.setattr(cpu, "_runnable_total", lambda: state["total"].pop(0) if len(state["total"]) > 1
                        else state["total"][0])
    monkeypatch.setattr(cpu, "_runnable_own", lambda: state["own"])
    monkeypatch.setattr(cpu.os, "cpu_count", lambda: state["cpus"])
    monkeypatch.setattr(cpu.time, "sleep", lambda s: None)
    return state


def test_idle_cores_get_every_thread(machine):
    machine["total"] = [1]          # only the thread asking
    assert cpu.spare_threads(2) == 2


def test_busy_cores_leave_one_thread(machine):
    machine["total"] = [7]          # six other tasks want the two cores
    assert cpu.spare_threads(2) == 1
    machine.update(total=[3], cpus=4)
    assert cpu.spare_threads(4) == 2


def test_this_process_own_threads_do_not_count_as_other_work(machine):
    machine.update(total=[3], own=3)    # our spinning llama threads, nobody else
    assert cpu.spare_threads(2) == 2


def test_one_look_between_time_slices_is_not_trusted(machine):
    machine["total"] = [1, 4, 4]    # the first look happens to find the cores free
    assert cpu.spare_threads(2) == 1


def test_without_proc_it_keeps_the_configured_count(machine, monkeypatch):
    def missing():
        raise OSError("no /proc/loadavg")
    monkeypatch.setattr(cpu, "_runnable_total", missing)
    assert cpu.spare_threads(2) == 2


def test_the_real_counts_are_readable_here():
    assert cpu._runnable_total() >= 1 and cpu._runnable_own() >= 1
    assert 1 <= cpu.spare_threads(2) <= 2
