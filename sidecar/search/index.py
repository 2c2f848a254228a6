"""One dataset's search index: the rows it was built from, their chunks, and the full-text and
vector indexes over those chunks.

An index is immutable once built; a refresh builds a new one and the dataset's entry points at
it in one assignment, so a search runs on one consistent index from start to end. In file mode
each build goes into its own directory and a `CURRENT` file, replaced atomically, names the one
to open, so a crash mid-build leaves the previous index in place and a restart serves at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from sidecar.config import Search
from sidecar.errors import ErrorCode, SidecarError
from sidecar.search.chunking import chunks
from sidecar.search.fusion import reciprocal_rank_fusion
from sidecar.search.query import Group
from sidecar.search.text import TextIndex
from sidecar.search.vectors import Embed, VectorIndex, embed_all

ADDED_COLUMNS = ("score", "snippet", "chunk")
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
FORMAT = 1
HYBRID_DEPTH = 50
VIEWS = 8  # the visible sets an index keeps (with their full-text indexes), last used first


class BuildError(ValueError):
    """The dataset cannot be indexed as configured; the message names the column and fix."""


@dataclass(frozen=True)
class Hit:
    row: int
    chunk: int
    score: float
    snippet: str | None


class Visible:
    """The rows one row filter lets a caller see, and a full-text index over only those.

    BM25 weighs a word by how many documents hold it and a document by its length against
    the average; over the whole index those figures would count rows the filter hides, and a
    caller could learn of them from its scores and ranking (a word's score falls when hidden
    rows hold it). So a filtered caller's text search runs on an index of its visible chunks
    alone, built the first time it searches and kept beside the index (prefix expansions and
    snippet weights then come from its rows too). Vectors need no such view: a similarity
    depends on the two vectors only.

    `whole` rows are for a caller whose policy masks or denies the chunked column: its
    documents would be counted once per chunk of that column, so the scores of the other
    columns would tell how long the hidden texts are. Its index holds one document per row,
    without the chunked column."""

    def __init__(self, index: SearchIndex, rows: frozenset[int], whole: bool) -> None:
        self.index = index
        self.rows = rows
        self.whole = whole
        self._text: TextIndex | None = None
        self._lock = threading.Lock()

    def text(self) -> TextIndex | None:
        """The full-text index of these rows: the whole one when it is theirs."""
        index = self.index
        whole = self.whole and index.settings.chunking is not None
        if index.text is None or (len(self.rows) == index.rows.num_rows and not whole):
            return index.text
        with self._lock:
            if self._text is None:
                index = self.index
                self._text = TextIndex.build(
                    index.settings.text,
                    index.settings.chunk_column,
                    _documents(
                        index.settings,
                        index.rows,
                        index.chunk_rows.to_pylist(),
                        index.chunk_texts.to_pylist(),
                        self.rows,
                        whole,
                    ),
                    None,
                )
            return self._text


def fingerprint(settings: Search) -> str:
    """What an index on disk must have been built with to be reused after a restart."""
    text = json.dumps([FORMAT, settings.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SearchIndex:
    def __init__(
        self,
        dataset: str,
        settings: Search,
        rows: pa.Table,
        chunk_rows: pa.Array,
        chunk_texts: pa.Array,
        text: TextIndex | None,
        vectors: VectorIndex | None,
        built_at: float,
        build_seconds: float,
        path: Path | None = None,
    ) -> None:
        self.dataset = dataset
        self.settings = settings
        self.rows = rows
        self.chunk_rows = chunk_rows
        self.chunk_texts = chunk_texts
        self.text = text
        self.vectors = vectors
        self.built_at = built_at
        self.build_seconds = build_seconds
        self.path = path
        self._visible: OrderedDict[tuple[frozenset[int], bool], Visible] = OrderedDict()
        self._positions: OrderedDict[str, frozenset[int]] = OrderedDict()
        self._lock = threading.Lock()

    def positions(self, key: str | None, find: Callable[[], set[int]]) -> frozenset[int]:
        """The rows a row filter lets through: found once per index and filter when `key` (the
        bound filter's text) names an answer that cannot change while the index stands,
        else every time."""
        if key is None:
            return frozenset(find())
        with self._lock:
            found = self._positions.get(key)
            if found is not None:
                self._positions.move_to_end(key)
                return found
        found = frozenset(find())
        with self._lock:
            self._positions[key] = found
            while len(self._positions) > VIEWS:
                self._positions.popitem(last=False)
        return found

    def visible(self, rows: Set[int] | None, whole: bool = False) -> Visible:
        """The view of these rows (those a caller's row filter lets through; None: all) and,
        when `whole`, one document per row; callers who see the same share one, and with it
        its full-text index."""
        if isinstance(rows, frozenset):
            seen = rows
        else:
            seen = frozenset(range(self.rows.num_rows) if rows is None else rows)
        key = (seen, whole)
        with self._lock:
            found = self._visible.setdefault(key, Visible(self, seen, whole))
            self._visible.move_to_end(key)
            while len(self._visible) > VIEWS:
                self._visible.popitem(last=False)
        return found

    @property
    def schema(self) -> pa.Schema:
        """What the table functions return: the dataset's columns, then score, snippet, chunk."""
        return (
            self.rows.schema.append(pa.field("score", pa.float64()))
            .append(pa.field("snippet", pa.string()))
            .append(pa.field("chunk", pa.string()))
        )

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_texts)

    def text_hits(
        self, tree: Group, limit: int, columns: Sequence[str], visible: Visible | None = None
    ) -> list[Hit]:
        """The `limit` best rows (of the `visible` ones) by BM25 over `columns`, scored as if
        the index held nothing else."""
        text = self.text if visible is None else visible.text()
        if text is None:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"{self.dataset} has no full-text index",
                hint="add text: [columns] to its search: block, or use vector_search",
            )
        found = text.search(tree, limit, columns)
        return [Hit(hit.row, hit.chunk, hit.score, hit.snippet) for hit in found]

    def vector_hits(
        self,
        vector: Sequence[float],
        limit: int,
        visible: Visible | None = None,
        openings: bool = True,
    ) -> list[Hit]:
        """The rows (of the `visible` ones) whose best chunk is nearest to `vector`; the
        snippet is that chunk's start, or NULL without `openings` (the caller may not read
        the chunked column, which need not be the one compared)."""
        allowed = visible.rows if visible is not None else None
        if self.vectors is None:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"{self.dataset} has no vector index",
                hint="add vectors: {column: ..., model: ...} to its search: block, "
                "or use text_search",
            )
        best: dict[int, Hit] = {}
        depth = limit * 4
        while True:
            matches = self.vectors.search(vector, depth)
            for chunk, similarity in matches:
                row = self.chunk_rows[chunk].as_py()
                if row not in best and (allowed is None or row in allowed):
                    opening = self._opening(chunk) if openings else None
                    best[row] = Hit(row, chunk, similarity, opening)
            if len(best) >= limit or len(matches) < depth:
                break
            best.clear()
            depth *= 4
        return sorted(best.values(), key=lambda hit: -hit.score)[:limit]

    def hybrid_hits(
        self,
        tree: Group,
        vector: Sequence[float] | None,
        limit: int,
        columns: Sequence[str],
        visible: Visible | None = None,
        openings: bool = True,
    ) -> list[Hit]:
        """Reciprocal rank fusion of both rankings (either alone when only one index exists)."""
        depth = max(limit, HYBRID_DEPTH)
        rankings: list[list[Hit]] = []
        if self.text is not None:
            rankings.append(self.text_hits(tree, depth, columns, visible))
        if self.vectors is not None and vector is not None:
            rankings.append(self.vector_hits(vector, depth, visible, openings))
        first: dict[int, Hit] = {}
        for ranking in rankings:
            for hit in ranking:
                first.setdefault(hit.row, hit)
        fused = reciprocal_rank_fusion([[hit.row for hit in ranking] for ranking in rankings])
        return [
            Hit(row, first[row].chunk, score, first[row].snippet) for row, score in fused[:limit]
        ]

    def table(self, hits: Sequence[Hit]) -> pa.Table:
        """The hits as rows of the dataset plus score, snippet and chunk, best first."""
        positions = pa.array([hit.row for hit in hits], pa.int64())
        rows = self.rows.take(positions)
        return (
            rows.append_column("score", pa.array([hit.score for hit in hits], pa.float64()))
            .append_column("snippet", pa.array([hit.snippet for hit in hits], pa.string()))
            .append_column(
                "chunk", self.chunk_texts.take(pa.array([h.chunk for h in hits], pa.int64()))
            )
        )

    def _opening(self, chunk: int) -> str:
        text = self.chunk_texts[chunk].as_py() or ""
        return text[:200]


