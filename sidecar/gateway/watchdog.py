"""One thread that stops statements at their deadlines, instead of a timer thread each.

Most alarms are disarmed long before they are due (a lookup ends in a millisecond, its deadline
is a minute away), and a disarmed alarm leaves the heap only when it reaches the top: at two
thousand statements a second that is hundreds of thousands of dead entries held for a minute.
So the heap is swept of them whenever it has doubled since the last sweep.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

SWEPT = 4096  # the heap's size that first calls for a sweep of disarmed alarms


class Alarm:
    """A call due at a deadline; `disarm` before then and it never happens."""

    def __init__(self, deadline: float, action: Callable[[], None]) -> None:
        self.deadline = deadline
        self.action: Callable[[], None] | None = action

    def disarm(self) -> None:
        self.action = None


class Watchdog:
    def __init__(self) -> None:
        self._alarms: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._sweep_at = SWEPT

    def arm(self, deadline: float, action: Callable[[], None]) -> Alarm:
        alarm = Alarm(deadline, action)
        with self._changed:
            earliest = not self._alarms or deadline < self._alarms[0][0]
            heapq.heappush(self._alarms, (deadline, next(self._order), alarm))
            if len(self._alarms) >= self._sweep_at:
                self._alarms = [entry for entry in self._alarms if entry[2].action is not None]
                heapq.heapify(self._alarms)
                self._sweep_at = max(SWEPT, 2 * len(self._alarms))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
                self._thread.start()
            if earliest:  # else the thread already wakes in time; waking it costs every query
                self._changed.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._alarms and self._alarms[0][2].action is None:
                    heapq.heappop(self._alarms)
                if not self._alarms:
                    self._changed.wait()
                    continue
                deadline, _, alarm = self._alarms[0]
                if deadline > time.monotonic():
                    self._changed.wait(deadline - time.monotonic())
                    continue
                heapq.heappop(self._alarms)
                action, alarm.action = alarm.action, None
            if action is not None:
                action()
