"""One Python thread state per Flight call, instead of one per step of it.

pyarrow's Flight server runs each call on a thread of gRPC's own (not a Python thread) and
enters Python for every step of it: each middleware's start_call, sending_headers and
call_completed, the handler, every pull of a DoGet generator. Each entry takes the GIL with
PyGILState_Ensure and leaves with PyGILState_Release, and on a thread with no Python thread
state of its own that makes a thread state, with its frame stack mapped by mmap, and destroys
it again on the way out (munmap, and a TLB shootdown of the other cores): about ten times a
call. gRPC's synchronous server also starts and ends its threads as load shifts (thousands a
second under concurrent lookups), so a state cannot simply be kept per thread: a thread that
ends holding one leaks it.

So the call holds one: this middleware, the last to start (a middleware refusing a call does
not complete the ones before it, so nothing after this one can refuse and strand it), takes
one more PyGILState_Ensure, which keeps the thread's state alive between the call's entries,
and gives it back in call_completed, which gRPC's synchronous server runs on the call's own
thread; on another thread it is left rather than released there, which would abort the
interpreter.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import pyarrow.flight as flight

THREAD_STATE = "thread_state"
_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.restype = ctypes.c_int
_release = ctypes.pythonapi.PyGILState_Release
_release.argtypes = [ctypes.c_int]
_release.restype = None


class _Held(flight.ServerMiddleware):
    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.state = _ensure()

    def call_completed(self, exception: Exception | None) -> None:
        if threading.get_ident() == self.thread:
            _release(self.state)


class ThreadState(flight.ServerMiddlewareFactory):
    """Install last: it never refuses a call, so every call it starts is completed."""

    def start_call(self, info: flight.CallInfo, headers: dict[str, Any]) -> _Held:
        return _Held()
