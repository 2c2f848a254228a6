"""The results cache: an agent asking the same question twice gets the answer from memory.

Entries are keyed by the planned SQL (views expanded, parameters bound, so formatting and
aliases of the same question share an entry) and the caller's identity. An entry dies when its
TTL passes or when any dataset it read refreshes; the whole cache holds at most `max_bytes`,
least recently used out first. Results larger than a tenth of the cache are never kept, so one
big scan cannot flush everyone's small answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from cachetools import TTLCache

from sidecar.engine.planner import Plan

HIT = "HIT"
MISS = "MISS"
BYPASS = "BYPASS"

Key = tuple[str, str]


@dataclass(frozen=True)
class Entry:
    schema: pa.Schema
    batches: tuple[pa.RecordBatch, ...]
    nbytes: int
    generations: tuple[tuple[str, int], ...]


class CachedResult:
    """A cache hit, shaped like a running QueryResult for the servers."""

    cache_status = HIT
    source_queries = 0

    def __init__(self, entry: Entry, plan: Plan) -> None:
        self.plan = plan
        self.schema = entry.schema
        self._batches = entry.batches
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._batches:
            self.rows += batch.num_rows
            yield batch

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, iter(self))

    @property
    def relations(self) -> list[str]:
        return self.plan.relations

    def cancel(self) -> None:
        """Nothing runs, so there is nothing to stop."""


class ResultsCache:
    def __init__(self, max_bytes: int, ttl: float) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        # Least recently used answers go first once their bytes pass max_bytes.
        self._entries: TTLCache[Key, Entry] = TTLCache(
            maxsize=max_bytes, ttl=ttl, timer=lambda: time.monotonic(), getsizeof=_size
        )
        self._lock = threading.Lock()

    def get(self, key: Key, generations: tuple[tuple[str, int], ...]) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.generations != generations:
                del self._entries[key]
                return None
            return entry

    def fill(
        self,
        key: Key,
        generations: tuple[tuple[str, int], ...],
        schema: pa.Schema,
        batches: Iterator[pa.RecordBatch],
    ) -> Iterator[pa.RecordBatch]:
        """Pass the batches through, keeping a copy that is stored once the result is complete."""
        kept: list[pa.RecordBatch] | None = []
        size = 0
        for batch in batches:
            if kept is not None:
                size += batch.nbytes
                if size <= self.max_bytes // 10:
                    kept.append(batch)
                else:
                    kept = None
            yield batch
        if kept is not None:
            self._put(key, Entry(schema, tuple(kept), size, generations))

    def _put(self, key: Key, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry

    def __len__(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)


def _size(entry: Entry) -> int:
    return entry.nbytes
