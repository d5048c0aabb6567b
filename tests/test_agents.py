"""The Agent lifecycle: setup once, validate, time, record, always tear down, clear errors."""
import logging

import pytest

from glwork.agents import Agent, AgentError, AgentInputError


class Echo(Agent):
    input_schema = {"query": str}

    def __init__(self):
        super().__init__(name="echo", version="1.2.0")
        self.setups = self.teardowns = 0

    def setup(self):
        self.setups += 1

    def execute(self):
        if self.input_data["query"] == "boom":
            raise RuntimeError("exploded with sk-proj-" + "K" * 30)
        return {"answer": self.input_data["query"].upper(), "cost": 0.25}

    def teardown(self):
        self.teardowns += 1


def test_setup_runs_once_and_history_records_runs(caplog):
    a = Echo()
    with caplog.at_level(logging.INFO, logger="glwork.agents"):
        assert a.execute_with_input({"query": "hi"}) == {"answer": "HI", "cost": 0.25}
        a.execute_with_input({"query": "again"})
    assert a.setups == 1 and len(a.history) == 2
    assert a.history[0].cost == 0.25 and a.history[0].duration_ms >= 0 and a.history[0].status == "ok"
    assert "echo v1.2.0: run 1 started" in caplog.text and "run finished" in caplog.text
    assert list(a.history_dataframe().columns) == ["input", "status", "duration_ms", "cost", "error"]


def test_explicit_setup_is_not_repeated_even_for_methods_assigned_later():
    class Late(Agent):
        def execute(self):
            return self.input_data
    calls = []
    Late.setup = lambda self: calls.append("setup")  # the lab assembles methods after the class
    a = Late(name="late")
    a.setup()
    a.execute_with_input({"query": "x"})
    assert calls == ["setup"]


@pytest.mark.parametrize("bad,match", [("text", "must be a dict"), ({}, "missing 'query'"),
                                       ({"query": 3}, "must be str")])
def test_bad_input_is_refused_before_anything_runs(bad, match):
    a = Echo()
    with pytest.raises(AgentInputError, match=match):
        a.execute_with_input(bad)
    assert a.setups == 0 and a.history == []


def test_execute_failure_names_agent_version_input_and_hides_keys():
    a = Echo()
    with pytest.raises(AgentError) as e:
        a.execute_with_input({"query": "boom"})
    msg = str(e.value)
    assert "echo v1.2.0" in msg and "'boom'" in msg and "RuntimeError" in msg and "KKKK" not in msg
    assert a.history[-1].status == "error" and "KKKK" not in a.history[-1].error
    assert isinstance(e.value.__cause__, RuntimeError)


def test_context_manager_always_tears_down():
    a = Echo()
    with pytest.raises(AgentError):
        with a:
            a.execute_with_input({"query": "boom"})
    assert a.setups == 1 and a.teardowns == 1


def test_agent_needs_a_name_and_execute():
    with pytest.raises(ValueError):
        Agent(name="")
    with pytest.raises(AgentError, match="must implement execute"):
        Agent(name="bare").execute_with_input({})
