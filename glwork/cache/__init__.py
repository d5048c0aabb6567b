"""Semantic caching (workshop Part 3): SemanticCacheManager, Scope, Guard, Glossary, and tools to
measure a cache on labelled question pairs (precision/recall curves, judged fairly, and their plot).

Importing this package is light: faiss, numpy, plotly and the embedding model load on first use.
"""
from ..embeddings.hashing import HashingEmbedder
from .evaluation import PairJudge, at_recall, best_matches, load_precision_curves, precision_recall, side_by_side
from .glossary import Glossary
from .guard import Guard
from .manager import Explanation, Hit, SemanticCacheManager
from .plots import plot_precision_recall
from .scope import Scope, history_digest
from .session_hook import SessionCache, stands_alone

__all__ = ["SemanticCacheManager", "Scope", "Guard", "Glossary", "Hit", "Explanation", "HashingEmbedder",
           "SessionCache", "history_digest", "stands_alone", "PairJudge", "best_matches", "precision_recall",
           "at_recall", "load_precision_curves", "plot_precision_recall", "side_by_side"]
