"""A scripted engine for the tests of "Your turn" checks that send messages: the kit's real local
server answers ChatSessions in live mode with replies chosen by a test (no LLM, milliseconds)."""
import pytest

from glwork.llm import ChatSession
from glwork.local.engine import GenResult
from glwork.local.extractive import ExtractiveEngine
from glwork.local.faults import FaultPlan
from glwork.local.server import LocalServer

KEY = "sk-test-exercises-0123456789abcdef"


class ScriptedEngine(ExtractiveEngine):
    """Replies with `reply(request)` (a GenRequest -> text); keeps the requests it answered."""

    def __init__(self):
        super().__init__(why="exercise tests")
        self.reply = lambda req: "Solar power."
        self.requests = []

    def chat(self, req):
        self.requests.append(req)
        prompt_tokens = self.prompt_tokens(req)
        yield "start", prompt_tokens
        text = self.reply(req)
        tokens = self.count_tokens(text)
        finish = "stop"
        if req.max_tokens is not None and tokens > req.max_tokens:
            text = " ".join(text.split()[:req.max_tokens])
            tokens, finish = self.count_tokens(text), "length"
        yield "text", text
        yield "done", GenResult(text, [], finish, prompt_tokens, tokens)


@pytest.fixture(scope="module")
def engine_server():
    engine = ScriptedEngine()
    srv = LocalServer(engine=engine, faults=FaultPlan()).start()
    srv.engine_ = engine
    yield srv
    srv.stop()


@pytest.fixture
def engine(engine_server):
    engine_server.engine_.reply = lambda req: "Solar power."
    engine_server.engine_.requests.clear()
    return engine_server.engine_


def session(server, **kw):
    """A live-mode ChatSession whose provider is the local server (priced as gpt-4 unless told)."""
    return ChatSession(provider="openai", model=kw.pop("model", "gpt-4"), base_url=server.url + "/v1", api_key=KEY,
                       timeout=5.0, max_retries=0, **kw)
