"""A replayed call takes milliseconds: the health monitor counts the latency measured when it was
recorded, as the session's own accounting does, never the replay's few ms as the model's."""
import time

import glwork
from glwork import config, offline
from glwork.llm import ChatSession, ProviderHealthMonitor
from glwork.monitoring.health import HealthCollector
from wire_server import cassette

KEY = "sk-proj-" + "HealthReplayTestKey" + "7" * 20


def test_health_of_a_replayed_call_is_its_recorded_latency(wire_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GLWORK_CASSETTE_DIR", str(tmp_path))
    monkeypatch.setenv("GLWORK_RECORD_BACKEND", "local")
    monkeypatch.delenv("GLWORK_REPLAY_STRICT", raising=False)
    monkeypatch.setattr(offline, "_backend_label", lambda: "wire fixture server")
    wire_server.queue(*cassette("openai/chat_nonstream_basic.yaml"))
    try:
        glwork.notebook("health-replay", mode="record", quiet=True)
        s = ChatSession(provider="openai", base_url=wire_server.url + "/v1", api_key=KEY)
        real_create = s._adapter.create
        monkeypatch.setattr(s._adapter, "create", lambda req: (time.sleep(0.3), real_create(req))[1])
        recorded = s.send_message("Which ocean?")
        offline.close_cassette()
        wire_server.close()

        collector = HealthCollector().attach()
        try:
            glwork.notebook("health-replay", mode="replay", quiet=True)
            replayed = ChatSession(provider="openai").send_message("Which ocean?")
            status = ProviderHealthMonitor(collector=collector).get_status("openai")
        finally:
            collector.detach()
    finally:
        offline.close_cassette()
        config.configure(None)
    assert replayed.source == "recorded" and recorded.latency_ms >= 300
    assert status["requests"] == 1 and abs(status["avg_latency"] - round(recorded.latency_ms, 1)) <= 1
