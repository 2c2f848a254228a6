"""One worker thread per model: a llama.cpp context serves one request at a time.

A llama context is not thread-safe, and two requests interleaving on it would only slow both
down, so each model owns a single thread and a bounded FIFO of jobs. Inference therefore never
runs on the event loop: SQL requests keep being served while a model generates (llama.cpp
releases the GIL while it computes). A job is a generator run in the worker thread; what it
yields is handed to the waiting coroutine as it comes, which is how tokens stream. A caller that
goes away (a closed SSE connection, a hang-up before an answer written whole) cancels its job:
a job cancelled while still queued is skipped, and a running one stops at its next token
(`abandoned`, see stopping.py) or its next item, whichever comes first.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sidecar.llm.stopping import Abandoned

T = TypeVar("T")
_ITEM, _DONE, _ERROR = "item", "done", "error"


class QueueFull(Exception):
    """More requests are waiting for this model than its params.queue_size allows."""


@dataclass
class _Job:
    produce: Callable[[], Iterator[Any]]
    loop: asyncio.AbstractEventLoop
    inbox: asyncio.Queue[tuple[str, Any]]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def send(self, kind: str, value: Any = None) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, (kind, value))


class ModelQueue:
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=size)
        self._busy = False
        self._running: _Job | None = None
        self._thread = threading.Thread(target=self._work, name=f"llm-{name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting or running, for metrics and the status page."""
        return self._jobs.qsize() + int(self._busy)

    def abandoned(self) -> bool:
        """Whether the job running now was cancelled: asked by its generation between tokens."""
        job = self._running
        return job is not None and job.cancelled.is_set()

    async def stream(self, produce: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Run `produce()` in the worker thread and yield its items here as they come.

        Consume it inside `contextlib.aclosing` so that leaving early cancels the job at once
        rather than when the generator is garbage-collected.
        """
        job = _Job(produce, asyncio.get_running_loop(), asyncio.Queue())
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise QueueFull(
                f"model {self.name} has {self._jobs.maxsize} requests waiting already"
            ) from None
        try:
            while True:
                kind, value = await job.inbox.get()
                if kind == _DONE:
                    return
                if kind == _ERROR:
                    raise value
                yield value
        finally:
            job.cancelled.set()

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call()` in the worker thread, after the requests queued before it."""

        def produce() -> Iterator[T]:
            yield call()

        async with aclosing(self.stream(produce)) as items:
            async for item in items:
                return item
        raise RuntimeError("the worker produced nothing")

    def close(self) -> None:
        self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if job.cancelled.is_set():
                continue
            self._busy, self._running = True, job
            try:
                self._run(job)
            finally:
                self._busy, self._running = False, None

    @staticmethod
    def _run(job: _Job) -> None:
        items = job.produce()
        try:
            for item in items:
                if job.cancelled.is_set():
                    break
                job.send(_ITEM, item)
        except Abandoned:
            return  # stopped mid-generation: nobody waits for an answer
        except Exception as error:
            job.send(_ERROR, error)
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        job.send(_DONE)
