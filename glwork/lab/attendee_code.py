"""Running and reading an attendee's agent without letting its mistakes crash the notebook."""
import contextlib
import logging
import math
import re

from ..security import redact

_SCOPE_ID = re.compile(r"scope[\s_-]?([123])(?!\d)", re.I)
_SCOPE_TEXT = re.compile(r"\bscope\s?([123])(?!\d)", re.I)


def describe(exc):
    """An exception in one line, without keys."""
    text = redact(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 300 else text[:297] + "..."


def ask(agent, query):
    """(result, None), or (None, what went wrong) for one run of `agent.execute_with_input`."""
    from ..agents import AgentError, AgentInputError
    try:
        return agent.execute_with_input({"query": query}), None
    except AgentInputError as exc:
        return None, describe(exc)
    except AgentError as exc:   # execute() raised: show the attendee's own exception
        return None, describe(exc.__cause__ or exc)
    except Exception as exc:
        return None, describe(exc)


def raised_value_error(agent, query):
    """True if running `query` is refused with a ValueError (directly or as the AgentError's cause)."""
    from ..agents import AgentError
    try:
        with _quiet("glwork.agents"):   # the failure is the point: no warning in the notebook
            agent.execute_with_input({"query": query})
    except ValueError:
        return True, None
    except AgentError as exc:
        return isinstance(exc.__cause__, ValueError), describe(exc.__cause__ or exc)
    except Exception as exc:
        return False, describe(exc)
    return False, None


@contextlib.contextmanager
def _quiet(name):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def money(x):
    return "$nan (no known price)" if is_number(x) and math.isnan(x) else f"${x:.4f}"


def source_scope(source):
    """The GHG scope a source is about (1, 2, 3), from its id or, failing that, its text; else None."""
    m = _SCOPE_ID.search(str(source.get("id", "")))
    if m is None:
        m = _SCOPE_TEXT.search(str(source.get("content", ""))[:200])
    return int(m.group(1)) if m else None


def user_turns(session):
    try:
        return sum(1 for m in session.get_conversation_history() if m["role"] == "user")
    except Exception:
        return 0
