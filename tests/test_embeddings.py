"""glwork.embeddings: bulk embedding (float32 for small corpora, bf16 only for large ones), unit rows,
one LocalEmbedder per model and process, its thread policy, and where the local models come from."""
import hashlib
import io
import zipfile

import numpy as np
import pytest
import torch

from glwork import threads
from glwork.embeddings import LocalEmbedder, encode_all, files, local, local_embedder, make_embedder, normalise
from glwork.errors import ConfigurationError


class Recorder(LocalEmbedder):
    def __init__(self):      # no model: records how encode() is called
        super().__init__()
        self.calls = []

    def encode(self, texts, fast=False):
        self.calls.append((len(texts), fast))
        return np.ones((len(texts), 4), dtype=np.float32)


def test_small_corpora_are_embedded_in_float32():
    rec = Recorder()
    out = encode_all(rec, ["a text"] * 600)
    assert out.shape == (600, 4)
    assert rec.calls and not any(fast for _, fast in rec.calls)


def test_large_corpora_may_use_bfloat16():
    rec = Recorder()
    encode_all(rec, ["t"] * local.BF16_FROM_TOTAL)
    assert all(fast for _, fast in rec.calls)


def test_other_embedders_are_never_asked_for_fast_mode():
    class Plain:
        def encode(self, texts):
            return np.ones((len(texts), 2), dtype=np.float32)
    assert encode_all(Plain(), ["t"] * local.BF16_FROM_TOTAL).shape == (local.BF16_FROM_TOTAL, 2)


def test_order_of_rows_follows_the_input_and_rows_are_unit_length():
    class Length:
        def encode(self, texts):
            return np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32)
    texts = ["aaa", "a", "aaaaa", "aa"]
    out = encode_all(Length(), texts, batch=2)
    assert np.allclose(out[:, 0] / out[:, 1], [3, 1, 5, 2])
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)


def test_normalise_keeps_a_zero_row_finite():
    out = normalise([[3.0, 4.0], [0.0, 0.0]])
    assert out.dtype == np.float32 and np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert normalise([1.0, 0.0]).shape == (1, 2)


# ---- one LocalEmbedder ---------------------------------------------------------------------------
def test_names_of_the_shipped_models():
    assert LocalEmbedder().name == "all-MiniLM-L6-v2" and LocalEmbedder("local").dimension == 384
    assert LocalEmbedder("mpnet").name == "all-mpnet-base-v2" and LocalEmbedder("mpnet").dimension == 768
    assert LocalEmbedder().kind == "local" and LocalEmbedder().cost_per_token == 0.0


def test_every_embedder_of_a_model_shares_one_loaded_model():
    assert local_embedder() is local_embedder("all-MiniLM-L6-v2") is make_embedder(None)
    assert make_embedder("local") is local_embedder()
    a, b = LocalEmbedder(), LocalEmbedder("sentence-transformers/all-MiniLM-L6-v2")
    assert a is not b and a._loaded is b._loaded


def test_unknown_model_says_what_is_accepted(tmp_path):
    with pytest.raises(ConfigurationError, match="all-mpnet-base-v2.*folder"):
        LocalEmbedder("all-MiniLM-L12-v2")
    with pytest.raises(ConfigurationError, match="text-embedding-3-small"):
        make_embedder("no-such-model")
    folder = LocalEmbedder(str(tmp_path))
    assert folder.kind == "folder" and folder.name == str(tmp_path.resolve()) and folder.dimension is None


class FakeModel:
    """Records the torch threads each encode ran with."""

    def __init__(self):
        self.threads = []

    def encode(self, texts, **kw):
        self.threads.append(torch.get_num_threads())
        return np.ones((len(texts), 3), dtype=np.float32)


def test_one_thread_for_a_query_all_cores_for_a_batch_and_the_setting_is_restored(tmp_path):
    emb = LocalEmbedder(str(tmp_path))
    emb._loaded.model = fake = FakeModel()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        emb.encode("one question")
        emb.encode(["text"] * threads.BULK_FROM)
        assert fake.threads == [1, threads.BULK_THREADS]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_vector_search_leaves_the_thread_settings_as_they_were():
    import faiss

    from glwork.vectors import VectorIndex
    torch_before, faiss_before = torch.get_num_threads(), faiss.omp_get_max_threads()
    index = VectorIndex(4)
    index.add(range(50), normalise(np.random.default_rng(0).standard_normal((50, 4))))
    index.search(normalise([1.0, 0, 0, 0])[0], 3)
    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (torch_before, faiss_before)


# ---- all-mpnet-base-v2 from its part wheels ------------------------------------------------------
def test_mpnet_without_its_wheels_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("GLWORK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(files, "MPNET_PARTS", ("glwork-test-no-such-part-001",))
    with pytest.raises(ConfigurationError, match="pip install glwork-test-no-such-part-001==0.0.1"):
        files.mpnet_folder()


def _split_zip(tmp_path, folder="model"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{folder}/modules.json", "[]")
        z.writestr(f"{folder}/config.json", "{}")
    data = buf.getvalue()
    pieces = []
    for n, part in enumerate((data[:40], data[40:]), 1):
        pieces.append(tmp_path / f"model.zip.{n:03d}")
        pieces[-1].write_bytes(part)
    return pieces, hashlib.sha256(data).hexdigest()


def test_split_zip_is_joined_checked_and_unpacked(tmp_path):
    pieces, digest = _split_zip(tmp_path)
    target = tmp_path / "cache" / "model"
    assert files.unpack(pieces, target, digest, "model") == target
    assert (target / "modules.json").read_text() == "[]"
    assert [p.name for p in target.parent.iterdir()] == ["model"]        # no temporary left


def test_a_damaged_part_is_refused_and_nothing_is_kept(tmp_path):
    pieces, digest = _split_zip(tmp_path)
    pieces[1].write_bytes(pieces[1].read_bytes()[:-1] + b"!")
    target = tmp_path / "cache" / "model"
    with pytest.raises(ConfigurationError, match="sha256.*reinstall"):
        files.unpack(pieces, target, digest, "model")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_zip_without_a_model_folder_is_refused(tmp_path):
    pieces, digest = _split_zip(tmp_path, folder="other")
    with pytest.raises(ConfigurationError, match="no sentence-transformers model folder"):
        files.unpack(pieces, tmp_path / "cache" / "model", digest, "model")


def test_bulk_threads_come_from_the_environment_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("GLWORK_EMBED_THREADS", "3")
    assert threads._bulk_threads() == 3
    monkeypatch.setenv("GLWORK_EMBED_THREADS", "many")
    with pytest.warns(RuntimeWarning, match="GLWORK_EMBED_THREADS='many'.*unset it"):
        assert threads._bulk_threads() >= 1
