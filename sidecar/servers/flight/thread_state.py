"""One Python thread state per Flight call, instead of one per step of it.

pyarrow's Flight server runs each call on a thread of gRPC's own (not a Python thread) and
enters Python for every step of it: the auth handler's token check, each middleware's
start_call, sending_headers and call_completed, the handler, every pull of a DoGet generator.
Each entry takes the GIL with PyGILState_Ensure and leaves with PyGILState_Release, and on a
thread with no Python thread state of its own that makes a thread state, with its frame stack
mapped by mmap, and destroys it again on the way out (munmap, and a TLB shootdown of the
other cores): about ten times a call. gRPC's synchronous server also starts and ends its
threads as load shifts (thousands a second under concurrent lookups), so a state cannot
simply be kept per thread: a thread that ends holding one leaks it.

So the call holds one: its first entry (the auth handler's `is_valid`, or the ThreadState
middleware's start for a call that has none, Handshake) takes one more PyGILState_Ensure,
which keeps the thread's state alive between the call's entries, and the middleware's
call_completed, which gRPC's synchronous server runs on the call's own thread, gives it back.
A middleware refusing a call does not complete the others, so one that refuses lets go first
(`let_go`); a hold a refusal missed is taken over by the thread's next call, never doubled.
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
# gRPC thread -> the PyGILState_Ensure it holds for its call; each thread touches its own key
_held: dict[int, int] = {}


def hold() -> None:
    """Keep this thread's Python state until `let_go`. Call with the GIL held."""
    thread = threading.get_ident()
    if thread not in _held:
        _held[thread] = _ensure()


def let_go() -> None:
    """Give back what `hold` kept on this thread, if anything."""
    state = _held.pop(threading.get_ident(), None)
    if state is not None:
        _release(state)


class _Held(flight.ServerMiddleware):
    def call_completed(self, exception: Exception | None) -> None:
        let_go()


class ThreadState(flight.ServerMiddlewareFactory):
    """Install last: it never refuses a call, so every call it starts is completed."""

    def start_call(self, info: flight.CallInfo, headers: dict[str, Any]) -> _Held:
        hold()
        return _Held()
