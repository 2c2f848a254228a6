"""A file dataset's listing: cached per refresh, bounded, and reused across queries.

Listing a bucket prefix costs one request per thousand objects, so a prefix of 100,000 objects
must not be listed per query. The listing of each prefix is kept until it is older than
`ttl` (`params.listing_ttl`) or until the dataset's local copy is refreshed, and no listing may
hold more than `max_objects` objects: past that the operator is told to narrow the location.

Two ways to list a prefix: one level with a delimiter (`children`, which shows sub-prefixes,
so partition pruning can skip them unlisted) or everything below it (`subtree`, the fewest
requests when nothing can be pruned). A cached subtree answers both for every prefix inside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pyarrow.fs as pafs

from connectors.base import SourceError
from connectors.stores import Store

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One listed file: its path in the store, and what the listing said about it."""

    path: str
    size: int | None
    mtime_ns: int | None


class Listing:
    """The cached listings of one dataset's store."""

    def __init__(self, store: Store, *, ttl: float, max_objects: int) -> None:
        self.store = store
        self.ttl = ttl
        self.max_objects = max_objects
        self._lock = threading.Lock()
        self._listed_at = 0.0
        self._infos: dict[str, pafs.FileInfo] = {}
        self._children: dict[str, tuple[list[Entry], list[str]]] = {}
        self._subtrees: dict[str, list[Entry]] = {}
        self._held = 0

    def fresh(self) -> Listing:
        """The listing for one scan: what is cached, unless it has outlived `ttl`."""
        with self._lock:
            if time.monotonic() - self._listed_at >= self.ttl:
                self._clear()
        return self

    def invalidate(self) -> None:
        with self._lock:
            self._clear()

    def info(self, path: str) -> pafs.FileInfo:
        """Whether `path` is a file, a prefix (directory) or nothing."""
        if path not in self._infos:
            self._infos[path] = self._call(path, lambda: self.store.filesystem.get_file_info(path))
        return self._infos[path]

    def children(self, folder: str) -> tuple[list[Entry], list[str]]:
        """The files directly in `folder` and its sub-folders, one level down."""
        covering = self._covering(folder)
        if covering is not None or not self.store.delimited:
            return _one_level(folder, self.subtree(folder))
        if folder not in self._children:
            infos = self._select(folder, recursive=False)
            files = [_entry(i) for i in infos if i.type == pafs.FileType.File]
            folders = sorted(i.path for i in infos if i.type == pafs.FileType.Directory)
            self._hold(folder, len(infos))
            self._children[folder] = (sorted(files, key=lambda e: e.path), folders)
        return self._children[folder]

    def subtree(self, folder: str) -> list[Entry]:
        """Every file below `folder`."""
        covering = self._covering(folder)
        if covering is not None:
            prefix = folder.rstrip("/") + "/"
            return [e for e in covering if e.path.startswith(prefix)]
        infos = self._select(folder, recursive=True)
        files = sorted(
            (_entry(i) for i in infos if i.type == pafs.FileType.File), key=lambda e: e.path
        )
        self._hold(folder, len(files))
        self._subtrees[folder] = files
        return files

    def _covering(self, folder: str) -> list[Entry] | None:
        """The cached subtree holding `folder`, if any (a snapshot: scans run concurrently)."""
        for cached, files in list(self._subtrees.items()):
            if folder == cached or folder.startswith(cached.rstrip("/") + "/"):
                return files
        return None

    def _select(self, folder: str, *, recursive: bool) -> Sequence[pafs.FileInfo]:
        selector = pafs.FileSelector(folder, allow_not_found=True, recursive=recursive)
        return self._call(folder, lambda: self.store.filesystem.get_file_info(selector))

    def _call(self, path: str, listing: Callable[[], T]) -> T:
        if not self._infos and not self._children and not self._subtrees:
            self._listed_at = time.monotonic()
        try:
            return listing()
        except OSError as error:
            raise self.store.error(error, path) from None

    def _hold(self, folder: str, count: int) -> None:
        self._held += count
        if self._held > self.max_objects:
            self._clear()
            raise SourceError(
                f"{self.store.display(folder)} holds more than {self.max_objects:,} objects",
                hint="point from: at a narrower prefix or a glob, filter on its partition "
                "columns, or raise params.max_objects",
            )

    def _clear(self) -> None:
        self._infos.clear()
        self._children.clear()
        self._subtrees.clear()
        self._held = 0


def _entry(info: pafs.FileInfo) -> Entry:
    return Entry(info.path, info.size, info.mtime_ns)


def _one_level(folder: str, files: list[Entry]) -> tuple[list[Entry], list[str]]:
    prefix = folder.rstrip("/") + "/"
    direct: list[Entry] = []
    folders: set[str] = set()
    for entry in files:
        rest = entry.path[len(prefix) :]
        if "/" in rest:
            folders.add(prefix + rest.split("/", 1)[0])
        else:
            direct.append(entry)
    return direct, sorted(folders)
