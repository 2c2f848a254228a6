"""All accelerations of a sidecar: where their copies live and when they refresh.

Each accelerated dataset gets a daemon thread that sleeps a jittered interval, refreshes, and
applies retention. Refreshes that share a source take turns (one lock per source), so an agent
with ten accelerated tables on one database opens at most one refresh query there at a time.

A copy without `refresh_check_interval` is refreshed only when it loads and when asked; if
that failed (a file copy serving its previous rows while the source is down, stale), nothing
would ever try again. Its thread retries such a copy with the backoff a refresh's own
attempts use (refresh_retry_backoff, doubling, at most MAX_RETRY_WAIT), or after the wait a
rate-limited source asked for when that is longer, the next attempt shown as
`next_refresh_at`, until a refresh works.
"""

from __future__ import annotations

import atexit
import itertools
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from accelerators.arrow import ArrowConnector, ArrowCopy
from accelerators.connector import AcceleratedConnector
from accelerators.refresh import MAX_RETRY_WAIT, Accelerated, LocalCopy, RefreshError
from accelerators.sqlite import SqliteConnector, SqliteCopy
from accelerators.store import DuckDbStore
from connectors.base import Connector, DatasetSource
from connectors.sql import SqlConnector
from connectors.web.retry import RetryPolicy
from sidecar.config import Acceleration as Settings
from sidecar.config import SidecarConfig
from sidecar.secrets import REDACTOR

RefreshOne = Callable[[str], None]
# Whether a dataset's copy is failing (stale or in error): its last refresh did not work.
Failing = Callable[[str], bool]
EXIT_WAIT = 2.0  # seconds a retry under way may take to end when the process exits


class Accelerator:
    def __init__(self, config: SidecarConfig) -> None:
        self.store = DuckDbStore(config.runtime.memory_bytes)
        self.copies: dict[str, LocalCopy] = {}
        for dataset in config.datasets:
            if dataset.accelerated:
                assert dataset.acceleration is not None
                self.copies[dataset.name.lower()] = self._copy(
                    dataset.name, dataset.acceleration, config
                )
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._refresh: RefreshOne | None = None
        self._failing: Failing | None = None
        self._retrying: set[str] = set()
        self._retrying_lock = threading.Lock()
        atexit.register(_end_retries, weakref.ref(self))

    def _copy(self, name: str, settings: Settings, config: SidecarConfig) -> LocalCopy:
        """The engine's copy of one dataset; a file copy's file defaults to
        <data_dir>/<name>.<engine>."""
        if settings.engine == "arrow":
            return ArrowCopy(name, settings)
        path = None
        if settings.mode == "file":
            default = config.runtime.data_dir / f"{name.lower()}.{settings.engine}"
            path = _within(config.base_dir, settings.file or default)
        if settings.engine == "sqlite":
            return SqliteCopy(name, settings, path)
        catalog = self.store.attach(name, path) if path is not None else None
        return Accelerated(name, settings, self.store, catalog)

    def source_lock(self, connector: Connector) -> threading.Lock:
        source = connector.source
        key = (
            connector.source_key()
            if isinstance(connector, SqlConnector)
            else f"{source.scheme}:{source.location}"
        )
        return self._locks[key]

    def start(self, refresh: RefreshOne, failing: Failing) -> None:
        """Start the refresh loops; `refresh(name)` runs one refresh and records its outcome,
        `failing(name)` says whether the dataset's copy failed its last load or refresh."""
        self._refresh, self._failing = refresh, failing
        for key, copy in self.copies.items():
            interval = copy.settings.refresh_check_interval
            retention = copy.settings.retention_check_interval or interval
            if interval is None and retention is None:
                self.retry(key)
                continue
            thread = threading.Thread(
                target=self._loop, args=(key, copy, refresh), name=f"refresh-{key}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def retry(self, key: str) -> None:
        """Retry a failing copy that has no refresh interval until a refresh works (after a
        failed load, or a failed refresh asked for); nothing when it is fine or has one."""
        copy = self.copies[key]
        if copy.settings.refresh_check_interval is not None or self._failing is None:
            return
        with self._retrying_lock:
            if key in self._retrying or not self._failing(key):
                return
            self._retrying.add(key)
        thread = threading.Thread(
            target=self._retry_failed, args=(key, copy), name=f"retry-{key}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _retry_failed(self, key: str, copy: LocalCopy) -> None:
        assert self._refresh is not None and self._failing is not None
        policy = RetryPolicy(backoff=copy.settings.refresh_retry_backoff, max_wait=MAX_RETRY_WAIT)
        try:
            for failures in itertools.count(1):
                if not self._failing(key):
                    return
                delay = max(policy.delay(failures), copy.asked_wait or 0.0)
                copy.status.next_refresh_at = time.time() + delay
                if self._stopped.wait(delay):
                    return
                self._refresh(key)
        finally:
            copy.status.next_refresh_at = None
            with self._retrying_lock:
                self._retrying.discard(key)

    def _loop(self, key: str, copy: LocalCopy, refresh: RefreshOne) -> None:
        interval = copy.settings.refresh_check_interval
        retention = copy.settings.retention_check_interval or interval
        next_refresh = time.monotonic() + copy.next_delay(interval) if interval else None
        next_retention = time.monotonic() + retention if retention else None
        while not self._stopped.is_set():
            due = [t for t in (next_refresh, next_retention) if t is not None]
            copy.status.next_refresh_at = (
                time.time() + (next_refresh - time.monotonic()) if next_refresh else None
            )
            if self._stopped.wait(max(0.0, min(due) - time.monotonic())):
                return
            now = time.monotonic()
            if next_refresh is not None and interval is not None and now >= next_refresh:
                refresh(key)
                next_refresh = time.monotonic() + copy.next_delay(interval)
            if next_retention is not None and retention is not None and now >= next_retention:
                try:
                    copy.apply_retention()
                except (RefreshError, OSError) as error:
                    copy.status.last_error = REDACTOR.redact(f"retention: {error}")
                next_retention = time.monotonic() + retention

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for copy in self.copies.values():
            copy.close()
        self.store.close()


def _end_retries(accelerator: weakref.ref[Accelerator]) -> None:
    """At interpreter exit, stop retry threads between refreshes: a daemon thread frozen inside
    a refresh's native code when the interpreter finalizes aborts the process."""
    found = accelerator()
    if found is None:
        return
    found._stopped.set()
    deadline = time.monotonic() + EXIT_WAIT
    for thread in found._threads:
        if thread.name.startswith("retry-"):
            thread.join(max(0.0, deadline - time.monotonic()))


def copy_connector(
    source: DatasetSource, copy: LocalCopy, schema: pa.Schema, fallback: Connector | None
) -> Connector:
    """The connector queries use to read `copy`, typed as `schema`."""
    if isinstance(copy, ArrowCopy):
        return ArrowConnector(source, copy, schema, fallback)
    if isinstance(copy, SqliteCopy):
        return SqliteConnector(source, copy, schema, fallback)
    assert isinstance(copy, Accelerated)
    return AcceleratedConnector(source, copy, schema, fallback)


def _within(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path
