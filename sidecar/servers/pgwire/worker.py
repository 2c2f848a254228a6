"""A connection's blocking work, off the event loop, abandoned on cancel or timeout.

Planning, pulling batches from the engine and encoding them block, so they run on a thread of
the connection's own. The session waits for each step, for a CancelRequest or for the statement
timeout, whichever comes first; on the latter two the running query is told to stop and the
step is abandoned (the thread is replaced so the next statement need not wait for it).

One thread per connection, not a shared pool: buffers a step allocates are freed by the event
loop once written, and with a pool each step landed on another thread whose allocator kept the
memory freed from afar; a long stream grew the process by hundreds of MB. And a step waiting
on a slow source must not hold up other connections' steps.

A point lookup is three steps (plan, pull and encode, end of rows), so a hand-off is kept to
what it needs: a queue to the thread and one `call_soon_threadsafe` back, no executor and no
chain of futures (under 64 clients those were a fifth of the event loop's time).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR

log = logging.getLogger("sidecar.pgwire")
T = TypeVar("T")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.running: Cancellable | None = None
        self._jobs: queue.SimpleQueue[Job | None] | None = None
        self._cancelled = False
        self._reason = "query cancelled"
        self._waiter: asyncio.Future[None] | None = None

    def start_statement(self) -> None:
        """A cancel that arrived between statements is for none of them, as in PostgreSQL."""
        self._cancelled = False

    def cancel(self, reason: str = "query cancelled") -> None:
        """A CancelRequest, or the client gone (on the event loop): the step waited for ends
        now, CANCELED with `reason`."""
        self._cancelled = True
        self._reason = reason
        if self._waiter is not None:
            _settle(self._waiter)
        if self.running is not None:
            self.running.cancel()

    def submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`function(*args)` on the connection's thread (started on first use)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(self._jobs,), name=self.name, daemon=True).start()
        self._jobs.put((loop, future, function, args))
        return future

    async def wait(
        self, future: asyncio.Future[T], deadline: float, expired: Callable[[], SidecarError]
    ) -> T:
        """The step's result, or SidecarError CANCELED / `expired()` past the deadline, with
        the step abandoned. One waiter woken by whichever comes first (the step, a cancel, the
        deadline's timer): a step is waited for several times per statement, so this costs no
        task of its own."""
        if not future.done() and not self._cancelled:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            done = functools.partial(_settle, waiter)
            future.add_done_callback(done)
            timer = loop.call_later(max(deadline - time.monotonic(), 0), _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                future.remove_done_callback(done)
                self._waiter = None
        if future.done():
            return future.result()
        abandon(future)
        self.close()  # the thread finishes the abandoned step, then ends; a new one serves on
        if self.running is not None:
            self.running.cancel()
        if self._cancelled:
            raise SidecarError(ErrorCode.CANCELED, self._reason)
        raise expired()

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None


def _serve(jobs: queue.SimpleQueue[Job | None]) -> None:
    """A connection's thread: each job's outcome goes back to the event loop that asked."""
    while (job := jobs.get()) is not None:
        loop, future, function, args = job
        try:
            result, error = function(*args), None
        except BaseException as failure:  # the loop side decides what a failure means
            result, error = None, failure
        try:
            loop.call_soon_threadsafe(_resolve, future, result, error)
        except RuntimeError:  # the loop has closed: nobody waits any more
            return
        del job, future, result, error


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle(waiter: asyncio.Future[None], *_: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


def abandon(future: asyncio.Future[Any]) -> None:
    """Nobody waits for this step any more; only log how it ended."""
    future.add_done_callback(_log_outcome)


def _log_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("abandoned query step ended with %s", REDACTOR.redact(str(future.exception())))
