"""Re-rankers: re-score the first-stage candidates and keep the best `rerank_top_k`.

`rerank_model="cross-encoder"` uses a real cross-encoder when one is on this machine: the folder
named by GLWORK_CROSS_ENCODER, or cross-encoder/ms-marco-MiniLM-L6-v2 in the Hugging Face cache.
A hub name is only downloaded when GLWORK_ALLOW_DOWNLOADS=1 (never in this kit's offline setup).
No cross-encoder ships on PyPI, so without one the OFFLINE re-ranker runs and says so: each
candidate's best-matching sentence (all-MiniLM-L6-v2 cosine) blended with its first-stage score.
On SciFact it lifts hybrid nDCG@10 (see benchmarks/bench_rag.py); a cross-encoder does more.
"""
import os
import threading
from collections import OrderedDict

from ..embeddings.batch import normalise
from ..embeddings.local import MODEL_NAME, local_embedder
from ..errors import ConfigurationError
from ..security import get_logger
from .chunking import split_sentences
from .fusion import minmax

log = get_logger(__name__)
DEFAULT_CROSS_ENCODER = "cross-encoder/ms-marco-MiniLM-L6-v2"
CROSS_ALIASES = {"cross-encoder", "cross_encoder", "crossencoder", "default"}
OFFLINE_ALIASES = {"offline", "maxsim", "sentence-maxsim", "local"}
# Weight of the sentence max-similarity against the first-stage score (tuned on SciFact train).
MAXSIM_WEIGHT = 0.2
_CACHE_CHUNKS = 5_000   # ~8 sentences x 384 float16 each: ~30 MB at most


class MaxSimReranker:
    """Offline: blend of first-stage score and best sentence similarity, both min-max normalised."""

    kind = "offline"

    def __init__(self, weight=MAXSIM_WEIGHT, reason=""):
        self.weight = weight
        self.reason = reason
        self.model_name = MODEL_NAME
        self._embedder = local_embedder()
        self._cache = OrderedDict()      # chunk id -> sentence vectors (ids are never reused)
        self._lock = threading.Lock()

    def describe(self):
        why = f"; {self.reason}" if self.reason else ""
        return (f"offline sentence max-similarity re-ranker (all-MiniLM-L6-v2 bi-encoder, weight "
                f"{self.weight} against the first-stage score){why}")

    def _sentence_vectors(self, candidates):
        missing = [(cid, text) for cid, text, _ in candidates if cid not in self._cache]
        if missing:
            sents = [split_sentences(text) or [text] for _, text in missing]
            flat = [s for group in sents for s in group]
            vecs = normalise(self._embedder.encode(flat))
            at = 0
            for (cid, _), group in zip(missing, sents):
                self._cache[cid] = vecs[at:at + len(group)].astype("float16")
                at += len(group)
        out = []
        for cid, _, _ in candidates:
            self._cache.move_to_end(cid)
            out.append(self._cache[cid])
        while len(self._cache) > _CACHE_CHUNKS:
            self._cache.popitem(last=False)
        return out

    def rerank(self, query, candidates):
        """candidates: [(chunk id, text, first-stage score)] -> [(chunk id, new score)]."""
        import numpy as np
        with self._lock:
            qv = normalise(self._embedder.encode([query]))[0]
            best = np.asarray([float((v.astype(np.float32) @ qv).max())
                               for v in self._sentence_vectors(candidates)])
        first = np.asarray([s for _, _, s in candidates], dtype=np.float64)
        fused = (1 - self.weight) * minmax(first) + self.weight * minmax(best)
        return [(cid, float(s)) for (cid, _, _), s in zip(candidates, fused)]


