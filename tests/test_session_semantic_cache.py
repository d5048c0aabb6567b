"""ChatSession(semantic_cache=...): a repeated question is served from the cache at zero cost."""
import pytest

from glwork.cache import HashingEmbedder, SemanticCacheManager
from glwork.llm import ChatSession
from wire_server import cassette


def test_repeat_is_cached_with_zero_cost_and_stats(wire_server):
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    cache = SemanticCacheManager(embedder=HashingEmbedder(), guard=False)
    s = ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1", api_key="k" * 20,
                    semantic_cache=cache, max_retries=0)
    first = s.send_message("Which ocean lies between Europe and America?")
    again = s.send_message("Which ocean lies between Europe and America?")
    assert first == again == "Atlantic Ocean." and len(wire_server.requests) == 1
    assert not getattr(first, "cached", False) and again.cached and again.cost == 0
    stats = s.get_cache_stats()
    assert (stats["hits"], stats["misses"]) == (1, 1) and s.get_cache_hit_rate() == 50.0
    assert s.get_cost_saved() == pytest.approx(first.cost)


def test_without_a_cache_stats_are_zero(wire_server):
    s = ChatSession(provider="openai", base_url=wire_server.url + "/v1", api_key="k" * 20)
    assert s.get_cache_hit_rate() == 0.0 and s.get_cost_saved() == 0 and s.get_cache_stats()["entries"] == 0
