"""Saving and loading a RAGEngine: a folder with a versioned manifest and checksummed files.

    store/
      manifest.json     format, version, settings, embedding model + dimension, sha256 of each file
      vectors.faiss     the faiss index (ids = chunk ids)
      chunks.jsonl      one chunk per line: id, doc_id, number, start, end, text
      documents.jsonl   one document per line: id, sha256 of its content, metadata, chunk ids

The folder is written next to its destination under a temporary name and renamed into place, so
a crash never leaves a half-written store. Loading checks the format, version, every checksum,
the embedding model and the dimension BEFORE building anything: a bad store is refused whole.
"""
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..embeddings.choose import make_embedder
from ..embeddings.local import DIMENSIONS, canonical
from ..errors import ConfigurationError
from .chunking import Chunk

FORMAT = "glwork-rag-store"
VERSION = 1
FILES = ("vectors.faiss", "chunks.jsonl", "documents.jsonl")
SETTINGS = ("llm_provider", "llm_model", "chunk_size", "chunk_overlap", "top_k", "search_type", "alpha",
            "fusion", "rerank_top_k", "rerank_model", "citation_mode", "system_message", "temperature",
            "max_context_chars", "approx_threshold")


# Settings that steer what is sent where (provider, model, instructions, a re-ranking model that
# might be fetched): a store made elsewhere must not choose them for you. A store saved on this
# machine carries a signature over them (a key kept in the user's data folder) and gets them back;
# any other store is loaded without them, saying which were left out and how to pass them.
STEERING = ("llm_provider", "llm_model", "system_message", "rerank_model")
KEY_FILE = "rag-store.key"