class CrossEncoderReranker:
    kind = "cross-encoder"

    def __init__(self, name_or_path, local_only=True):
        self.model_name = name_or_path
        self._model = None
        self._fallback = None     # the offline re-ranker, if the model could not be loaded
        self._local_only = local_only
        self._lock = threading.Lock()

    def describe(self):
        return self._fallback.describe() if self._fallback else f"cross-encoder {self.model_name}"

    def _load(self):
        if self._model is None and self._fallback is None:
            try:
                from sentence_transformers import CrossEncoder
                self._model = CrossEncoder(self.model_name, device="cpu", local_files_only=self._local_only)
            except Exception as exc:  # e.g. no network for a hub name: say so, keep answering
                log.warning("Could not load the cross-encoder %s (%s); using the offline re-ranker.",
                            self.model_name, exc)
                self._fallback = MaxSimReranker(reason=f"loading {self.model_name} failed: {type(exc).__name__}")
        return self._model

    def rerank(self, query, candidates):
        with self._lock:
            model = self._load()
            if model is not None:
                scores = model.predict([(query, text) for _, text, _ in candidates],
                                       show_progress_bar=False, convert_to_numpy=True)
        if model is None:
            return self._fallback.rerank(query, candidates)
        return [(cid, float(s)) for (cid, _, _), s in zip(candidates, scores)]


def _is_cross_encoder_folder(path):
    """A folder whose config says it is a sequence classifier (a bi-encoder would get a random head)."""
    import json
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            archs = json.load(f).get("architectures") or []
    except (OSError, ValueError):
        return False
    return any(a.endswith("ForSequenceClassification") for a in archs)


def _cached_hub_model(name):
    """The snapshot folder of a hub model already in the local cache, else None (no network)."""
    # huggingface_hub reads this once, at its first import: set it first (as glwork.embeddings
    # does), or the later MiniLM load prints a "Loading weights" bar into the notebook.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(name, "config.json")
    return os.path.dirname(found) if isinstance(found, str) else None


def make_reranker(spec):
    """The re-ranker for `rerank_model` (None: no re-ranking)."""
    if spec is None or spec is False:
        return None
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigurationError(f"rerank_model must be a string such as \"cross-encoder\", got {spec!r}.")
    if spec in OFFLINE_ALIASES:
        return MaxSimReranker(reason="requested explicitly")
    downloads = os.environ.get("GLWORK_ALLOW_DOWNLOADS") == "1"
    if spec in CROSS_ALIASES:
        tried = []
        env_path = os.environ.get("GLWORK_CROSS_ENCODER")
        if env_path:
            if _is_cross_encoder_folder(env_path):
                return CrossEncoderReranker(env_path)
            tried.append(f"GLWORK_CROSS_ENCODER={env_path} is not a cross-encoder folder")
        cached = _cached_hub_model(DEFAULT_CROSS_ENCODER)
        if cached and _is_cross_encoder_folder(cached):
            return CrossEncoderReranker(cached)
        if downloads:
            return CrossEncoderReranker(DEFAULT_CROSS_ENCODER, local_only=False)
        tried.append(f"{DEFAULT_CROSS_ENCODER} is not in the local cache and downloads are off")
        reason = "no cross-encoder available (" + "; ".join(tried) + ")"
        log.info("rerank_model='cross-encoder': %s; using the offline re-ranker.", reason)
        return MaxSimReranker(reason=reason)
    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        if not _is_cross_encoder_folder(path):
            raise ConfigurationError(
                f"{spec!r} is not a cross-encoder (its config.json names no *ForSequenceClassification "
                f"architecture). Loading a bi-encoder as a cross-encoder gives random scores.")
        return CrossEncoderReranker(path)
    cached = _cached_hub_model(spec)
    if cached and _is_cross_encoder_folder(cached):
        return CrossEncoderReranker(cached)
    if downloads:
        return CrossEncoderReranker(spec, local_only=False)
    reason = f"{spec} is not on this machine and downloads are off (GLWORK_ALLOW_DOWNLOADS=1 allows them)"
    log.info("rerank_model=%r: %s; using the offline re-ranker.", spec, reason)
    return MaxSimReranker(reason=reason)
