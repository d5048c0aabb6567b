"""One adapter per wire dialect. No provider-specific `if` lives outside this package."""
from importlib import import_module

from ..errors import ConfigurationError

# provider name -> (module, class, default model)
_ADAPTERS = {
    "openai": ("openai", "OpenAIAdapter", "gpt-4o-mini"),
    "anthropic": ("anthropic", "AnthropicAdapter", "claude-3-5-haiku-latest"),
    "azure": ("openai", "AzureOpenAIAdapter", "gpt-4o-mini"),
}
PROVIDERS = tuple(_ADAPTERS)


def check_provider(provider):
    name = (provider or "").strip().lower() if isinstance(provider, str) else provider
    if name not in _ADAPTERS:
        # Not kept as the error's `provider`: a misplaced key must not ride on an unredacted field.
        raise ConfigurationError(f"Unknown provider {provider!r}. Choose one of: {', '.join(PROVIDERS)}.")
    return name


def default_model(provider):
    return _ADAPTERS[check_provider(provider)][2]


def make_adapter(provider, **options):
    """The SDK-backed adapter for `provider` (imports its SDK on first use)."""
    mod, cls, _ = _ADAPTERS[check_provider(provider)]
    return getattr(import_module(f".{mod}", __name__), cls)(**options)