def build(
    dataset: str,
    settings: Search,
    rows: pa.Table,
    embed: Embed | None,
    directory: Path | None,
) -> SearchIndex:
    """Index `rows` as `settings` say; in file mode under `directory` (made current on success)."""
    started = time.perf_counter()
    _check_columns(dataset, settings, rows.schema)
    rows = rows.combine_chunks()
    chunk_column = settings.chunk_column
    chunk_rows: list[int] = []
    chunk_texts: list[str] = []
    source = rows.column(chunk_column).to_pylist()
    for row in range(rows.num_rows):
        value = source[row] or ""
        pieces = [value]
        if settings.chunking is not None:
            pieces = chunks(value, settings.chunking.by, settings.chunking.max_tokens)
        chunk_rows.extend([row] * len(pieces))
        chunk_texts.extend(pieces)
    target = None
    if directory is not None:
        target = directory / f"build-{time.time_ns()}"
        target.mkdir(parents=True)
    text = None
    if settings.text:
        text = TextIndex.build(
            settings.text,
            chunk_column,
            _documents(settings, rows, chunk_rows, chunk_texts),
            target / "text" if target else None,
        )
    vectors = None
    if settings.vectors is not None:
        if embed is None:
            raise BuildError(f"model {settings.vectors.model} is not served here")
        values = rows.column(settings.vectors.column).to_pylist()
        inputs = [
            chunk_texts[chunk] if settings.vectors.column == chunk_column else values[row] or ""
            for chunk, row in enumerate(chunk_rows)
        ]
        vectors = VectorIndex.build(
            embed_all(embed, [text or " " for text in inputs]),
            target / "vectors.usearch" if target else None,
        )
    index = SearchIndex(
        dataset,
        settings,
        rows,
        pa.array(chunk_rows, pa.int64()),
        pa.array(chunk_texts, pa.string()),
        text,
        vectors,
        time.time(),
        time.perf_counter() - started,
        target,
    )
    if target is not None and directory is not None:
        _save(index, target)
        _make_current(directory, target)
    return index


