"""At most runtime.flight.max_connections Flight calls at once; more are refused at once.

pyarrow's Flight server exposes no gRPC connection limit, so calls are counted instead: every
RPC, a DoGet stream included, holds one place until it completes. A client beyond the limit
gets UNAVAILABLE with what to do, rather than a thread and a planned query of its own.
"""

from __future__ import annotations

import threading
from typing import Any

import pyarrow.flight as flight

from sidecar.servers.flight.thread_state import let_go

CALL_LIMIT = "call_limit"


class _Place(flight.ServerMiddleware):
    def __init__(self, limit: CallLimit) -> None:
        self.limit = limit

    def call_completed(self, exception: Exception | None) -> None:
        self.limit.release()


class CallLimit(flight.ServerMiddlewareFactory):
    def __init__(self, size: int) -> None:
        self.size = size
        self._held = 0
        self._lock = threading.Lock()

    def start_call(self, info: flight.CallInfo, headers: dict[str, Any]) -> _Place:
        with self._lock:
            if self._held >= self.size:
                let_go()  # the call ends here, uncompleted (thread_state.py)
                raise flight.FlightUnavailableError(
                    f"the sidecar is serving {self.size} Flight calls already "
                    "(runtime.flight.max_connections)\n"
                    "HINT: retry shortly, or raise runtime.flight.max_connections"
                )
            self._held += 1
        return _Place(self)

    def release(self) -> None:
        with self._lock:
            self._held -= 1
