"""The public helpers of the Part 5 and Part 7 notebooks (glwork.lab): the text's prompt helpers,
the calls and spend tables, and what a replayed call's latency is said to be."""
import pytest

from exercise_engine import engine, engine_server, session  # noqa: F401 (fixtures)
from glwork.lab import (
    calls_table,
    document_text,
    estimate_tokens,
    format_rag_results,
    latency_note,
    load_carbon_corpus,
    load_entire_database,
    prompt_costs,
    scripted_faults,
    truncate_prompt,
)
from glwork.llm import ChatResponse, LLMError
from glwork.rag.engine import RAGResponse


def test_load_entire_database_holds_every_document_with_its_title():
    docs = load_carbon_corpus()
    whole = load_entire_database()
    assert all(f"## {d['metadata']['title']}\n{d['content']}" in whole for d in docs)
    assert estimate_tokens(whole) > 10_000


def test_document_text_and_its_advice_for_a_wrong_id():
    assert document_text("ghg-scope3-06-business-travels").startswith("Business Travels")
    with pytest.raises(ValueError, match="ghg-scope3-06-business-travels"):
        document_text("ghg-scope3-06-business-travel")


def test_format_rag_results_numbers_the_passages_of_a_response_or_a_source_list():
    sources = [{"chunk_id": "a:chunk1", "content": "First."}, {"chunk_id": "b:chunk2", "content": "Second."}]
    expected = "[1] (a:chunk1)\nFirst.\n\n[2] (b:chunk2)\nSecond."
    assert format_rag_results(RAGResponse("answer", sources)) == expected == format_rag_results(sources)
    with pytest.raises(TypeError, match="rag.query"):
        format_rag_results("some text")


def test_truncate_prompt_keeps_the_question_and_what_fits():
    context = "\n\n".join(f"Paragraph {i} " + "word " * 50 for i in range(40))
    prompt = f"{context}\n\nQuestion: Which emissions does business travel cover?"
    short = truncate_prompt(prompt, max_prompt_tokens=300)
    assert short.endswith("\n\nQuestion: Which emissions does business travel cover?")
    assert short.startswith("Paragraph 0 ") and estimate_tokens(short) <= 300 < estimate_tokens(prompt)
    assert truncate_prompt("Just a short prompt.") == "Just a short prompt."
    with pytest.raises(TypeError):
        truncate_prompt(None)


def test_prompt_costs_side_by_side_at_the_models_price():
    table = prompt_costs({"big": "word " * 9000, "small": "word " * 100}, model="gpt-4", max_tokens=80)
    assert list(table.index) == ["big", "small"]
    assert table.loc["small", "$ per question"] == round((100 * 30 + 80 * 60) / 1e6, 4)
    assert not table.loc["big", "fits gpt-4 (8,192)"] and table.loc["small", "fits gpt-4 (8,192)"]
    assert table.loc["small", "fits the local model (4,096)"]
    unknown = prompt_costs({"p": "hello"}, model="my-own-model", max_tokens=10)
    assert unknown.loc["p", "$ per question"] is None


def test_calls_table_says_what_each_cost_is(engine_server, engine):
    s = session(engine_server, max_tokens=20, name="table-demo")
    s.send_message("Hello")
    row = calls_table(s).loc[("table-demo", 1)]
    # a live call answered by a model with no price of its own: billed, at the requested model's price
    assert row["asked for"] == "gpt-4" and row["cost is"] == "billed, estimated"
    assert row["answered by"] == "glwork-extractive-v1 (live)"
    assert calls_table().empty


def test_latency_note_never_passes_a_replay_off_as_a_measurement():
    replayed = ChatResponse("x", model="qwen2.5-coder-1.5b-instruct", latency_ms=2310.0, source="recorded")
    assert "measured when the call was recorded" in latency_note(replayed) and "2,310 ms" in latency_note(replayed)
    assert "measured now" in latency_note(ChatResponse("x", model="gpt-4", latency_ms=800.0, source="live"))


def test_scripted_faults_fail_one_named_session_then_clear(monkeypatch):
    from glwork.llm import ChatSession
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")
    s = ChatSession(provider="openai", model="gpt-4", max_tokens=20, max_retries=0, name="faulty", mode="local")
    other = ChatSession(provider="openai", model="gpt-4", max_tokens=20, max_retries=0, name="other", mode="local")
    with scripted_faults("faulty", [503]):
        other.send_message("Hello")                 # another session draws nothing from the script
        with pytest.raises(LLMError) as failed:
            s.send_message("Hello")
    assert failed.value.status_code == 503
    with scripted_faults("faulty", [503]):
        pass
    s.send_message("Hello")                         # leaving the block dropped the unused script
    with pytest.raises(ValueError, match="name="):
        with scripted_faults(None, [503]):
            pass
