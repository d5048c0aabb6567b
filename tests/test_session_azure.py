"""ChatSession on `openai.AzureOpenAI`, against real recorded Azure OpenAI traffic."""
import pytest

from glwork.llm import ChatSession, LLMError
from wire_server import cassette


def test_deployment_path_api_version_and_key_header(wire_server):
    wire_server.queue(*cassette("azure/chat_nonstream_deployments.yaml"))
    s = ChatSession(provider="azure", model="test-azure-deployment", azure_endpoint=wire_server.url,
                    api_key="az-test-key-000", api_version="2024-08-01-preview")
    r = s.send_message("Which ocean?")
    assert r == "Atlantic Ocean" and r.provider == "azure" and r.model == "gpt-4-32k"
    req = wire_server.requests[0]
    assert req.path == "/openai/deployments/test-azure-deployment/chat/completions?api-version=2024-08-01-preview"
    assert req.headers["api-key"] == "az-test-key-000"
    assert r.cost == pytest.approx((r.usage.input_tokens * 60 + r.usage.output_tokens * 120) / 1e6)


def test_environment_variables_are_honoured(wire_server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", wire_server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-env-key-000")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "my-deploy")
    wire_server.queue(*cassette("azure/chat_nonstream_deployments.yaml"))
    s = ChatSession(provider="azure")
    assert s.model == "my-deploy"
    s.send_message("hi")
    assert wire_server.requests[0].path == "/openai/deployments/my-deploy/chat/completions?api-version=2024-06-01"


def test_streamed_tool_call_deltas_are_joined(wire_server):
    wire_server.queue(*cassette("azure/chat_tools_stream_deployments.yaml"))
    s = ChatSession(provider="azure", model="test-azure-deployment", azure_endpoint=wire_server.url,
                    api_key="az-test-key-000", functions=[{"name": "get_delivery_date", "parameters": {
                        "type": "object", "properties": {"order_id": {"type": "string"}}}}])
    list(s.stream_message("When will order_12345 arrive?"))
    last = s.get_conversation_history()[-1]
    assert last["tool_calls"] and all(isinstance(c["arguments"], dict) for c in last["tool_calls"])
    assert last["tool_calls"][0]["name"] == "get_delivery_date"


def test_deployment_not_found(wire_server):
    wire_server.queue(*cassette("azure/error_404_deployment_not_found.yaml"))
    s = ChatSession(provider="azure", model="test-azure-deployment", azure_endpoint=wire_server.url,
                    api_key="az-test-key-000")
    with pytest.raises(LLMError) as err:
        s.send_message("hi")
    assert err.value.error_code == "model_not_found" and err.value.status_code == 404
    assert not err.value.retryable and "deployment" in err.value.message


def test_missing_endpoint_names_the_variable():
    with pytest.raises(LLMError, match="AZURE_OPENAI_ENDPOINT"):
        ChatSession(provider="azure", model="d", api_key="az-test-key-000")
