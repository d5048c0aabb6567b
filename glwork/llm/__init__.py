"""The workshop's names (`GL_COMMONS.infrastructure.llm` in the text). Heavy parts load on first use."""
import typing as _typing

from .._lazy import lazy as _lazy
from ..errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidJSONError,
    InvalidRequestError,
    LLMConnectionError,
    LLMError,
    LLMTimeoutError,
    MissingAPIKeyError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from ..response import ChatResponse, ToolCall, Usage

if _typing.TYPE_CHECKING:   # what type checkers and editors see; at run time each loads on first use (below)
    from ..backends import describe as describe_backend
    from ..backends.overview import class_overview
    from ..cache import Scope, SemanticCacheManager
    from ..embeddings import local_embedder
    from ..monitoring.alerts import CostAlertManager
    from ..monitoring.health import ProviderHealthMonitor
    from ..monitoring.ledger import CostTracker
    from ..offline import client_kwargs
    from ..rag.engine import RAGEngine, RAGResponse
    from ..resilience.class_budget import ClassBudget
    from ..resilience.limiter import RateLimiter
    from ..resilience.retry import RetryPolicy
    from ..session import ChatSession

__all__ = [
    # Part 1: the session and what it returns
    "ChatSession", "ChatResponse", "ToolCall", "Usage", "client_kwargs",
    # Part 2: retrieval
    "RAGEngine", "RAGResponse", "local_embedder",
    # Part 3: the semantic cache
    "SemanticCacheManager", "Scope",
    # Part 4: resilience
    "RetryPolicy", "RateLimiter", "ClassBudget",
    # Part 5: monitoring
    "CostTracker", "ProviderHealthMonitor", "CostAlertManager",
    # the classroom's shared backend
    "describe_backend", "class_overview",
    # errors: every one is an LLMError with .message, .provider, .retryable and a fix
    "LLMError", "AuthenticationError", "BudgetExceededError", "ConfigurationError", "ContextLengthExceededError",
    "InvalidJSONError", "InvalidRequestError", "LLMConnectionError", "LLMTimeoutError", "MissingAPIKeyError",
    "ModelNotFoundError", "OverloadedError", "PermissionDeniedError", "RateLimitError", "ServerError",
    "StreamInterruptedError",
]

__getattr__, __dir__ = _lazy(__name__, {
    "ChatSession": "glwork.session",
    "client_kwargs": "glwork.offline",
    "RAGEngine": "glwork.rag.engine",
    "RAGResponse": "glwork.rag.engine",
    "local_embedder": "glwork.embeddings",
    "SemanticCacheManager": "glwork.cache",
    "Scope": "glwork.cache",
    "RetryPolicy": "glwork.resilience.retry",
    "RateLimiter": "glwork.resilience.limiter",
    "ClassBudget": "glwork.resilience.class_budget",
    "CostTracker": "glwork.monitoring.ledger",
    "ProviderHealthMonitor": "glwork.monitoring.health",
    "CostAlertManager": "glwork.monitoring.alerts",
    "describe_backend": "glwork.backends:describe",
    "class_overview": "glwork.backends.overview",
})
