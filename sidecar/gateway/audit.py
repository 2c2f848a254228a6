"""The audit log: one JSON line per statement and per failed login, written off the query path.

Callers only put the line's time and fields on a queue. A writer thread wakes every POLL
seconds, turns what was queued since into JSON lines and writes them with one write to a file
rotated by size (as logging's RotatingFileHandler names the files: audit.jsonl.1, .2, ...) or
to stdout, so lines appear within about 50 ms. Writing a batch at once matters under load: a
logging record, two system calls and a GIL handover per line made an audited lookup cost twice
an unaudited one (benchmarks/README.md, Concurrency). Records hold what was asked, by whom,
and what came of it, never values: the SQL is passed through the redactor, parameters and API
keys are not recorded at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol, TextIO

from sidecar.config import Audit

log = logging.getLogger("sidecar.audit")
STDOUT = "-"
POLL = 0.05


class Sink(Protocol):
    def write(self, lines: list[str]) -> None: ...

    def close(self) -> None: ...


class AuditLog:
    """Where audit records go; without `audit:` in sidecar.yaml they go nowhere."""

    def __init__(self, config: Audit | None, base_dir: Path) -> None:
        self.enabled = config is not None
        self._queue: queue.SimpleQueue[tuple[float, dict[str, Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        if config is None:
            return
        self._sink: Sink = (
            Stdout(sys.stdout)
            if config.path == STDOUT
            else RotatingFile(base_dir / config.path, config.max_size, config.backups)
        )
        self._writer = threading.Thread(target=self._run, name="audit-log", daemon=True)
        self._writer.start()

    def write(self, fields: dict[str, Any]) -> None:
        """Queue one line: its time and fields, nothing more on the caller's thread."""
        if self.enabled:
            self._queue.put((time.time(), fields))

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        if self._writer is not None:
            self._stop.set()
            self._writer.join()
            self._writer = None
            self._sink.close()
        self.enabled = False

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        lines = []
        take = self._queue.get_nowait
        while True:
            try:
                created, fields = take()
            except queue.Empty:
                break
            try:
                lines.append(_line(created, fields))
            except (TypeError, ValueError) as error:  # one bad record costs only its own line
                log.error("an audit record could not be written as JSON: %s", error)
        if not lines:
            return
        try:
            self._sink.write(lines)
        except Exception as error:  # a full disk must not stop the auditing that follows
            log.error("cannot write %d audit lines: %s", len(lines), error)


def _line(created: float, fields: dict[str, Any]) -> str:
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    line = {"time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    line.update(fields)
    return json.dumps(line, separators=(",", ":"), default=str) + "\n"


class Stdout:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, lines: list[str]) -> None:
        self.stream.write("".join(lines))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class RotatingFile:
    """Lines appended to `path`; one that would take it to `max_size` (counted in characters,
    as logging's RotatingFileHandler does) first moves it to path.1, path.1 to path.2, ... up
    to `backups` files. With no backups the file is not rotated at all, as there."""

    def __init__(self, path: Path, max_size: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.max_size, self.backups = path, max_size, backups
        self._file = self._open()
        self._size = self._file.tell()

    def _open(self) -> TextIO:
        return open(self.path, "a", encoding="utf-8")

    def write(self, lines: list[str]) -> None:
        pending: list[str] = []
        size = self._size
        for line in lines:
            if self.backups and size and size + len(line) >= self.max_size:
                self._file.write("".join(pending))
                self._rotate()
                pending, size = [], 0
            pending.append(line)
            size += len(line)
        self._file.write("".join(pending))
        self._file.flush()
        self._size = size

    def _rotate(self) -> None:
        self._file.close()
        for number in range(self.backups - 1, 0, -1):
            older = Path(f"{self.path}.{number}")
            if older.exists():
                os.replace(older, f"{self.path}.{number + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._file = self._open()

    def close(self) -> None:
        self._file.close()
