"""Semantic caching (workshop Part 3): SemanticCacheManager, Scope, Guard, Glossary.

Importing this package is light: faiss, numpy and the embedding model load on first use.
"""
from .glossary import Glossary
from .guard import Guard
from .hashing import HashingEmbedder
from .manager import Explanation, Hit, SemanticCacheManager
from .scope import Scope, history_digest
from .session_hook import SessionCache, stands_alone

__all__ = ["SemanticCacheManager", "Scope", "Guard", "Glossary", "Hit", "Explanation", "HashingEmbedder",
           "SessionCache", "history_digest", "stands_alone"]
