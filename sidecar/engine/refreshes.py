"""One dataset's refreshes, run on a thread of their own: at most one running and one waiting.

Whoever asks for a refresh (the API, the schedule, the retries of a failing copy) waits for
it, but not forever. A source that stops answering without an error (a server frozen, a
network dropping packets) holds a refresh in a read no timeout of the driver ends: the
waiters once held a thread each, one more at every scheduled refresh and every request, and
the status said `ready`. Now a waiter gives up once the source has given no sign of life for
longer than it may take (`stalled`), and the refresh waits on in the background, alone: a
refresh asked meanwhile joins the one waiting to run after it, which reads the source once the
running one is done, so nothing asked is skipped and no thread piles up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedOut

POLL = 0.25  # seconds between looks at whether the source still shows signs of life


class Stalled(Exception):
    """The source has not answered a refresh for longer than it may; it goes on waiting."""


class Refreshes:
    def __init__(self, name: str, refresh: Callable[[], None]) -> None:
        self._name = name
        self._refresh = refresh
        self._lock = threading.Lock()
        self._running: Future[None] | None = None
        self._waiting: Future[None] | None = None

    def run(self, stalled: Callable[[], float | None]) -> None:
        """Refresh, and wait for it: raises what the refresh raised, or Stalled once
        `stalled()` (seconds the source has been silent past its time, else None) says so."""
        done = self._ask()
        while True:
            try:
                return done.result(timeout=POLL)
            except WaitedOut:
                silent = stalled()
                if silent is not None:
                    raise Stalled(f"the source has not answered for {silent:.0f}s") from None

    def _ask(self) -> Future[None]:
        with self._lock:
            if self._waiting is not None:
                return self._waiting
            asked: Future[None] = Future()
            if self._running is None:
                self._start(asked)
            else:
                self._waiting = asked
            return asked

    def _start(self, asked: Future[None]) -> None:
        self._running = asked
        thread = threading.Thread(
            target=self._work, args=(asked,), name=f"refresh-of-{self._name}", daemon=True
        )
        thread.start()

    def _work(self, asked: Future[None]) -> None:
        try:
            self._refresh()
        except BaseException as error:  # handed to every waiter, as raised
            asked.set_exception(error)
        else:
            asked.set_result(None)
        finally:
            with self._lock:
                following, self._waiting, self._running = self._waiting, None, None
                if following is not None:
                    self._start(following)
