"""The workshop's names (`GL_COMMONS.infrastructure.llm` in the text). Heavy parts load on first use."""
from importlib import import_module

from ..errors import (AuthenticationError, BudgetExceededError, ConfigurationError,  # noqa: F401
                      ContextLengthExceededError, InvalidJSONError, InvalidRequestError, LLMConnectionError,
                      LLMError, LLMTimeoutError, MissingAPIKeyError, ModelNotFoundError, OverloadedError,
                      PermissionDeniedError, RateLimitError, ServerError, StreamInterruptedError)
from ..response import ChatResponse, ToolCall, Usage  # noqa: F401

_LAZY = {
    "ChatSession": "glwork.session",
    "RAGEngine": "glwork.rag.engine",
    "RAGResponse": "glwork.rag.engine",
    "RateLimiter": "glwork.resilience.limiter",
    "RetryPolicy": "glwork.resilience.retry",
    "CostTracker": "glwork.monitoring.ledger",
    "ProviderHealthMonitor": "glwork.monitoring.health",
    "CostAlertManager": "glwork.monitoring.alerts",
    "ClassBudget": "glwork.resilience.class_budget",
    "SemanticCacheManager": "glwork.cache",
    "Scope": "glwork.cache",
    "client_kwargs": "glwork.offline",
    "class_overview": "glwork.backends.overview",
    "describe_backend": "glwork.backends",
}


_RENAMED = {"describe_backend": "describe"}   # public name -> the module's own


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), _RENAMED.get(name, name))
    raise AttributeError(f"module 'glwork.llm' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
