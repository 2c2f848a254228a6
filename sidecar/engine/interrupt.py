"""A statement's planning, stopped at its next checkpoint once the statement is cancelled or
past its deadline.

Planning is Python (sqlglot) over the whole statement: a 2,000-term IN list within the width
limit, or many of them, keeps a core busy for seconds. A server answers the timeout at the
deadline and leaves the planning thread behind; without a way in, that thread planned on, and
ran the query after, for nobody. The statement being opened is known to its thread (a context
variable), and the planner's long loops check it between steps: a cancelled statement's
planning raises CANCELED there (reported as the timeout when the deadline passed).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sidecar.errors import ErrorCode, SidecarError

_STOP: ContextVar[threading.Event | None] = ContextVar("planning_stop", default=None)


@contextmanager
def stoppable(stop: threading.Event) -> Iterator[None]:
    """Plan within this block; `stop.set()` ends it at the next checkpoint."""
    token = _STOP.set(stop)
    try:
        yield
    finally:
        _STOP.reset(token)


def checkpoint() -> None:
    """Raise CANCELED when the statement being planned on this thread was stopped."""
    stop = _STOP.get()
    if stop is not None and stop.is_set():
        raise SidecarError(ErrorCode.CANCELED, "the statement was stopped while it was planned")
