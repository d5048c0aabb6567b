"""The cache on ChatSession's hook seam, against recorded OpenAI traffic served on 127.0.0.1."""
import pytest

from glwork.cache import HashingEmbedder, SemanticCacheManager, stands_alone
from glwork.llm import ChatSession
from wire_server import cassette

ANSWER = "Atlantic Ocean."  # what the recorded reply says, whatever was asked


@pytest.fixture
def cache():
    return SemanticCacheManager(0.7, embedder=HashingEmbedder())


def session(srv, cache, user=None, **kw):
    kw.setdefault("model", "gpt-4o-mini")
    s = ChatSession(provider="openai", base_url=srv.url + "/v1", api_key="test-key-0000", **kw)
    hook = cache.session_hook(user=user)
    s.add_hook(hook)
    return s, hook


def test_second_asking_is_free(wire_server, cache):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    s, hook = session(wire_server, cache)
    first = s.send_message("What is Scope 3?")
    s.reset()
    again = s.send_message("what is scope 3")
    assert str(again) == str(first) == ANSWER and again.cached and not first.cached
    assert again.cost == 0 and again.usage.total_tokens == 0 and len(wire_server.requests) == 1
    st = hook.stats()
    assert (st["hits"], st["misses"], st["hit_rate"], st["entries"]) == (1, 1, 50.0, 1)
    assert st["cost_saved"] == pytest.approx(first.cost) and st["tokens_saved"] == first.usage.total_tokens
    assert s.get_cost() == pytest.approx(first.cost)


def test_standalone_question_later_in_a_conversation_hits(wire_server, cache):
    # The workshop's example: the second, similar question in the same session is served cached.
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    s, hook = session(wire_server, cache)
    s.send_message("What is Scope 3?")
    assert s.send_message("What's Scope 3 emissions?").cached and len(wire_server.requests) == 1


def test_follow_up_is_not_served_from_a_single_turn_entry(wire_server, cache):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"), *cassette("openai/chat_nonstream_basic.yaml"),
                      *cassette("openai/chat_nonstream_basic.yaml"))
    s, _ = session(wire_server, cache)
    s.send_message("Give me an example of Scope 3 emissions")   # first question: a single-turn entry
    s.reset()
    s.send_message("What is the GHG Protocol?")
    follow = s.send_message("Give me an example of Scope 3 emissions")  # leans on the conversation
    assert not follow.cached and len(wire_server.requests) == 3
    s.reset()   # the same conversation again (a re-run notebook) replays from the cache
    assert s.send_message("What is the GHG Protocol?").cached
    assert s.send_message("Give me an example of Scope 3 emissions").cached
    assert len(wire_server.requests) == 3
    assert not stands_alone("What about Scope 2?") and stands_alone("What's Scope 3 emissions?")


def test_scope_and_user_keep_answers_apart(wire_server, cache):
    wire_server.queue(*[c for _ in range(3) for c in cassette("openai/chat_nonstream_basic.yaml")])
    a, _ = session(wire_server, cache, user="alice", system_message="Be brief.")
    a.send_message("What is Scope 3?")
    b, _ = session(wire_server, cache, user="bob", system_message="Be brief.")
    assert not b.send_message("What is Scope 3?").cached
    c, _ = session(wire_server, cache, user="alice", system_message="Answer in French.")
    assert not c.send_message("What is Scope 3?").cached
    a.reset()
    assert a.send_message("What is Scope 3?").cached and len(wire_server.requests) == 3


def test_stream_is_served_from_and_stored_to_the_cache(wire_server, cache):
    wire_server.queue(*cassette("openai/chat_stream_include_usage.yaml"))
    s, hook = session(wire_server, cache)
    streamed = "".join(s.stream_message("Answer in one word"))
    s.reset()
    assert "".join(s.stream_message("Answer in one word")) == streamed
    s.reset()
    assert s.send_message("answer in one word").cached
    assert len(wire_server.requests) == 1 and hook.stats()["hits"] == 2


def test_sessions_that_differ_only_by_seed_do_not_share_answers():
    from glwork.cache import Scope

    class S:  # the public attributes Scope.from_session reads
        provider, model, system_message, temperature, tools, response_format = "openai", "gpt-4", None, 0.8, None, None
        max_tokens, tool_choice, seed = 50, None, 1

    a, b = S(), S()
    b.seed = 2
    assert Scope.from_session(a).key != Scope.from_session(b).key
    b.seed = 1
    assert Scope.from_session(a).key == Scope.from_session(b).key
    b.seed = None
    assert "seed" not in (Scope.from_session(b).extra or {})
