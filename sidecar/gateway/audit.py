"""The audit log: one JSON line per statement and per failed login, written off the query path.

Callers only put a record on a queue (logging's QueueHandler); a listener thread turns it into
JSON and writes it to a file rotated by size (RotatingFileHandler) or to stdout, a few times a
second, so lines appear within about 50 ms. Records hold
what was asked, by whom, and what came of it, never values: the SQL is passed through the
redactor, parameters and API keys are not recorded at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import queue
import sys
import time
from pathlib import Path
from typing import Any

from sidecar.config import Audit

STDOUT = "-"
POLL = 0.05


class _Polling(logging.handlers.QueueListener):
    """Wakes every POLL seconds and writes everything queued since, instead of waking per
    record: a thread woken for every statement would cost each statement a GIL handover.
    Callers queue the line's time and fields; the log record is made here, off their thread."""

    def prepare(self, record: Any) -> logging.LogRecord:
        created, fields = record
        prepared = logging.LogRecord("sidecar.audit", logging.INFO, "", 0, fields, None, None)
        prepared.created = created
        return prepared

    def dequeue(self, block: bool) -> Any:
        while True:
            try:
                return self.queue.get_nowait()  # type: ignore[no-any-return]
            except queue.Empty:
                if not block:
                    raise
                time.sleep(POLL)


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = record.msg  # type: ignore[assignment]
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line = {"time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        line.update(fields)
        return json.dumps(line, separators=(",", ":"), default=str)


class AuditLog:
    """Where audit records go; without `audit:` in sidecar.yaml they go nowhere."""

    def __init__(self, config: Audit | None, base_dir: Path) -> None:
        self.enabled = config is not None
        self._queue: queue.SimpleQueue[tuple[float, dict[str, Any]]] = queue.SimpleQueue()
        self._listener: _Polling | None = None
        if config is None:
            return
        handler: logging.Handler
        if config.path == STDOUT:
            handler = logging.StreamHandler(sys.stdout)
        else:
            path = base_dir / config.path
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=config.max_size, backupCount=config.backups, encoding="utf-8"
            )
        handler.setFormatter(_Json())
        self._listener = _Polling(self._queue, handler)
        self._listener.start()

    def write(self, fields: dict[str, Any]) -> None:
        """Queue one line: its time and fields, nothing more on the caller's thread (a Logger
        would look up its caller's stack frame, a LogRecord reads the thread and process)."""
        if self.enabled:
            self._queue.put((time.time(), fields))

    def close(self) -> None:
        """Write what is queued and stop the listener."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
            self.enabled = False