def _documents(
    settings: Search,
    rows: pa.Table,
    chunk_rows: Sequence[int],
    chunk_texts: Sequence[str],
    keep: Set[int] | None = None,
    whole: bool = False,
) -> Iterator[tuple[int, int, list[str | None]]]:
    """The (row, chunk, texts) of each chunk of the `keep` rows (all when None), numbered as
    in the whole index: the chunked column's text is its chunk's, the others' the row's.
    `whole`: only each row's first chunk, without the chunked column's text."""
    chunk_column = settings.chunk_column
    columns = {name: rows.column(name).to_pylist() for name in settings.text}
    if whole:
        columns[chunk_column] = [None] * rows.num_rows
        chunk_column = ""
    previous = -1
    for chunk, row in enumerate(chunk_rows):
        if (keep is None or row in keep) and not (whole and row == previous):
            previous = row
            yield (
                row,
                chunk,
                [chunk_texts[chunk] if name == chunk_column else columns[name][row]
                 for name in settings.text],
            )  # fmt: skip


def open_current(dataset: str, settings: Search, directory: Path) -> SearchIndex | None:
    """The index a previous run left in `directory`, if it was built with these settings."""
    try:
        name = (directory / CURRENT).read_text().strip()
        target = directory / name
        manifest = json.loads((target / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("fingerprint") != fingerprint(settings):
        return None
    rows = _read(target / "rows.arrow")
    chunk_table = _read(target / "chunks.arrow")
    text = None
    if settings.text:
        text = TextIndex.open(target / "text", settings.text, settings.chunk_column)
    vectors = VectorIndex.open(target / "vectors.usearch") if settings.vectors else None
    return SearchIndex(
        dataset,
        settings,
        rows,
        chunk_table.column("row").combine_chunks(),
        chunk_table.column("text").combine_chunks(),
        text,
        vectors,
        manifest["built_at"],
        manifest["build_seconds"],
        target,
    )


def _write(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def _save(index: SearchIndex, target: Path) -> None:
    _write(target / "rows.arrow", index.rows)
    _write(target / "chunks.arrow", pa.table({"row": index.chunk_rows, "text": index.chunk_texts}))
    manifest = {
        "fingerprint": fingerprint(index.settings),
        "dataset": index.dataset,
        "built_at": index.built_at,
        "build_seconds": index.build_seconds,
        "rows": index.rows.num_rows,
        "chunks": index.chunk_count,
    }
    (target / MANIFEST).write_text(json.dumps(manifest))


def _make_current(directory: Path, target: Path) -> None:
    """Point CURRENT at `target` atomically, then remove older builds."""
    pending = directory / f"{CURRENT}.tmp"
    pending.write_text(target.name)
    os.replace(pending, directory / CURRENT)
    for other in directory.iterdir():
        if other.is_dir() and other.name.startswith("build-") and other != target:
            shutil.rmtree(other, ignore_errors=True)


def _check_columns(dataset: str, settings: Search, schema: pa.Schema) -> None:
    text = [*settings.text]
    if settings.vectors is not None:
        text.append(settings.vectors.column)
    text.append(settings.chunk_column)
    for name in [*text, *([settings.key] if settings.key else [])]:
        if name not in schema.names:
            raise BuildError(
                f"search: '{name}' is not a column of {dataset}; its columns: "
                + ", ".join(schema.names)
            )
    for name in text:
        kind = schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise BuildError(f"search: column '{name}' of {dataset} is {kind}, not text")
    taken = [name for name in ADDED_COLUMNS if name in schema.names]
    if taken:
        raise BuildError(
            f"{dataset} already has column(s) {', '.join(taken)}, which search adds to its "
            "results; rename them in the source or with a declared schema"
        )
