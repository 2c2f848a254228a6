"""A connection's blocking work, off the event loop, abandoned on cancel or timeout.

Planning, pulling batches from the engine and encoding them block, so they run on a thread of
the connection's own. The session waits for each step, for a CancelRequest or for the statement
timeout, whichever comes first; on the latter two the running query is told to stop and the
step is abandoned (the thread is replaced so the next statement need not wait for it).

One thread per connection, not a shared pool: buffers a step allocates are freed by the event
loop once written, and with a pool each step landed on another thread whose allocator kept the
memory freed from afar; a long stream grew the process by hundreds of MB.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR

log = logging.getLogger("sidecar.pgwire")
T = TypeVar("T")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.running: Cancellable | None = None
        self._pool = self._new_pool()
        self._cancelled = asyncio.Event()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)

    def start_statement(self) -> None:
        """A cancel that arrived between statements is for none of them, as in PostgreSQL."""
        self._cancelled.clear()

    def cancel(self) -> None:
        self._cancelled.set()
        if self.running is not None:
            self.running.cancel()

    def submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def wait(
        self, future: asyncio.Future[T], deadline: float, expired: Callable[[], SidecarError]
    ) -> T:
        """The step's result, or SidecarError CANCELED / `expired()` past the deadline, with
        the step abandoned."""
        cancelled = asyncio.ensure_future(self._cancelled.wait())
        try:
            done, _ = await asyncio.wait(
                {future, cancelled},
                timeout=max(deadline - time.monotonic(), 0),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            cancelled.cancel()
        if future in done:
            return future.result()
        abandon(future)
        self._pool.shutdown(wait=False)
        self._pool = self._new_pool()
        if self.running is not None:
            self.running.cancel()
        if cancelled in done:
            raise SidecarError(ErrorCode.CANCELED, "query cancelled")
        raise expired()

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def abandon(future: asyncio.Future[Any]) -> None:
    """Nobody waits for this step any more; only log how it ended."""
    future.add_done_callback(_log_outcome)


def _log_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("abandoned query step ended with %s", REDACTOR.redact(str(future.exception())))
