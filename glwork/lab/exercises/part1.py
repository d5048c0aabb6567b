"""Part 1 (ChatSession) exercises."""
from . import exercise, given

FIRST_TOOL = "calculate_emissions"


def _tools(session):
    return [t["name"] for t in getattr(session, "tools", None) or []]


@exercise("01.second_tool", "add a second tool and get the model to call it")
def second_tool(found, session, response):
    from ...response import ChatResponse
    from ...session import ChatSession
    if session is None:
        found.todo("no session yet: make one with your second tool and send it a question")
        return
    if not given(found, session, ChatSession, "the first argument is a {}, not the ChatSession you made: "
                                               "check('01.second_tool', session, response)"):
        return
    names = _tools(session)
    if len(names) < 2:
        found.fail(f"the session has {len(names)} tool(s) ({', '.join(names) or 'none'}): pass both tools, "
                   f"e.g. ChatSession(..., functions=[calculate_emissions_tool, your_tool])")
        return
    found.ok(f"the session offers {len(names)} tools: {', '.join(names)}")
    if not isinstance(response, ChatResponse):
        found.fail("the second argument should be the reply of session.send_message(...)")
        return
    if not response.tool_calls:
        found.fail(f"the model answered in text instead of calling a tool ({str(response)[:80]!r}): ask "
                   f"something only your tool can do, and describe that in its description")
        return
    called = response.tool_calls[0]
    if called.name not in names:
        found.fail(f"the model called {called.name!r}, which the session does not offer")
    elif called.name == FIRST_TOOL and len(names) > 1:
        found.fail(f"the model called {FIRST_TOOL} again: ask a question that needs your new tool")
    else:
        spec = next(t for t in session.tools if t["name"] == called.name)
        required = (spec.get("parameters") or {}).get("required") or []
        missing = [p for p in required if p not in called.arguments]
        if missing:
            found.fail(f"the model called {called.name} without its required argument(s) {missing}: "
                       f"name them in your question")
        else:
            found.ok(f"the model called your tool: {called.name}({called.arguments})")
            if session.tool_choice == called.name:
                found.info("you forced the call with tool_choice; try tool_choice=None: does the model still pick it?")


@exercise("01.json_numbers", "get JSON whose numbers a program can use")
def json_numbers(found, response, expected=(2_300_000, 450_000)):
    import json

    from ...response import ChatResponse
    if response is None:
        found.todo("no reply yet: send the extraction request in JSON mode")
        return
    if not isinstance(response, ChatResponse):
        found.fail("pass the reply of session.send_message(...), the ChatResponse itself")
        return
    try:
        data = json.loads(response)
    except ValueError:
        found.fail("the reply is not JSON: create the session with a response_format")
        return
    if not isinstance(data, dict):
        found.fail(f"the JSON is a {type(data).__name__}, not an object with keys")
        return
    numbers = [v for v in data.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    texts = {k: v for k, v in data.items() if isinstance(v, str) and any(c.isdigit() for c in v)}
    missing = [n for n in expected if n not in numbers]
    if not missing:
        found.ok(f"both amounts are numbers a program can add up: {', '.join(f'{n:,}' for n in expected)}")
        return
    if texts:
        found.fail(f"{', '.join(f'{k}={v!r}' for k, v in texts.items())} is text, not a number: give the session "
                   f"a JSON schema whose amount fields are integers, response_format={{'type': 'json_schema', "
                   f"'json_schema': {{'name': 'record', 'schema': {{...}}}}}}; the model can then only write numbers")
    else:
        shown = ", ".join(f"{k}={v!r}" for k, v in data.items())
        found.fail(f"expected the amounts {', '.join(f'{n:,}' for n in missing)} as numbers, got {shown}: "
                   f"tonnes written out in full (2.3M = 2300000, 450k = 450000), one field each")


@exercise("01.grounded", "ground a question of your own in the corpus")
def grounded(found, session, response):
    import re

    from ...session import ChatSession
    if session is None or response is None:
        found.todo("no session or reply yet: put a fact card in the system message and ask your question")
        return
    if not given(found, session, ChatSession, "the first argument should be your ChatSession"):
        return
    card = session.system_message or ""
    if "(source: data/carbon-corpus/" not in card:
        found.fail("the system message holds no fact card: system_message=fact_card('ghg-scope3-07-employee-"
                   "commuting') + ' Answer from these facts only.'")
        return
    found.ok("the system message carries a fact card with its source")
    if "only" not in card.lower():
        found.warn("tell the model to answer from these facts only, or it may still answer from memory")
    stop = {"the", "and", "for", "from", "that", "with", "this", "are", "which", "their", "such", "into",
            "emissions", "scope", "source", "data", "carbon", "corpus"}
    words = lambda t: {w for w in re.findall(r"[a-z]{4,}", t.lower()) if w not in stop}  # noqa: E731
    shared = words(str(response)) & words(card)
    if len(shared) < 3:
        found.fail(f"the answer shares almost no words with the fact card ({', '.join(sorted(shared)) or 'none'}): "
                   f"ask about what the card says, and say 'answer from these facts only'")
    else:
        found.ok(f"the answer uses the card's terms ({', '.join(sorted(shared)[:6])})")
