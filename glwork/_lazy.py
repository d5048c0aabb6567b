"""Public names that import their module on first use (PEP 562), for glwork's re-export packages:
`import glwork.llm` stays light, and `glwork.llm.RAGEngine` loads faiss and the embedding model
only when a notebook asks for it.

    __getattr__, __dir__ = lazy(__name__, {"RAGEngine": "glwork.rag.engine",
                                           "describe_backend": "glwork.backends:describe"})

A target is "module" (the same name there) or "module:attribute" (a name the package renames).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package` for its lazily imported `names`."""
    targets = dict(names)

    def __getattr__(name: str) -> Any:
        try:
            target = targets[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module, _, attribute = target.partition(":")
        value = getattr(import_module(module), attribute or name)
        setattr(sys.modules[package], name, value)   # the next use is a plain attribute look-up
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(targets))

    return __getattr__, __dir__
