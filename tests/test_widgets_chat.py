"""ChatWidget without a browser: each control's effect on the session, errors shown inline."""
import json

import pytest

from glwork import config
from glwork.cache import HashingEmbedder, SemanticCacheManager
from glwork.llm import ChatSession, ConfigurationError
from glwork.widgets import ChatWidget
from glwork.widgets import chat as chat_mod
from wire_server import cassette, openai_rate_limit

SECRET = "sk-proj-THISISAFAKEKEYFORTESTS1234567890abcdef"
MIME = "application/vnd.jupyter.widget-view+json"


def make(srv, **kw):
    return ChatSession(provider="openai", model="gpt-4", base_url=srv.url + "/v1", api_key=SECRET,
                       max_retries=0, **kw)


def press_enter(text_widget):
    """What the browser sends when Enter is pressed in an ipywidgets Text box."""
    text_widget._handle_custom_msg({"event": "submit"}, [])


def shown_text(chat):
    """Every string the widget shows (HTML values and rendered outputs)."""
    out = [chat.header.value, chat.static_html()]
    for child in chat.history.children:
        out.append(getattr(child, "value", "") or "")
        out.append(json.dumps(getattr(child, "outputs", ())))
    return "\n".join(out)


def test_enter_sends_the_message_and_streams_the_reply_as_markdown(wire_server, monkeypatch):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    rendered = []
    real_render = chat_mod._render
    monkeypatch.setattr(chat_mod, "RENDER_EVERY_S", 0.0)
    monkeypatch.setattr(chat_mod, "_render", lambda out, text: (rendered.append(text), real_render(out, text)))
    session = make(wire_server)
    chat = ChatWidget(session)
    chat.message.value = "Answer in one word"
    press_enter(chat.message)

    body = json.loads(wire_server.requests[0].body)
    assert body["stream"] is True and body["messages"][-1]["content"] == "Answer in one word"
    assert chat.message.value == ""                                   # the box is cleared for the next one
    assert [m["role"] for m in session.get_conversation_history()] == ["user", "assistant"]
    assert rendered[:3] == ["Southern", "Southern Ocean", "Southern Ocean."]   # shown as it arrives
    reply_view = chat.history.children[1]
    assert reply_view.outputs[0]["data"]["text/markdown"] == "Southern Ocean."
    facts = chat.turns[-1]["footer"]
    assert facts["output_tokens"] > 0 and facts["input_tokens"] > 0 and facts["cached"] is False
    assert facts["cost"] == pytest.approx(float(session.get_cost()))
    foot = chat.history.children[2].value
    assert "out tokens" in foot and "cached: no" in foot and "$" in foot


def test_send_button_and_send_from_code_return_the_response(wire_server):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"),
                      *cassette("openai/chat_stream_include_usage.yaml"))
    chat = ChatWidget(make(wire_server))
    reply = chat.send("Answer in one word")
    assert reply == "Southern Ocean." and reply.usage.output_tokens > 0 and reply.latency_ms >= 0
    chat.message.value = "Again"
    chat.send_button.click()
    assert len(wire_server.requests) == 2 and sum(t["role"] == "user" for t in chat.turns) == 2


def test_api_error_is_shown_inline_with_its_fields_and_never_the_key(wire_server):
    wire_server.queue(openai_rate_limit("7"))
    chat = ChatWidget(make(wire_server))
    assert chat.send("hello there") is None
    err = chat.turns[-1]["error"]
    assert err["error_code"] == "rate_limit" and err["status_code"] == 429 and err["retryable"] is True
    assert err["retry_after"] == 7 and err["provider"] == "openai"
    text = shown_text(chat)
    shown = chat.history.children[-1].value
    assert "glw-error" in shown and "error_code: rate_limit" in shown and "retry_after: 7" in shown
    assert SECRET not in text and "Traceback" not in text


def test_authentication_error_never_shows_the_key(wire_server):
    wire_server.queue(*cassette("openai/error_401_invalid_api_key.yaml"))
    chat = ChatWidget(make(wire_server))
    chat.send("hello there")
    assert chat.turns[-1]["error"]["error_code"] == "authentication"
    text = shown_text(chat)
    assert SECRET not in text and SECRET[-12:] not in text


def test_empty_message_is_an_inline_error_and_sends_nothing(wire_server):
    chat = ChatWidget(make(wire_server))
    chat.message.value = "   "
    press_enter(chat.message)
    assert chat.turns[-1]["error"]["error_code"] == "invalid_argument"
    assert "type a question" in chat.turns[-1]["error"]["message"]
    assert wire_server.requests == []


def test_cache_hit_footer_says_cached_and_costs_nothing(wire_server):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    cache = SemanticCacheManager(embedder=HashingEmbedder(), guard=False, similarity_threshold=0.9)
    chat = ChatWidget(make(wire_server, semantic_cache=cache))
    chat.send("Which ocean is the coldest one?")
    chat.clear()
    reply = chat.send("Which ocean is the coldest one?")
    assert len(wire_server.requests) == 1                       # the second came from the cache
    assert reply.cached and chat.turns[-1]["footer"]["cached"] is True and chat.turns[-1]["footer"]["cost"] == 0
    assert "cached: yes" in chat.history.children[-1].value


