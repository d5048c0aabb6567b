"""Part 1 (ChatSession) exercises."""
from . import exercise

FIRST_TOOL = "calculate_emissions"


def _tools(session):
    return [t["name"] for t in getattr(session, "tools", None) or []]


@exercise("01.second_tool", "add a second tool and get the model to call it")
def second_tool(found, session, response):
    from ...response import ChatResponse
    from ...session import ChatSession
    if not isinstance(session, ChatSession):
        found.fail(f"the first argument is a {type(session).__name__}, not the ChatSession you made: "
                   f"check('01.second_tool', session, response)")
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
