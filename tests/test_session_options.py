"""ChatSession's arguments are checked by one options object, before anything is built."""
import pytest

from glwork import offline
from glwork.errors import ConfigurationError
from glwork.llm import ChatSession, RateLimiter, RetryPolicy
from glwork.session_options import SessionOptions

KEY = "sk-test-options-000000000000000000000000"


@pytest.mark.parametrize("kwargs, message", [
    ({"provider": "mistral"}, "Unknown provider"),
    ({"temperature": 3}, "temperature must be a number from 0 to 2"),
    ({"temperature": True}, "temperature must be a number"),
    ({"max_tokens": 0}, "max_tokens must be a positive integer"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"response_format": "json"}, "response_format must be a dict"),
    ({"timeout": -1}, "timeout must be a positive number of seconds"),
    ({"rate_limiter": object()}, "rate_limiter must be a glwork RateLimiter"),
    ({"mode": "offline"}, "Unknown mode 'offline'"),
    ({"system_message": 42}, "system_message must be a string"),
    ({"max_retries": -1}, "max_retries"),
    ({"fallbacks": [42]}, "A fallback is a"),
])
def test_a_bad_argument_fails_before_anything_is_built(kwargs, message, monkeypatch):
    built = []
    monkeypatch.setattr(offline, "adapter", lambda *a, **k: built.append(a))
    with pytest.raises(ConfigurationError, match=message):
        ChatSession(api_key=KEY, **kwargs)
    assert built == []


def test_options_keep_what_was_asked_and_resolve_the_model(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    s = ChatSession(provider="Azure", model="gpt-4o", azure_deployment="prod", api_key=KEY,
                    functions=[{"name": "f", "parameters": {"type": "object", "properties": {}}}])
    try:
        o = s.options
        assert (o.provider, o.model, s.model) == ("azure", "prod", "prod")
        assert o.mode is None and o.name is None and s.name.startswith("session-")   # unnamed, followed the kit
        assert [t["name"] for t in o.tools] == ["f"] and o.functions is None
        with pytest.raises(AttributeError):
            o.model = "other"                                   # frozen
    finally:
        s.close()


def test_options_never_show_a_key():
    o = SessionOptions(api_key=KEY, fallbacks=[{"provider": "anthropic", "api_key": KEY}])
    assert KEY not in repr(o) and KEY not in str(o)


def test_replace_checks_again():
    o = SessionOptions(provider="openai", temperature=0.5)
    assert o.replace(provider="anthropic", model=None).model == "claude-3-5-haiku-latest"
    with pytest.raises(ConfigurationError, match="temperature"):
        o.replace(temperature=7)


def test_retry_settings_become_one_policy():
    assert SessionOptions(max_retries=5, retry_delay=0.5).retry().max_retries == 5
    policy = RetryPolicy(max_retries=1)
    assert SessionOptions(retry_policy=policy).retry() is policy
    limiter = RateLimiter(max_requests_per_minute=10)
    assert SessionOptions(rate_limiter=limiter).rate_limiter is limiter


def test_attach_cache_is_the_constructors_cache_step(monkeypatch):
    monkeypatch.setenv("GLWORK_MODE", "local")
    from glwork.cache import HashingEmbedder, SemanticCacheManager
    cache = SemanticCacheManager(embedder=HashingEmbedder(), guard=False)
    s = ChatSession(api_key=KEY)
    try:
        assert s.cache is None and s.get_cache_stats()["lookups"] == 0
        hook = s.attach_cache(cache, user="ana")
        assert s.cache is hook and hook.cache is cache and hook.user == "ana"
        with pytest.raises(ConfigurationError, match="already has a semantic cache"):
            s.attach_cache(cache)
    finally:
        s.close()
    assert s.closed
    with pytest.raises(ConfigurationError, match="semantic_cache must be True or a SemanticCacheManager"):
        ChatSession(api_key=KEY, semantic_cache="yes")
