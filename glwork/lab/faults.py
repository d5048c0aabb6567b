"""Failures on cue for the part notebooks (04 resilience, 05 monitoring, 07 best practices).

    with scripted_faults("flaky", [503, 502]):
        flaky.send_message("...")      # two server errors, retried, then the answer

The kit's local backend serves the faults (see glwork.local.faults for the specs: 429 with
retry_after, 5xx, "timeout", "cut_stream", ...). A real provider cannot be asked to fail on cue, so
with a key (live mode) give the faulty session mode="local". In replay the recorded failures replay.
`FakeClock` (waits without sleeping), `retry_table` and `retry_timeline` (a session's retry events
as a table and a chart) are the notebooks' public names for what glwork.resilience and
glwork.monitoring keep.
"""
from contextlib import contextmanager

from ..monitoring.views import retry_table, retry_timeline  # noqa: F401
from ..resilience.clock import FakeClock  # noqa: F401


@contextmanager
def scripted_faults(session_name, faults):
    """Script `faults` for the requests of the session named `session_name`; cleared on leaving."""
    from .. import local
    if not isinstance(session_name, str) or not session_name:
        raise ValueError("scripted_faults() needs the session's name= (a string), e.g. "
                         "ChatSession(..., name='flaky') and scripted_faults('flaky', [503]).")
    local.inject_faults(list(faults), session=session_name)
    try:
        yield
    finally:
        local.clear_faults(session_name)