class StoreError(ConfigurationError):
    """A saved RAG store that cannot be loaded (corrupt, incomplete, or made for another model)."""

    default_code = "invalid_store"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_lines(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _model_key(name):
    """One name per model: "local" -> "all-MiniLM-L6-v2", a model folder -> its full path."""
    if canonical(name):
        return canonical(name)
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def save(engine, path):
    """Write `engine` (its index, chunks, documents, settings) to the folder `path`; the caller holds
    engine.lock."""
    target = Path(path).expanduser().resolve()
    index = engine.vector_index
    if index is None:
        raise ConfigurationError("Nothing is indexed yet: index documents before saving.")
    if target.exists() and (not target.is_dir() or
                            (any(target.iterdir()) and not (target / "manifest.json").exists())):
        raise ConfigurationError(f"{target} exists and is not a RAG store: choose another path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        index.write(tmp / "vectors.faiss")
        _fsync(tmp / "vectors.faiss")
        _write_lines(tmp / "chunks.jsonl", (
            {"id": c.id, "doc_id": c.doc_id, "number": c.number, "start": c.start, "end": c.end, "text": c.text}
            for c in sorted(engine.chunks.values(), key=lambda c: c.id)))
        _write_lines(tmp / "documents.jsonl", (
            {"id": doc_id, "sha256": d["hash"], "metadata": d["metadata"], "chunks": d["chunks"]}
            for doc_id, d in engine.documents.items()))
        emb = engine.embedder
        manifest = {
            "format": FORMAT, "version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedding": {"model": _model_key(emb.name) if emb.kind == "local" else emb.name,
                          "backend": emb.kind, "served_model": getattr(emb, "served_model", None),
                          "dimension": index.dimension},
            "index": {"approximate": index.approximate, "trained_size": index.trained_size,
                      "vectors": len(index)},
            "counts": {"documents": len(engine.documents), "chunks": len(engine.chunks),
                       "next_id": engine.next_chunk_id},
            "settings": {k: getattr(engine, k) for k in SETTINGS},
            "signature": _sign({k: getattr(engine, k) for k in STEERING}),
            "files": {name: {"sha256": _sha256(tmp / name), "bytes": (tmp / name).stat().st_size} for name in FILES},
        }
        with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        _fsync(tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
        _fsync(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(target)


def _read_lines(path, what):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise StoreError(f"{what} line {n} is not valid JSON: the store is corrupt.") from None
    return rows


def _check_manifest(root):
    mpath = root / "manifest.json"
    if not mpath.is_file():
        raise StoreError(f"{root} is not a saved RAGEngine (no manifest.json). Save one with engine.save(path).")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except ValueError:
        raise StoreError(f"{mpath} is not valid JSON: the store is corrupt; rebuild it and save again.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"{root} is not a glwork RAG store (format {manifest.get('format')!r}).")
    if manifest.get("version") != VERSION:
        raise StoreError(f"{root} has store version {manifest.get('version')!r}; this glwork reads version "
                         f"{VERSION}. Rebuild the index with this version and save it again.")
    for name in FILES:
        meta = (manifest.get("files") or {}).get(name)
        path = root / name
        if not meta:
            raise StoreError(f"The manifest of {root} lists no {name}: the store is incomplete.")
        if not path.is_file():
            raise StoreError(f"{path} is missing: the store is incomplete; rebuild it and save again.")
        if path.stat().st_size != meta.get("bytes") or _sha256(path) != meta.get("sha256"):
            raise StoreError(f"{path} does not match the checksum in manifest.json: the store is corrupt "
                             f"(truncated or edited). Rebuild the index and save it again.")
    return manifest


@dataclass
class Saved:
    """What load() read from a store, checked, for RAGEngine.load to build the engine from."""

    embedding_model: Any            # the name (or the object) to build the embedder with
    embedding_backend: str          # "local", "openai", "folder" or "object"
    served_model: str | None        # the model that made the vectors (OpenAI embeddings: may differ)
    settings: dict[str, Any]        # RAGEngine arguments, overrides applied
    index: Any                      # a VectorIndex
    chunks: dict[int, Chunk]
    documents: dict[str, dict[str, Any]]
    next_chunk_id: int


def load(path, embedding_model, overrides):
    """The checked contents of the store at `path` (StoreError if it is damaged or does not fit)."""
    from ..vectors import VectorIndex
    root = Path(path).expanduser().resolve()
    manifest = _check_manifest(root)
    emb = manifest["embedding"]
    stored = emb["model"]
    if embedding_model is not None and not isinstance(embedding_model, str):
        requested = make_embedder(embedding_model).name
    else:
        requested = _model_key(embedding_model) if embedding_model is not None else stored
    if requested != stored:
        raise StoreError(f"This store was built with embedding model {stored!r}, not {requested!r}: its vectors "
                         f"can't be compared with that model's. Load it without embedding_model, or rebuild.")
    if emb["backend"] == "object" and (embedding_model is None or isinstance(embedding_model, str)):
        raise StoreError(f"This store was built with a custom embedder ({stored!r}): pass the same object as "
                         f"embedding_model= to load it.")
    if emb["backend"] == "local" and emb["dimension"] != DIMENSIONS.get(stored):
        raise StoreError(f"The manifest says {emb['dimension']} dimensions but {stored} makes "
                         f"{DIMENSIONS.get(stored, 'other')}.")
    docs = _read_lines(root / "documents.jsonl", "documents.jsonl")
    chunk_rows = _read_lines(root / "chunks.jsonl", "chunks.jsonl")
    try:
        chunks = {r["id"]: Chunk(r["id"], r["doc_id"], r["number"], r["text"], r["start"], r["end"])
                  for r in chunk_rows}
        doc_map = {d["id"]: {"metadata": d["metadata"], "hash": d["sha256"], "chunks": list(d["chunks"])}
                   for d in docs}
    except (KeyError, TypeError):
        raise StoreError(f"{root} has chunk or document records with missing fields: the store is corrupt.") from None
    listed = sorted(cid for d in doc_map.values() for cid in d["chunks"])
    counts = manifest.get("counts", {})
    if (listed != sorted(chunks) or len(doc_map) != counts.get("documents")
            or any(c.doc_id not in doc_map for c in chunks.values())):
        raise StoreError(f"The documents and chunks in {root} do not agree: the store is corrupt.")
    info = manifest.get("index", {})
    try:
        index = VectorIndex.read(root / "vectors.faiss", emb["dimension"],
                                 trained_size=info.get("trained_size", 0))
    except ConfigurationError as exc:
        raise StoreError(f"{root}/vectors.faiss: {exc}") from None
    except Exception as exc:  # faiss raises RuntimeError on a damaged file
        raise StoreError(f"{root}/vectors.faiss can't be read ({type(exc).__name__}): the store is corrupt.") from None
    if len(index) != len(chunks) or sorted(index.all_ids()) != sorted(chunks):
        raise StoreError(f"The vector index in {root} does not hold exactly the stored chunks: the store is corrupt.")
    settings = {k: v for k, v in manifest.get("settings", {}).items() if k in SETTINGS}
    settings = _trusted(settings, manifest.get("signature"), overrides, root)
    unknown = set(overrides) - set(SETTINGS) - {"show_progress"}
    if unknown:
        raise ConfigurationError(f"Unknown setting(s) for RAGEngine.load: {sorted(unknown)}.")
    if overrides.get("chunk_size", settings["chunk_size"]) != settings["chunk_size"] or \
            overrides.get("chunk_overlap", settings["chunk_overlap"]) != settings["chunk_overlap"]:
        raise ConfigurationError("chunk_size and chunk_overlap can't change on load: the chunks are already made.")
    settings.update(overrides)
    if "rerank_top_k" in overrides and "rerank_model" not in overrides and overrides["rerank_top_k"] is None:
        settings["rerank_model"] = None
    return Saved(embedding_model if embedding_model is not None else stored, emb["backend"], emb.get("served_model"),
                 settings, index, chunks, doc_map, counts.get("next_id", max(chunks, default=-1) + 1))


def _key_path():
    from platformdirs import user_data_dir
    return Path(user_data_dir("glwork", appauthor=False)) / KEY_FILE


def _key():
    """This user's secret for signing stores (created on first use, readable by the user only)."""
    path = _key_path()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:            # another kernel made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))
    return path.read_bytes()


def _sign(steering):
    import hmac
    return hmac.new(_key(), json.dumps(steering, sort_keys=True, default=str).encode(), "sha256").hexdigest()


def _trusted(settings, signature, overrides, root):
    """`settings` without the steering ones unless this user's signature covers them (then as saved)."""
    import hmac
    import warnings
    steering = {k: settings.get(k) for k in STEERING}
    if isinstance(signature, str) and hmac.compare_digest(signature, _sign(steering)):
        return settings
    kept = {k: v for k, v in settings.items() if k not in STEERING}
    left_out = {k: v for k, v in steering.items() if v is not None and k not in overrides}
    if left_out:
        shown = ", ".join(f"{k}={str(v)[:60]!r}" for k, v in left_out.items())
        warnings.warn(f"{root} was not saved by you on this machine, so its {', '.join(left_out)} were not "
                      f"used (a store made elsewhere must not choose a model, a provider or instructions for you). "
                      f"To use them, pass them: RAGEngine.load(path, {shown}).", UserWarning, stacklevel=4)
    return kept
