""""Your turn" exercises of the part notebooks, and the checks that give specific feedback.

    glwork.lab.check("01.second_tool", session, response)   # ✓ / ✗ with what to change

Each part's exercises live in their own module (part1.py, ...), registered with @exercise. A check
never raises on the learner's mistakes: a bug in their code reads as advice, not a traceback.
"""
from importlib import import_module

from ..attendee_code import describe
from ..report import ExerciseCheck, Findings

PARTS = ("part1", "part2", "part3", "part4", "part5", "part7")
_registry: dict[str, tuple] = {}   # id -> (title, check function)


def exercise(exercise_id, title):
    """Register `fn(found, *args, **kwargs)` as the check of `exercise_id`."""
    def register(fn):
        _registry[exercise_id] = (title, fn)
        return fn
    return register


def given(found, obj, cls, advice):
    """True if `obj` is a `cls`; else fails with `advice`, whose {} names the type that was passed."""
    if isinstance(obj, cls):
        return True
    found.fail(advice.format(type(obj).__name__))
    return False


def given_session(found, session, call):
    """True if `session` is a ChatSession; else says what was passed instead (`call`: the check line)."""
    from ...session import ChatSession
    if session is None:
        found.todo("no session yet: create it in the cell above the check")
        return False
    return given(found, session, ChatSession, "the argument is a {}, not a ChatSession: " + _literal(call))


def _literal(text):
    return text.replace("{", "{{").replace("}", "}}")


def exercises():
    """Every exercise id with its title, in notebook order."""
    _load()
    return {k: v[0] for k, v in sorted(_registry.items())}


def check(exercise_id, *args, **kwargs):
    """Check a "Your turn" exercise; returns an ExerciseCheck (Jupyter shows it, `bool()` says passed)."""
    _load()
    if exercise_id not in _registry:
        known = ", ".join(sorted(_registry))
        raise ValueError(f"No exercise {exercise_id!r}. The exercises are: {known}.")
    title, fn = _registry[exercise_id]
    found = Findings()
    try:
        fn(found, *args, **kwargs)
    except TypeError as exc:
        if "positional argument" in str(exc) or "keyword argument" in str(exc):
            found.fail(f"check({exercise_id!r}, ...) was called with other arguments than the exercise "
                       f"cell shows ({exc}); copy the check line from the exercise cell")
        else:
            found.fail(f"the check stopped on an error from your code: {describe(exc)}")
    except Exception as exc:   # the learner's code failed inside the check: advice, not a traceback
        found.fail(f"the check stopped on an error from your code: {describe(exc)}")
    return ExerciseCheck(exercise_id, title, list(found))


def _load():
    for part in PARTS:
        try:
            import_module(f"{__name__}.{part}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{part}":
                raise
