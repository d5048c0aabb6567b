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
    """The provider said too many requests or tokens (HTTP 429); retried, honouring Retry-After."""

    default_code, default_retryable = "rate_limit", True


class ContextLengthExceededError(LLMError):
    """The prompt and the requested output do not fit the model's context window."""

    default_code = "context_length_exceeded"


class AuthenticationError(LLMError):
    """The provider refused the API key (HTTP 401)."""

    default_code = "authentication"


class MissingAPIKeyError(AuthenticationError):
    """Live mode needs a key that is not set; the message names the variable to set."""

    default_code = "missing_api_key"


class PermissionDeniedError(AuthenticationError):
    """The key is valid but may not use this model or endpoint (HTTP 403)."""

    default_code = "permission_denied"


class LLMTimeoutError(LLMError):
    """No answer within the timeout (or HTTP 408); retried."""

    default_code, default_retryable = "timeout", True


class LLMConnectionError(LLMError):
    """The provider could not be reached (DNS, refused connection, reset); retried."""

    default_code, default_retryable = "connection_error", True


class ServerError(LLMError):
    """The provider failed (HTTP 5xx, or a body that is not JSON); retried."""

    default_code, default_retryable = "server_error", True


class OverloadedError(ServerError):
    """The provider is overloaded (HTTP 529, Anthropic's 'overloaded_error'); retried."""

    default_code = "overloaded"


class StreamInterruptedError(LLMError):
    """A streamed answer broke off before its end; nothing of it is added to the history."""

    default_code, default_retryable = "stream_interrupted", True


class InvalidRequestError(LLMError):
    """The provider rejected the request as malformed (HTTP 400); not retried."""

    default_code = "invalid_request"


class ModelNotFoundError(InvalidRequestError):
    """The provider does not know the model (or Azure deployment) name (HTTP 404)."""

    default_code = "model_not_found"


class InvalidJSONError(LLMError):
    """JSON mode: the model's answer is not valid JSON; it is not added to the history."""

    default_code = "invalid_json"


class BudgetExceededError(LLMError):
    """A session's or the class's cost limit would be exceeded; checked before sending."""

    default_code = "budget_exceeded"


class ConfigurationError(LLMError, ValueError):
    """Bad arguments: an unknown provider, an empty message, a function schema that is not JSON."""

    default_code = "invalid_argument"