def test_clear_starts_a_new_conversation(wire_server):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    session = make(wire_server)
    chat = ChatWidget(session)
    chat.send("Answer in one word")
    chat.clear_button.click()
    assert session.get_conversation_history() == [] and chat.turns == [] and chat.history.children == ()
    assert session.get_token_count() > 0                        # accounting is kept


def test_provider_and_model_dropdowns_switch_the_session(wire_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-key-for-tests-0123456789")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    chat = ChatWidget(make(wire_server, system_message="Be brief.", max_tokens=50))
    assert set(chat.provider.options) == {"openai", "anthropic"}      # azure has no key in live mode
    first = chat.session
    chat.provider.value = "anthropic"
    assert chat.session is not first and chat.session.provider == "anthropic"
    assert chat.session.model == chat.model.value == "claude-3-5-haiku-latest"
    assert chat.session.system_message == "Be brief." and chat.session.max_tokens == 50
    assert "claude-3-opus" in chat.model.options and "gpt-4" not in chat.model.options
    second = chat.session
    chat.model.value = "claude-3-opus"
    assert chat.session.model == "claude-3-opus" and second.closed      # the widget's own session is closed
    assert not first.closed                                              # the caller's one is not
    assert "anthropic / claude-3-opus" in chat.header.value
    assert chat.turns[-1]["role"] == "note" and "new conversation" in chat.turns[-1]["text"]


def test_switch_that_fails_is_shown_inline_and_keeps_the_session(wire_server):
    chat = ChatWidget(make(wire_server))
    before = chat.session
    assert chat.use("mistral") is None
    assert chat.session is before and chat.turns[-1]["error"]["error_code"] == "invalid_argument"


def test_replay_mode_answers_typed_questions_locally_and_labels_each_reply(wire_server, monkeypatch, tmp_path):
    import glwork
    from glwork import offline
    monkeypatch.setenv("GLWORK_CASSETTE_DIR", str(tmp_path))
    monkeypatch.setenv("GLWORK_RECORD_BACKEND", "local")
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")
    monkeypatch.delenv("GLWORK_REPLAY_STRICT", raising=False)
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    try:
        glwork.notebook("w1", mode="record", quiet=True)
        ChatWidget(make(wire_server)).send("Answer in **one** word")
        offline.close_cassette()
        glwork.notebook("w1", mode="replay", quiet=True)
        chat = ChatWidget(ChatSession(provider="openai", model="gpt-4"))
        assert "not in the recording: local model" in chat.header.value
        assert chat.send("Answer in **one** word") == "Southern Ocean."
        assert chat.turns[-1]["footer"]["source"] == "recorded"
        own = chat.send("What is Scope 2?")
        assert own is not None and own.source == "local"
        foot = chat.turns[-1]["footer"]
        assert foot["source"] == "local" and foot["model"] == "glwork-extractive-v1"
        assert "answered now by the local model glwork-extractive-v1 (not openai)" in shown_text(chat)
        assert "replayed from the recording (openai / " in shown_text(chat)
    finally:
        offline.close_cassette()
        config.configure(None)


def test_static_snapshot_for_frontends_without_widgets(wire_server):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    chat = ChatWidget(make(wire_server))
    assert "no messages yet" in chat.static_html()
    chat.send("Answer in **one** word")
    bundle = chat._repr_mimebundle_()
    assert MIME in bundle and bundle[MIME]["model_id"] == chat.widget.model_id
    html = bundle["text/html"]
    assert "Answer in **one** word" in html and "<p>Southern Ocean.</p>" in html
    assert 'class="glw-volatile"' in html                                # the latency, for nbval to blank
    assert html.startswith('<div class="glw tex2jax_ignore mathjax_ignore">')   # "$0.0001 ... $0.0002" is no maths
    assert bundle["text/plain"].startswith("ChatWidget(openai / gpt-4")


def test_model_reply_with_html_is_escaped_in_the_snapshot():
    html = chat_mod.markdown_html("Use **bold** <script>alert(1)</script>")
    assert "<script>" not in html and "<strong>bold</strong>" in html


def test_bad_arguments():
    with pytest.raises(ConfigurationError, match="needs a ChatSession"):
        ChatWidget("openai")
    with pytest.raises(TypeError):
        ChatWidget(ChatSession(provider="openai", api_key="x" * 20, base_url="http://127.0.0.1:9/v1"), free_form="x")


def test_the_model_list_offers_chat_models_only():
    from glwork.widgets.chat import models_for
    names = models_for("openai")
    assert names[0] == "gpt-4o-mini" and "gpt-4" in names
    assert not [n for n in names if "embedding" in n]
