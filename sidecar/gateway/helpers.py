"""Helper threads for servers that serve on threads (Flight): a step run within a deadline.

A step may be abandoned at its deadline (a source stuck in a read must not hold the answer
back), so it runs on a thread of its own rather than on the server's; idle helpers wait for the
next step instead of a thread being started for each (starting one costs about as much as a
point lookup). A helper left behind by an abandoned step finishes it and becomes idle again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
IDLE_SECONDS = 30.0


class Job(Generic[T]):
    """One step on a helper: wait for it, then take its result or raise its error."""

    def __init__(self, function: Callable[..., T], args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args
        self._done = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._result = self.function(*self.args)
        except BaseException as error:  # handed to whoever waits
            self._error = error
        finally:
            self._done.set()

    def wait(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)

    def outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class Helpers:
    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._idle: list[queue.SimpleQueue[Job[Any]]] = []
        self._lock = threading.Lock()

    def run(self, function: Callable[..., T], *args: Any) -> Job[T]:
        """Start `function(*args)` on an idle helper, or on a new one."""
        job: Job[T] = Job(function, args)
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), name="helper", daemon=True).start()
        inbox.put(job)
        return job

    def _serve(self, inbox: queue.SimpleQueue[Job[Any]]) -> None:
        while True:
            try:
                job = inbox.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # not handed a job meanwhile: end
                        self._idle.remove(inbox)
                        return
                continue
            job.run()
            del job
            with self._lock:
                self._idle.append(inbox)


HELPERS = Helpers()
