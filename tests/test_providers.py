"""The provider adapter protocol: everything provider-specific is asked of the adapter."""
import httpx
import openai
import pytest

from glwork import errors, providers
from glwork.providers import base

KEY = "sk-test-not-a-real-key-000000000000"


@pytest.mark.parametrize("provider", providers.PROVIDERS)
def test_every_adapter_meets_the_protocol(provider, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    adapter = providers.make_adapter(provider, api_key=KEY)
    try:
        assert isinstance(adapter, base.Adapter)
        assert adapter.name == provider and adapter.family in ("openai", "anthropic")
    finally:
        adapter.close()


def test_endpoint_shaping_is_the_adapters():
    assert providers.endpoint("openai", "http://127.0.0.1:9", "k") == {"base_url": "http://127.0.0.1:9/v1",
                                                                       "api_key": "k"}
    assert providers.endpoint("anthropic", "http://127.0.0.1:9", "k") == {"base_url": "http://127.0.0.1:9",
                                                                          "api_key": "k"}
    assert providers.endpoint("azure", "http://127.0.0.1:9", "k") == {"azure_endpoint": "http://127.0.0.1:9",
                                                                      "api_key": "k"}


def test_model_resolution_azure_deployment(monkeypatch):
    assert providers.resolve_model("openai") == "gpt-4o-mini"
    assert providers.resolve_model("anthropic", "claude-3-opus") == "claude-3-opus"
    assert providers.resolve_model("openai", azure_deployment="ignored") == "gpt-4o-mini"
    assert providers.resolve_model("azure", "gpt-4o", azure_deployment="prod-dep") == "prod-dep"
    assert providers.resolve_model("azure", "gpt-4o") == "gpt-4o"
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "env-dep")
    assert providers.resolve_model("azure") == "env-dep"
    assert providers.resolve_model("azure", "named") == "named"


def test_family_for_widgets_and_prices():
    assert providers.family("azure") == "openai"
    assert providers.family("Anthropic") == "anthropic"
    assert providers.family("mistral") is None and providers.family(None) is None
    from glwork.monitoring.pricing import known_models
    assert known_models("azure", registered=False) == known_models("openai", registered=False)


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(errors.ConfigurationError, match="Choose one of: openai, anthropic, azure"):
        providers.resolve_model("mistral")


def test_registered_error_mapper_is_asked_first():
    class Marker(Exception):
        pass

    def mapper(exc, provider):
        chain = (exc, exc.__cause__, exc.__context__)
        if any(isinstance(e, Marker) for e in chain):
            return errors.LLMError(f"marked for {provider}", provider=provider)
        return None

    request = httpx.Request("POST", "http://x.invalid/v1/chat/completions")
    try:
        try:
            raise Marker("inside the transport")
        except Marker as inner:
            raise openai.APIConnectionError(request=request) from inner
    except openai.APIConnectionError as exc:
        wrapped = exc
    assert isinstance(base.map_sdk_error(wrapped, openai, "openai"), errors.LLMConnectionError)
    base.add_error_mapper(mapper)
    try:
        mapped = base.map_sdk_error(wrapped, openai, "openai")
        assert type(mapped) is errors.LLMError and mapped.message == "marked for openai"
    finally:
        base._mappers.remove(mapper)


def test_the_replay_miss_mapper_belongs_to_offline():
    import glwork.offline  # noqa: F401  (registers it)
    assert [m.__module__ for m in base._mappers] == ["glwork.offline"]
    source = (base.__file__, providers.__file__)
    assert not any("vcr" in open(path).read() for path in source)


def test_replay_adapter_is_an_adapter(monkeypatch):
    from glwork.offline.replay import ReplayAdapter
    replayed = providers.make_adapter("anthropic", api_key=KEY)
    adapter = ReplayAdapter(replayed, lambda: None, "anthropic")
    assert isinstance(adapter, base.Adapter) and adapter.family == "anthropic"
    adapter.close()


def test_credentials_are_the_adapters_to_name(monkeypatch):
    from glwork import config
    assert providers.key_envs("azure") == ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN")
    assert config.PROVIDER_KEYS == {p: providers.key_envs(p) for p in providers.PROVIDERS}
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "token")
    assert config.has_key("azure") and not config.has_key("openai")
