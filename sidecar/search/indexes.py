"""The search indexes of one sidecar: built when datasets load, rebuilt after refreshes.

A rebuild reads the dataset through its connector (the local copy when it is accelerated),
builds a whole new index beside the one in use and swaps it in with one assignment; searches
that started on the old index finish on it. A failed rebuild keeps the old index serving and
records the error for /v1/status. In file mode an index left by the previous run serves at
once and is rebuilt in the background, like a file-mode acceleration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import ScanRequest
from policies.access import Grant
from sidecar.config import Search, SidecarConfig
from sidecar.engine.catalog import Catalog, DatasetEntry
from sidecar.errors import ErrorCode, SidecarError
from sidecar.footprint import give_back
from sidecar.search.index import BuildError, SearchIndex, build, open_current
from sidecar.search.vectors import Embed
from sidecar.secrets import REDACTOR

log = logging.getLogger("sidecar.search")
# (model name, texts) -> one vector per text; provided by the process that serves the models.
Embedder = Callable[[str, Sequence[str]], Sequence[Sequence[float]]]


@dataclass
class IndexEntry:
    """One searchable dataset: its settings, the index in use and how its builds went."""

    dataset: DatasetEntry
    settings: Search
    directory: Path | None
    current: SearchIndex | None = None
    state: str = "pending"
    error: str | None = None
    builds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, grant: Grant) -> dict[str, Any]:
        """The index's state as `grant` may see it: an indexed column it is denied is not
        named, and counts are left out where they would tell how many rows a row filter hides
        from it (rows, chunks) or how long the texts it may not read are (chunks)."""
        index = self.current
        settings = self.settings
        indexed = [
            *settings.text,
            *([settings.vectors.column] if settings.vectors else []),
            settings.chunk_column,
        ]
        rules = grant.rules(self.dataset.name, indexed)
        denied = {column for column, rule in rules.items() if rule == "deny"}
        counted = grant.counts_rows(self.dataset.name)
        chunked = counted and not denied and settings.chunk_column not in rules
        return {
            "state": self.state,
            "mode": settings.mode,
            "rows": index.rows.num_rows if index and counted else None,
            "chunks": index.chunk_count if index and chunked else None,
            "text": [column for column in settings.text if column not in denied],
            "vectors": self.settings.vectors.model if self.settings.vectors else None,
            "built_at": index.built_at if index else None,
            "build_seconds": index.build_seconds if index else None,
            "last_error": grant.readable_error(self.dataset.name, self.error),
        }


class SearchIndexes:
    def __init__(self, catalog: Catalog, config: SidecarConfig) -> None:
        self.catalog = catalog
        self.embedder: Embedder | None = None
        data_dir = config.base_dir / config.runtime.data_dir / "search"
        self.entries: dict[str, IndexEntry] = {}
        for dataset in config.datasets:
            if dataset.search is None:
                continue
            key = dataset.name.lower()
            directory = data_dir / key if dataset.search.mode == "file" else None
            self.entries[key] = IndexEntry(catalog.datasets[key], dataset.search, directory)
        self._stopped = threading.Event()

    def load(self) -> None:
        """Open what file mode kept, else build now; kept indexes are rebuilt behind."""
        for entry in self.entries.values():
            if entry.directory is not None and self._reopen(entry):
                threading.Thread(target=self.rebuild_quietly, args=(entry,), daemon=True).start()
            else:
                self.rebuild_quietly(entry)
        for entry in self.entries.values():
            interval = entry.settings.refresh_check_interval
            if interval and entry.dataset.copy is None:
                threading.Thread(
                    target=self._loop, args=(entry, interval), name=f"search-{entry.dataset.name}",
                    daemon=True,
                ).start()  # fmt: skip

    def _reopen(self, entry: IndexEntry) -> bool:
        assert entry.directory is not None
        try:
            index = open_current(entry.dataset.name, entry.settings, entry.directory)
        except (OSError, ValueError) as error:
            log.warning("search index of %s could not be reopened: %s", entry.dataset.name, error)
            return False
        if index is None:
            return False
        entry.current, entry.state = index, "ready"
        return True

    def _loop(self, entry: IndexEntry, interval: float) -> None:
        while not self._stopped.wait(interval):
            self.rebuild_quietly(entry)

    def rebuild(self, name: str) -> IndexEntry:
        """Build `name`'s index anew from the dataset and swap it in; raises on failure."""
        entry = self.entries[name.lower()]
        with entry.lock:
            entry.state = "building" if entry.current is None else entry.state
            started = time.perf_counter()
            try:
                rows = self._read(entry.dataset)
                embed = self._embed(entry.settings)
                index = build(entry.dataset.name, entry.settings, rows, embed, entry.directory)
            except SidecarError as error:
                self._failed(entry, error.message)
                raise
            except (BuildError, OSError, ValueError, RuntimeError) as error:
                self._failed(entry, str(error))
                raise SidecarError(
                    ErrorCode.SOURCE,
                    REDACTOR.redact(f"search index of {entry.dataset.name}: {error}"),
                    hint="fix the dataset's search: block; a previous index keeps serving",
                ) from None
            entry.current, entry.state, entry.error = index, "ready", None
            entry.builds += 1
            give_back()  # the build's writer threads freed their buffers into their arenas
            log.info(
                "search index of %s: %d rows, %d chunks in %.2fs",
                entry.dataset.name,
                index.rows.num_rows,
                index.chunk_count,
                time.perf_counter() - started,
            )
        return entry

    def rebuild_quietly(self, entry: IndexEntry) -> None:
        try:
            self.rebuild(entry.dataset.name)
        except SidecarError as error:
            log.error("search index of %s not rebuilt: %s", entry.dataset.name, error.message)

    def _failed(self, entry: IndexEntry, message: str) -> None:
        entry.error = REDACTOR.redact(message)
        if entry.current is None:
            entry.state = "error"

    @staticmethod
    def _read(dataset: DatasetEntry) -> Any:
        connector, schema = dataset.require()
        reader = connector.scan(ScanRequest())
        table = reader.read_all()
        return table.cast(schema) if not table.schema.equals(schema) else table

    def _embed(self, settings: Search) -> Embed | None:
        if settings.vectors is None:
            return None
        embedder, model = self.embedder, settings.vectors.model
        if embedder is None:
            return None
        return lambda texts: embedder(model, texts)

    def embed_query(self, name: str, text: str) -> Sequence[float] | None:
        """The question's vector from the dataset's model, or None without vectors."""
        vectors = self.entries[name.lower()].settings.vectors
        if vectors is None or self.embedder is None:
            return None
        try:
            return self.embedder(vectors.model, [text])[0]
        except RuntimeError as error:
            raise SidecarError(
                ErrorCode.NOT_READY,
                f"cannot embed the search text: {error}",
                hint="GET /v1/models shows the model's state",
            ) from None

    def waiting(self) -> list[IndexEntry]:
        """Indexes that cannot answer yet: not built so far, or whose only build failed (one
        that failed a rebuild keeps its previous index serving, as a stale copy does)."""
        return [entry for entry in self.entries.values() if entry.current is None]

    def searchable(self, grant: Grant | None = None) -> list[str]:
        """The searchable datasets (those `grant` sees): hints never name hidden ones."""
        names = [entry.dataset.name for entry in self.entries.values()]
        return [name for name in names if grant is None or grant.sees(name)]

    def get(self, name: str, grant: Grant | None = None) -> SearchIndex:
        """The index in use for a dataset; a clear error when there is none (yet)."""
        entry = self.entries.get(name.lower())
        if entry is None:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"dataset {name} is not searchable",
                hint="add a search: block to it in sidecar.yaml; searchable: "
                + (", ".join(self.searchable(grant)) or "none"),
            )
        if entry.current is None:
            reason = entry.error or "its index is being built"
            raise SidecarError(
                ErrorCode.NOT_READY,
                f"the search index of {entry.dataset.name} is not available: {reason}",
                hint="GET /v1/status shows the index's state",
            )
        return entry.current

    def stop(self) -> None:
        self._stopped.set()
