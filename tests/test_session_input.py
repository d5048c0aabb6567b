"""Bad input gets a clear error that says what to do, before any network call."""
import pytest

from glwork.llm import ChatSession, ConfigurationError, LLMError, MissingAPIKeyError
from wire_server import cassette


def test_unknown_provider_lists_the_choices():
    with pytest.raises(ConfigurationError) as e:
        ChatSession(provider="gemini", api_key="k" * 20)
    assert "openai, anthropic, azure" in str(e.value) and e.value.error_code == "invalid_argument"


@pytest.mark.parametrize("provider,var", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
                                          ("azure", "AZURE_OPENAI_API_KEY")])
def test_missing_key_names_the_variable_and_sends_nothing(wire_server, monkeypatch, provider, var):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", wire_server.url)
    with pytest.raises(MissingAPIKeyError) as e:
        ChatSession(provider=provider, base_url=None)
    assert var in str(e.value) and "GLWORK_MODE=local" in str(e.value)
    assert wire_server.requests == []


def test_environment_key_and_base_url_are_honoured(wire_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    ChatSession(provider="openai", model="gpt-4").send_message("hi")
    assert wire_server.requests[0].headers["authorization"] == "Bearer env-key-123456789"


def test_argument_overrides_environment(wire_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key-123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")  # would fail if used
    wire_server.queue(cassette("anthropic/messages_nonstream_basic.yaml")[0])
    ChatSession(provider="anthropic", base_url=wire_server.url, api_key="arg-key-123456789").send_message("hi")
    assert wire_server.requests[0].headers["authorization"] == "Bearer arg-key-123456789"


@pytest.mark.parametrize("message", ["", "   \n", None, 42])
def test_empty_or_non_text_message(wire_server, message):
    s = ChatSession(provider="openai", base_url=wire_server.url, api_key="k" * 20)
    with pytest.raises(ConfigurationError):
        s.send_message(message)
    with pytest.raises(ConfigurationError):
        list(s.stream_message(message))
    assert wire_server.requests == []


@pytest.mark.parametrize("functions,match", [
    ('[{"name": "f", "parameters": {', "not valid JSON"),
    ([{"name": "f", "parameters": '{"type": "object", '}], "not valid JSON"),
    ([{"name": "f", "parameters": {"type": "object", "default": object()}}], "not JSON-serialisable"),
    ([{"name": "has space", "parameters": {}}], "'name' must be"),
    ([{"parameters": {}}], "'name' must be"),
    ([{"name": "f", "parameters": {"type": "array"}}], '"type": "object"'),
    ([{"name": "f"}, {"name": "f"}], "unique"),
    ("calculate", "not valid JSON"),
    (42, "must be a list"),
])
def test_bad_function_schemas(functions, match):
    with pytest.raises(ConfigurationError, match=match):
        ChatSession(provider="openai", api_key="k" * 20, functions=functions)


def test_function_schema_given_as_json_text_is_accepted():
    s = ChatSession(provider="openai", api_key="k" * 20,
                    functions='[{"name": "calculate_emissions", "parameters": {"type": "object"}}]')
    assert s.tools[0]["name"] == "calculate_emissions"
    assert s.tools[0]["parameters"] == {"type": "object", "properties": {}}


@pytest.mark.parametrize("kw", [{"temperature": 3}, {"temperature": "hot"}, {"max_tokens": 0},
                                {"max_tokens": 1.5}, {"response_format": "json"}, {"system_message": 5}])
def test_bad_settings(kw):
    with pytest.raises(ConfigurationError):
        ChatSession(provider="openai", api_key="k" * 20, **kw)


def test_tool_result_without_pending_call(wire_server):
    s = ChatSession(provider="openai", base_url=wire_server.url, api_key="k" * 20)
    with pytest.raises(LLMError, match="no tool call waiting"):
        s.send_tool_result({"x": 1})


def test_token_estimate_works_offline_and_grows_with_the_prompt():
    s = ChatSession(provider="openai", api_key="k" * 20, system_message="You are a carbon expert.")
    short, long = s.estimate_tokens("Hi"), s.estimate_tokens("Explain Scope 3 category 11 in detail. " * 20)
    assert 5 < short < 25 and long > short + 100
