"""The "Your turn" checks: each passes on its worked solution and fails, with specific advice, on
plausible wrong attempts. Sessions here are built but the model is not called: replies are made by
hand, so each test is about the check's judgement."""
import pytest

from glwork.lab import check, exercises
from glwork.llm import ChatResponse, ChatSession, ToolCall

EMISSIONS = {"name": "calculate_emissions", "description": "Calculate CO2 emissions",
             "parameters": {"type": "object", "properties": {"distance_km": {"type": "number"},
                                                             "transport_mode": {"type": "string"}}}}
GRID = {"name": "get_grid_factor", "description": "Grid electricity emission factor of a country",
        "parameters": {"type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]}}


def session(*tools, **kw):
    return ChatSession(provider="openai", api_key="x" * 24, base_url="http://127.0.0.1:9/v1", functions=list(tools),
                       **kw)


def reply(name=None, **args):
    calls = [ToolCall("call_1", name, args)] if name else []
    return ChatResponse("" if name else "Germany's grid emits about 0.4 kg per kWh.", tool_calls=calls)


def test_every_exercise_is_registered_with_a_title():
    ids = exercises()
    assert "01.second_tool" in ids and all(ids.values())


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(ValueError, match="01.second_tool"):
        check("01.second", None, None)


def test_second_tool_solution_passes():
    result = check("01.second_tool", session(EMISSIONS, GRID), reply("get_grid_factor", country="Germany"))
    assert result.passed and "get_grid_factor" in str(result)


@pytest.mark.parametrize("attempt,advice", [
    (lambda: (session(EMISSIONS), reply("calculate_emissions", distance_km=5)), "1 tool"),
    (lambda: (session(EMISSIONS, GRID), reply()), "answered in text"),
    (lambda: (session(EMISSIONS, GRID), reply("calculate_emissions", distance_km=5)),
     "called calculate_emissions again"),
    (lambda: (session(EMISSIONS, GRID), reply("get_grid_factor")), "required argument"),
    (lambda: ("openai", reply("get_grid_factor", country="FR")), "not the ChatSession"),
])
def test_second_tool_wrong_attempts_fail_with_advice(attempt, advice):
    result = check("01.second_tool", *attempt())
    assert not result.passed and advice in str(result)


def test_a_check_called_wrongly_reads_as_advice_not_a_traceback():
    result = check("01.second_tool", session(EMISSIONS, GRID))
    assert not result.passed and "copy the check line" in str(result)


def test_second_tool_not_started_is_todo():
    result = check("01.second_tool", None, None)
    assert result.status == "todo"


def json_reply(text):
    return ChatResponse(text)


def test_json_numbers_solution_passes():
    text = '{"company": "Siemens", "year": 2022, "scope1_tonnes": 2300000, "scope2_tonnes": 450000}'
    assert check("01.json_numbers", json_reply(text)).passed


@pytest.mark.parametrize("text,advice", [
    ('{"company": "Siemens", "scope1": 2.3, "scope2": 0.45}', "written out in full"),
    ('{"company": "Siemens", "scope1": "2.3M tonnes", "scope2": "450k tonnes"}', "json_schema"),
    ('{"company": "Siemens", "scope1": 2300000}', "450,000"),
    ("Siemens emitted 2.3M tonnes", "not JSON"),
    ('[2300000, 450000]', "not an object"),
])
def test_json_numbers_wrong_attempts(text, advice):
    result = check("01.json_numbers", json_reply(text))
    assert not result.passed and advice in str(result)


def test_grounded_solution_passes_and_shortcuts_fail():
    from glwork.lab import fact_card
    card = fact_card("ghg-scope3-07-employee-commuting") + " Answer from these facts only."
    good = ChatResponse("Employee commuting covers emissions from the transportation of employees between their "
                        "homes and their worksites, in vehicles not owned by the company.")
    assert check("01.grounded", session(system_message=card), good).passed
    assert "no fact card" in str(check("01.grounded", session(system_message="You are an expert."), good))
    off_topic = ChatResponse("Paris is the capital of France.")
    assert "shares almost no words" in str(check("01.grounded", session(system_message=card), off_topic))


def test_check_results_are_not_typeset_as_maths_in_jupyterlab():
    # "reserved $0.0019 ... cost $0.0013": JupyterLab typesets $...$ in HTML output unless told not to
    html = check("01.json_numbers", json_reply('{"a": "2.3M"}'))._repr_html_()
    assert html.startswith('<div class="tex2jax_ignore mathjax_ignore">')
