"""One adapter per wire dialect (the `Adapter` protocol in base.py). No provider-specific `if` lives
outside this package: endpoints, model names, model families and SDK errors are asked of the adapter."""
from __future__ import annotations

from importlib import import_module
from typing import Any

from ..errors import ConfigurationError
from .base import Adapter

# provider name -> (module, class); the SDK loads only when an adapter is built
_ADAPTERS = {
    "openai": ("openai", "OpenAIAdapter"),
    "anthropic": ("anthropic", "AnthropicAdapter"),
    "azure": ("openai", "AzureOpenAIAdapter"),
}
PROVIDERS = tuple(_ADAPTERS)


def check_provider(provider: Any) -> str:
    name = (provider or "").strip().lower() if isinstance(provider, str) else provider
    if name not in _ADAPTERS:
        # Not kept as the error's `provider`: a misplaced key must not ride on an unredacted field.
        raise ConfigurationError(f"Unknown provider {provider!r}. Choose one of: {', '.join(PROVIDERS)}.")
    return name


def adapter_class(provider: str) -> type[Adapter]:
    mod, cls = _ADAPTERS[check_provider(provider)]
    return getattr(import_module(f".{mod}", __name__), cls)


def default_model(provider: str) -> str:
    return adapter_class(provider).default_model


def resolve_model(provider: str, model: str | None = None, **options: Any) -> str:
    """The model name a session of `provider` sends (Azure: the deployment, see its adapter)."""
    return adapter_class(provider).resolve_model(model, **options)


def family(provider: str | None) -> str | None:
    """Whose models `provider` serves ("azure" -> "openai"); None for a name that is no provider."""
    if not isinstance(provider, str) or provider.strip().lower() not in _ADAPTERS:
        return None
    return adapter_class(provider).family


def key_envs(provider: str) -> tuple[str, ...]:
    """The environment variables that hold `provider`'s credentials (any one set means live)."""
    return adapter_class(provider).key_envs


def endpoint(provider: str, url: str, api_key: str) -> dict[str, str]:
    """Adapter options that point `provider`'s SDK at a server speaking its wire format at `url`
    (the local backend, the replay host)."""
    return adapter_class(provider).endpoint(url, api_key)


def make_adapter(provider: str, **options: Any) -> Adapter:
    """The SDK-backed adapter for `provider` (imports its SDK on first use)."""
    return adapter_class(provider)(**options)
