"""glwork: the offline-first workbench for the workshop "Using LLM & AI Infrastructure".

`import glwork` stays light: torch, sentence-transformers, faiss and the SDKs load on first use.
"""
__version__ = "0.1.0"

from .security import get_logger as _get_logger

_get_logger("glwork")  # redact keys from every record logged to the package logger
