"""DataFusion's batches, each pull stopped within a second by the query's cancel.

A pull from datafusion's iterator blocks in native code until the next batch is ready, which
for an aggregate, a sort or a filter over an endless `generate_series` can take hours: the
query kept a core busy long after its client had gone. While it waits, datafusion runs a no-op
Python statement at least once a second (to notice Ctrl-C), and that is where a cancel gets in:
it raises `Cancelled` in the pulling thread (`PyThreadState_SetAsyncExc`), datafusion drops the
future, and closing the stream aborts every task DataFusion spawned for the plan, so its CPU
and memory come back. The exception is only ever armed while the thread is inside a pull, and
disarmed before the pull returns, so it never lands in code that did not ask for it.

Pulling stays synchronous on purpose: the asynchronous iterator computes batches on other
threads, and DataFusion's allocator (mimalloc) keeps memory freed across threads; a 400 MB
stream grew the process by twice what the synchronous pull did.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa
from datafusion import DataFrame, RecordBatchStream

from connectors.base import Cancellation
from sidecar.engine.bridge import Cancelled

T = TypeVar("T")


class StoppableStream:
    def __init__(self, frame: DataFrame, cancellation: Cancellation) -> None:
        self._lock = threading.Lock()
        self._pulling: int | None = None  # the thread inside a pull, if any
        self._stopped = False
        self._forget = cancellation.on_cancel(self._stop)
        try:
            self._stream: RecordBatchStream | None = self._interruptible(frame.execute_stream)
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> StoppableStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self._stream is None:
            raise Cancelled("query cancelled")
        try:
            batch = self._interruptible(self._stream.__next__)
        except BaseException as error:
            self.close()
            raise _detached(error) from error.__cause__
        return batch.to_pyarrow()

    def close(self) -> None:
        """Drop the stream: DataFusion aborts the tasks it spawned for the plan. Idempotent."""
        self._forget()
        with self._lock:
            self._stopped = True
            self._pulling = None
        self._stream = None

    def _interruptible(self, pull: Callable[[], T]) -> T:
        with self._lock:
            if self._stopped:
                raise Cancelled("query cancelled")
            self._pulling = threading.get_ident()
        try:
            return pull()
        except Cancelled:
            # Raised again below, once this handler is over: the armed exception's traceback
            # holds datafusion's frame, and that frame the stream.
            pass
        finally:
            del pull  # a traceback keeps this frame, and `pull` keeps the stream
            with self._lock:
                self._pulling = None
                _disarm(threading.get_ident())
                stopped = self._stopped
            if stopped:
                raise Cancelled("query cancelled")
        raise Cancelled("query cancelled")

    def _stop(self) -> None:
        """From any thread: raise Cancelled in the pull under way; later pulls raise it too."""
        with self._lock:
            self._stopped = True
            if self._pulling is not None:
                _arm(self._pulling)


def _detached(error: BaseException) -> BaseException:
    """`error` and the errors it was raised from, without their tracebacks.

    The frames of a failed pull (datafusion's own __next__ among them) hold the stream, and with
    it the tasks still computing and the memory its operators reserved. A kept error, whether
    chained as a cause or context or held by a thread waiting for its outcome, would keep them
    all until the garbage collector happens to visit the cycle; in an idle process, never.
    """
    seen: set[int] = set()
    links: list[BaseException | None] = [error]
    while links:
        link = links.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        link.__traceback__ = None
        links += (link.__cause__, link.__context__)
    return error


def _arm(thread: int) -> None:
    """Raise Cancelled in `thread` at its next Python instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(Cancelled))


def _disarm(thread: int) -> None:
    """Forget an exception armed for `thread` that it has not raised yet."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None)
