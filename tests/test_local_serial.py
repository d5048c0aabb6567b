"""Local model jobs run one at a time on the machine (llama.cpp threads spin while they wait)."""
import threading
import time

from glwork.local.engine import one_at_a_time


def test_a_second_job_waits_for_the_first_even_from_another_lock_object(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path))
    order = []

    def job(name, hold):
        with one_at_a_time():
            order.append(f"{name} start")
            time.sleep(hold)
            order.append(f"{name} end")

    first = threading.Thread(target=job, args=("a", 0.4))
    first.start()
    time.sleep(0.1)
    job("b", 0)
    first.join()
    assert order == ["a start", "a end", "b start", "b end"]


def test_serial_running_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GLWORK_LOCAL_SERIAL", "0")
    with one_at_a_time(), one_at_a_time():   # no lock: nested use does not block
        pass
