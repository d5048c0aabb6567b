"""The kit's error hierarchy: one base, `LLMError`, with the fields the workshop text reads.

`error_code` values are stable strings notebooks branch on (Part 7): rate_limit,
context_length_exceeded, authentication, missing_api_key, permission_denied, timeout,
connection_error, server_error, overloaded, invalid_request, model_not_found, invalid_json,
stream_interrupted, budget_exceeded, unknown_provider, invalid_argument.
"""
from .security import redact


class LLMError(Exception):
    """Base exception for all LLM errors. Messages are redacted of API keys."""

    default_code = "llm_error"
    default_retryable = False

    def __init__(self, message, provider=None, retryable=None, error_code=None, retry_after=None,
                 status_code=None, request_id=None):
        self.message = redact(message)
        self.provider = provider
        self.retryable = self.default_retryable if retryable is None else bool(retryable)
        self.error_code = error_code or self.default_code
        self.retry_after = retry_after
        self.status_code = status_code
        self.request_id = request_id
        super().__init__(self.message)

    def __str__(self):
        where = f"[{self.provider}] " if self.provider else ""
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{where}{self.message}{status}"

    def __repr__(self):
        return (f"{type(self).__name__}(message={self.message!r}, provider={self.provider!r}, "
                f"retryable={self.retryable}, error_code={self.error_code!r}, "
                f"retry_after={self.retry_after!r}, status_code={self.status_code!r})")

    def to_dict(self):
        """The fields a widget or a notebook shows; never a key."""
        return {"type": type(self).__name__, "message": self.message, "provider": self.provider,
                "retryable": self.retryable, "error_code": self.error_code,
                "retry_after": self.retry_after, "status_code": self.status_code}


class RateLimitError(LLMError):
    default_code, default_retryable = "rate_limit", True


class ContextLengthExceededError(LLMError):
    default_code = "context_length_exceeded"


class AuthenticationError(LLMError):
    default_code = "authentication"


class MissingAPIKeyError(AuthenticationError):
    default_code = "missing_api_key"


class PermissionDeniedError(AuthenticationError):
    default_code = "permission_denied"


class LLMTimeoutError(LLMError):
    default_code, default_retryable = "timeout", True


class LLMConnectionError(LLMError):
    default_code, default_retryable = "connection_error", True


class ServerError(LLMError):
    default_code, default_retryable = "server_error", True


class OverloadedError(ServerError):
    default_code = "overloaded"


class StreamInterruptedError(LLMError):
    default_code, default_retryable = "stream_interrupted", True


class InvalidRequestError(LLMError):
    default_code = "invalid_request"


class ModelNotFoundError(InvalidRequestError):
    default_code = "model_not_found"


class InvalidJSONError(LLMError):
    default_code = "invalid_json"


class BudgetExceededError(LLMError):
    default_code = "budget_exceeded"


class ConfigurationError(LLMError, ValueError):
    """Bad arguments: an unknown provider, an empty message, a function schema that is not JSON."""

    default_code = "invalid_argument"
