"""Run llama.cpp once in a child process before loading it in this one.

A llama-cpp-python build compiled with -march=native can fault on a CPU that advertises what it
was built for (seen here: its AMX kernels give SIGILL on the first multi-token prompt; see
ggml-org/llama.cpp PR 26954 on AMX permission in worker threads). In-process, that kills the
Jupyter kernel with no message. So the first use of a build on a machine runs a short generation
in a child; if the child dies, the backend falls back to the extractive engine and says how to
rebuild. The verdict is cached per build and CPU.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys

from .model import ModelUnavailable, cache_dir

REBUILD = ("CMAKE_ARGS='-DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8' "
           ".venv/bin/pip install --force-reinstall --no-cache-dir --no-deps llama-cpp-python")

# A prompt of several tokens: one-token prompts take other kernels and pass on a bad build.
PROBE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, seed=0, verbose=False)
llm.create_completion("Scope 1 emissions are direct emissions from owned sources.", max_tokens=2)
print("ok")
"""


def _build_key(model_path):
    """What the verdict depends on: the llama.cpp libraries, the CPU, the model file."""
    import llama_cpp
    lib = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    h = hashlib.sha256()
    for name in sorted(os.listdir(lib)) if os.path.isdir(lib) else ():
        st = os.stat(os.path.join(lib, name))
        h.update(f"{name}:{st.st_size}:{int(st.st_mtime)};".encode())
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "")
    except OSError:
        flags = ""
    h.update(flags.encode())
    h.update(f"{llama_cpp.__version__}:{model_path}:{sys.executable}".encode())
    return h.hexdigest()[:24]


def _verdict_file():
    return cache_dir() / "llama-probe.json"


def _read():
    try:
        return json.loads(_verdict_file().read_text())
    except (OSError, ValueError):
        return {}


def _write(key, verdict):
    seen = _read()
    seen[key] = verdict
    path = _verdict_file()
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(seen, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass    # an unwritable cache only means probing again next time


def run_probe(model_path, code=PROBE, timeout=180):
    """(ok, why) from running `code` with the model path in a child Python."""
    try:
        p = subprocess.run([sys.executable, "-c", code, str(model_path)], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"a test generation did not finish within {timeout} s"
    if p.returncode == 0 and "ok" in p.stdout:
        return True, ""
    if p.returncode < 0:
        try:
            sig = signal.Signals(-p.returncode).name
        except ValueError:
            sig = f"signal {-p.returncode}"
        why = f"llama.cpp crashed with {sig} in a test generation"
        if sig == "SIGILL":
            why += (" (it was compiled for CPU instructions that fault on this machine, such as "
                    "llama.cpp's AMX kernels)")
        return False, why
    last = [ln for ln in (p.stderr or "").strip().splitlines() if ln.strip()][-1:] or ["no output"]
    return False, f"a test generation failed (exit {p.returncode}): {last[0][:200]}"


def check_runtime(model_path):
    """Raise ModelUnavailable if llama.cpp cannot run on this machine (probed once per build)."""
    if os.environ.get("GLWORK_LLAMA_PROBE", "1") == "0":
        return
    from filelock import FileLock
    key = _build_key(model_path)
    verdict = _read().get(key)
    if verdict is None:
        # Two kernels starting at once (as in gguf_path): one probes, the other reads its verdict.
        _verdict_file().parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(_verdict_file()) + ".lock"):
            verdict = _read().get(key)
            if verdict is None:
                ok, why = run_probe(model_path)
                verdict = {"ok": ok, "why": why}
                _write(key, verdict)
    if not verdict["ok"]:
        raise ModelUnavailable(f"{verdict['why']}. Rebuild it from the project folder: {REBUILD} "
                               f"(or `make clean setup`).")
