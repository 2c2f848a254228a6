"""`file:` datasets: Parquet, Arrow IPC, CSV and JSON tables, and folders of documents.

A location is one file, a directory, or a glob (`logs/**/*.ndjson`). The format comes from the
extension unless `params.format` says otherwise. Tables are read through `pyarrow.dataset`, so a
scan streams batch by batch with the projection and filters applied inside Arrow (and Parquet
row groups skipped by their statistics); only a `.json` file holding one top-level array has to
be loaded whole. Arrow IPC files (`.arrow`, `.feather`) need no decoding at all, the fastest
format to serve hot data from. Documents become one row each: path, title, content and
modification time.

The path is declared by the operator in sidecar.yaml; nothing an agent writes in SQL reaches it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from sqlglot import exp

from connectors import predicates
from connectors.base import Connector, DatasetSource, ScanRequest, SourceError, project

FORMATS = ("parquet", "arrow", "csv", "json", "ndjson", "markdown", "text")
EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
# Formats that can share one dataset: JSON files are told apart (array or NDJSON) one by one,
# and a folder of notes often mixes .md and .txt.
FAMILIES = {"ndjson": "json", "text": "markdown"}
DOCUMENT_FORMATS = ("markdown", "text")
CSV_PARAMS = ("delimiter", "has_header", "null_values")
KNOWN_PARAMS = ("format", *CSV_PARAMS)

DOCUMENT_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("title", pa.string()),
        ("content", pa.string()),
        ("modified_at", pa.timestamp("us", tz="UTC")),
    ]
)
DOCUMENT_METADATA = ("path", "modified_at")
DOCUMENT_BATCH_ROWS = 64
DOCUMENT_BATCH_BYTES = 8 << 20
JSON_BATCH_ROWS = 65_536
LISTED_FILES = 10
ROW_COUNT_MAX_FILES = 1000
READ_ERRORS = (pa.ArrowException, OSError, ValueError)

Tabular = TypeVar("Tabular", pa.Table, pa.RecordBatch)


@dataclass(frozen=True)
class Options:
    """The validated `params` of a file dataset."""

    format: str | None = None
    delimiter: str = ","
    has_header: bool = True
    null_values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Files:
    """What a location matched: the files, the folder their paths are relative to, the format."""

    root: Path
    paths: tuple[Path, ...]
    format: str


class FileConnector(Connector):
    schemes = ("file",)
    supports_limit = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self.options = parse_options(source.params)
        self._schema: pa.Schema | None = None

    def schema(self) -> pa.Schema:
        """Inferred once, from the first file, as `pyarrow.dataset` does; declared columns win."""
        if self._schema is None:
            files = self._files()
            found = _strip_metadata(self._physical_schema(files))
            declared = self.source.declared_schema
            if declared is not None:
                _check_declared(declared, found, self._display(files.paths[0]))
            self._schema = declared if declared is not None else found
        return self._schema

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return predicates.to_arrow(predicate, self.schema()) is not None

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        """Files are listed again on every scan, so files added since startup are read too."""
        schema = self.schema()
        output = _output_schema(schema, request.projection)
        files = self._files()
        try:
            batches = self._batches(files, request, list(output.names))
        except READ_ERRORS as error:
            raise self._scan_error(error) from None
        stream = limit_batches(self._guarded(batches), request.limit)
        return pa.RecordBatchReader.from_batches(output, (_conform(b, output) for b in stream))

    def describe(self, request: ScanRequest) -> str:
        try:
            fmt = self._files().format
        except SourceError:
            fmt = self.options.format or "files"
        parts = [fmt, self._display_location()]
        if request.projection is None:
            parts.append("columns=*")
        else:
            parts.append(f"columns=[{', '.join(request.projection)}]")
        if request.filters:
            condition = " AND ".join(f.sql("postgres") for f in request.filters)
            parts.append(f"filter=({condition})")
        if request.limit is not None:
            parts.append(f"limit={request.limit}")
        return " ".join(parts)

    def row_count(self) -> int | None:
        """Parquet footers and document listings are cheap; counting CSV or JSON rows is a scan."""
        try:
            files = self._files()
            if files.format == "parquet" and len(files.paths) <= ROW_COUNT_MAX_FILES:
                return sum(pq.read_metadata(path).num_rows for path in files.paths)
        except (SourceError, *READ_ERRORS):
            return None
        return len(files.paths) if files.format in DOCUMENT_FORMATS else None

    def _files(self) -> Files:
        location = self.source.location
        path = Path(location)
        if not path.is_absolute():
            path = self.source.base_dir / path
        if _is_glob(location):
            root, paths = self._glob(path)
        elif path.is_dir():
            root, paths = path, _walk(path)
        elif path.is_file():
            root, paths = path.parent, [path]
        else:
            raise SourceError(f"{self._display(path)} does not exist", hint=self._nearby(path))
        if not paths:
            raise SourceError(f"{self._display(root)}/ has no files", hint=self._listing(root))
        return self._with_format(root, paths, whole_folder=path.is_dir())

    def _glob(self, path: Path) -> tuple[Path, list[Path]]:
        parts = path.parts
        first = next(i for i, part in enumerate(parts) if _is_glob(part))
        root = Path(*parts[:first])
        paths = sorted(p for p in root.glob("/".join(parts[first:])) if p.is_file())
        if not paths:
            hint = self._listing(root) if root.is_dir() else self._nearby(root)
            raise SourceError(f"no files match {self._display(path)}", hint=hint)
        return root, paths

    def _with_format(self, root: Path, paths: list[Path], *, whole_folder: bool) -> Files:
        """Pick the format, and the files of that format.

        An inferred format keeps only files with its extensions. A declared one keeps every
        file a path or glob names; in a folder, the files with its extensions or, failing
        those, the files whose extension means no other format: a folder of `.log` files read
        as `format: ndjson` is meant whole, but not its README.md.
        """
        explicit = self.options.format
        chosen = explicit or self._inferred_format(root, paths)
        matching = [p for p in paths if _family(_extension_format(p)) == _family(chosen)]
        if explicit is None or (whole_folder and matching):
            paths = matching
        elif whole_folder:
            paths = [p for p in paths if _extension_format(p) is None]
        if not paths:
            raise SourceError(
                f"{self._display(root)}/ has no {chosen} files", hint=self._listing(root)
            )
        if chosen != "csv" and (misplaced := self._csv_params_given()):
            raise SourceError(
                f"{', '.join(misplaced)} {'applies' if len(misplaced) == 1 else 'apply'} to csv "
                f"files only, and this dataset is {chosen}",
                hint="remove them, or set params.format: csv",
            )
        return Files(root, tuple(paths), chosen)

    def _inferred_format(self, root: Path, paths: list[Path]) -> str:
        found = {fmt for p in paths if (fmt := _extension_format(p)) is not None}
        families = {_family(fmt) for fmt in found}
        if len(families) == 1:
            return min(found, key=FORMATS.index)
        hint = "set params.format to one of: " + ", ".join(FORMATS)
        if not found:
            where = self._display(paths[0]) if len(paths) == 1 else self._display(root) + "/"
            raise SourceError(f"cannot tell the format of {where} from its extension", hint=hint)
        example = next(p for p in paths if _extension_format(p) is not None)
        raise SourceError(
            f"{self._display(root)}/ mixes {', '.join(sorted(families))} files",
            hint=f"{hint}, or use a glob such as {self._display(root / ('*' + example.suffix))}",
        )

    def _csv_params_given(self) -> list[str]:
        return [name for name in CSV_PARAMS if name in self.source.params]

    def _physical_schema(self, files: Files) -> pa.Schema:
        if files.format in DOCUMENT_FORMATS:
            return DOCUMENT_SCHEMA
        first = files.paths[0]
        try:
            if files.format == "json" and _is_json_array(first):
                return _json_array_table(first).schema
            return ds.dataset([str(first)], format=self._file_format(files.format)).schema
        except READ_ERRORS as error:
            raise self._read_error(first, files.format, error) from None

    def _file_format(self, fmt: str) -> ds.FileFormat:
        """A `.json` file that is not an array may hold pretty-printed objects spanning lines;
        `.ndjson` promises one object per line, which Arrow splits and parses faster."""
        if fmt == "parquet":
            return ds.ParquetFileFormat()
        if fmt == "arrow":
            return ds.IpcFileFormat()
        if fmt == "ndjson":
            return ds.JsonFileFormat()
        if fmt == "json":
            return ds.JsonFileFormat(parse_options=pa_json.ParseOptions(newlines_in_values=True))
        declared = self.source.declared_schema
        names = None if self.options.has_header or declared is None else declared.names
        convert = pa_csv.ConvertOptions()
        if self.options.null_values is not None:
            convert = pa_csv.ConvertOptions(
                null_values=list(self.options.null_values), strings_can_be_null=True
            )
        return ds.CsvFileFormat(
            parse_options=pa_csv.ParseOptions(delimiter=self.options.delimiter),
            read_options=pa_csv.ReadOptions(
                column_names=names,
                autogenerate_column_names=not self.options.has_header and names is None,
            ),
            convert_options=convert,
        )

    def _batches(
        self, files: Files, request: ScanRequest, columns: list[str]
    ) -> Iterator[pa.RecordBatch]:
        condition = _conjunction(request.filters, self.schema())
        if files.format in DOCUMENT_FORMATS:
            return self._document_batches(files, request.filters, columns, condition)
        if files.format == "json":
            return self._json_batches(files, columns, condition, request.limit)
        return self._dataset_batches(files.paths, files.format, columns, condition, request.limit)

    def _dataset_batches(
        self,
        paths: Sequence[Path],
        fmt: str,
        columns: list[str],
        condition: ds.Expression | None,
        limit: int | None,
    ) -> Iterator[pa.RecordBatch]:
        """With a limit, read ahead little and in small batches so stopping early saves work."""
        if not paths:
            return iter(())
        dataset = ds.dataset(
            [str(p) for p in paths], schema=self.schema(), format=self._file_format(fmt)
        )
        tuning: dict[str, Any] = {}
        if limit is not None:
            tuning = {
                "batch_size": max(1, min(limit, 131_072)),
                "batch_readahead": 1,
                "fragment_readahead": 1,
            }
        return dataset.scanner(columns=columns, filter=condition, **tuning).to_batches()

    def _json_batches(
        self,
        files: Files,
        columns: list[str],
        condition: ds.Expression | None,
        limit: int | None,
    ) -> Iterator[pa.RecordBatch]:
        """NDJSON files stream; each file holding a top-level array is loaded whole, one at a
        time, because a JSON array cannot be parsed until its closing bracket."""
        arrays = [p for p in files.paths if self._classify_json(p)]
        lines = [p for p in files.paths if p not in arrays]
        streamed = self._dataset_batches(lines, "json", columns, condition, limit)
        if not arrays:
            return streamed
        loaded = ds.Scanner.from_batches(
            self._json_array_batches(arrays),
            schema=self.schema(),
            columns=columns,
            filter=condition,
        )
        return chain(streamed, loaded.to_batches())

    def _classify_json(self, path: Path) -> bool:
        try:
            return _is_json_array(path)
        except OSError as error:
            raise self._read_error(path, "json", error) from None

    def _json_array_batches(self, paths: Iterable[Path]) -> Iterator[pa.RecordBatch]:
        schema = self.schema()
        for path in paths:
            try:
                table = _cast_columns(_json_array_table(path), schema)
            except READ_ERRORS as error:
                raise self._read_error(path, "json", error) from None
            yield from table.to_batches(max_chunksize=JSON_BATCH_ROWS)

    def _document_batches(
        self,
        files: Files,
        filters: Sequence[exp.Expression],
        columns: list[str],
        condition: ds.Expression | None,
    ) -> Iterator[pa.RecordBatch]:
        """Filters on path and modified_at are applied to a file listing before any file is
        read, so `WHERE path = 'x.md'` opens one file, not the whole folder."""
        schema = self.schema()
        selected = self._listed(files, filters)
        markdown = {"markdown": True, "text": False}.get(self.options.format or "")
        documents = _documents(files.root, selected, markdown=markdown)
        typed = (_cast_columns(batch, schema) for batch in documents)
        scanner = ds.Scanner.from_batches(typed, schema=schema, columns=columns, filter=condition)
        return scanner.to_batches()

    def _listed(self, files: Files, filters: Sequence[exp.Expression]) -> list[Path]:
        schema = self.schema()
        usable = [name for name in DOCUMENT_METADATA if name in schema.names]
        on_listing = [f for f in filters if _columns(f) <= set(usable)]
        if not on_listing:
            return list(files.paths)
        listing = _listing_table(files)
        typed = pa.table({name: listing[name].cast(schema.field(name).type) for name in usable})
        condition = _conjunction(on_listing, typed.schema)
        numbered = typed.append_column("__row", pa.array(range(typed.num_rows), pa.int64()))
        return [files.paths[row] for row in numbered.filter(condition)["__row"].to_pylist()]

    def _guarded(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Failures surface mid-stream (a corrupt file, a value that does not fit a declared
        type); they reach the agent as SourceError, without the host's absolute paths."""
        try:
            yield from batches
        except READ_ERRORS as error:
            raise self._scan_error(error) from None

    def _scan_error(self, error: Exception) -> SourceError:
        return SourceError(
            f"reading {self._display_location()} failed: {self._scrub(str(error))}",
            hint="check the files, and the types declared in columns:",
        )

    def _read_error(self, path: Path, fmt: str, error: Exception) -> SourceError:
        return SourceError(
            f"cannot read {self._display(path)} as {fmt}: {self._scrub(str(error))}",
            hint=f"check that it is a valid {fmt} file, or set params.format to one of: "
            + ", ".join(FORMATS),
        )

    def _display(self, path: Path) -> str:
        try:
            return path.relative_to(self.source.base_dir).as_posix() or "."
        except ValueError:
            return path.as_posix()

    def _display_location(self) -> str:
        path = Path(self.source.location)
        return self._display(path) if path.is_absolute() else self.source.location

    def _scrub(self, text: str) -> str:
        base = str(self.source.base_dir.resolve())
        return text.replace(base + "/", "").replace(str(self.source.base_dir) + "/", "")

    def _nearby(self, path: Path) -> str:
        """What exists where the operator pointed, with the closest name when there is a typo."""
        parent = path.parent
        while not parent.is_dir() and parent != parent.parent:
            parent = parent.parent
        names = _names(parent)
        close = difflib.get_close_matches(path.name, names, n=1)
        suggestion = f"did you mean {self._display(parent / close[0])}? " if close else ""
        return suggestion + self._listing(parent)

    def _listing(self, folder: Path) -> str:
        names = _names(folder)
        shown = ", ".join(names[:LISTED_FILES]) + (", ..." if len(names) > LISTED_FILES else "")
        where = self._display(folder)
        return f"files in {where}/: {shown}" if names else f"{where}/ is empty"


def parse_options(params: Mapping[str, Any]) -> Options:
    """Unknown or mistyped params fail at startup, naming the ones that exist."""
    unknown = sorted(set(params) - set(KNOWN_PARAMS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], KNOWN_PARAMS, n=1)
        suggestion = f"; did you mean '{close[0]}'?" if close else ""
        raise SourceError(
            f"unknown param '{unknown[0]}' for a file dataset",
            hint=f"known params: {', '.join(KNOWN_PARAMS)}{suggestion}",
        )
    fmt = params.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise SourceError(
            f"unknown format '{fmt}'", hint=f"params.format is one of: {', '.join(FORMATS)}"
        )
    delimiter = params.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise SourceError("params.delimiter must be one character", hint="e.g. ',', ';' or '\\t'")
    has_header = params.get("has_header", True)
    if not isinstance(has_header, bool):
        raise SourceError("params.has_header must be true or false")
    null_values = params.get("null_values")
    if null_values is not None and (
        not isinstance(null_values, list) or not all(isinstance(v, str) for v in null_values)
    ):
        raise SourceError("params.null_values must be a list of strings", hint="e.g. ['', 'NA']")
    return Options(
        format=fmt,
        delimiter=delimiter,
        has_header=has_header,
        null_values=tuple(null_values) if null_values is not None else None,
    )


def limit_batches(batches: Iterator[pa.RecordBatch], limit: int | None) -> Iterator[pa.RecordBatch]:
    """Stop pulling from the source as soon as `limit` rows are out, and close it, so that the
    files behind a `LIMIT 10` are left unread."""
    try:
        remaining = limit
        while remaining is None or remaining > 0:
            batch = next(batches, None)
            if batch is None:
                return
            if batch.num_rows == 0:
                continue
            if remaining is not None:
                batch = batch.slice(0, remaining)
                remaining -= batch.num_rows
            yield batch
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def _output_schema(schema: pa.Schema, projection: Sequence[str] | None) -> pa.Schema:
    missing = [name for name in projection or () if name not in schema.names]
    if missing:
        raise SourceError(
            f"no column {missing[0]!r} in this dataset", hint=f"columns: {', '.join(schema.names)}"
        )
    return project(schema, projection)


def _conjunction(filters: Sequence[exp.Expression], schema: pa.Schema) -> ds.Expression | None:
    """The filters as one Arrow expression. A filter that cannot be translated is an error, not
    skipped: the engine sets a limit only when every filter is applied here."""
    expressions = []
    for predicate in filters:
        expression = predicates.to_arrow(predicate, schema)
        if expression is None:
            raise SourceError(f"cannot apply the filter {predicate.sql()} to this dataset")
        expressions.append(expression)
    return reduce(lambda a, b: a & b, expressions) if expressions else None


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    if batch.num_columns == 0:
        return batch.replace_schema_metadata(schema.metadata)
    return batch.cast(schema)


def _strip_metadata(schema: pa.Schema) -> pa.Schema:
    """Parquet and pandas leave metadata on schemas; the dataset's schema is its columns alone."""
    return pa.schema([field.remove_metadata() for field in schema])


def _check_declared(declared: pa.Schema, found: pa.Schema, where: str) -> None:
    for field in declared:
        if field.name not in found.names:
            raise SourceError(
                f"column '{field.name}' is declared but {where} has no such column",
                hint=f"its columns are: {', '.join(found.names)}",
            )
        actual = found.field(field.name).type
        try:
            pa.array([], actual).cast(field.type)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            raise SourceError(
                f"column '{field.name}' is declared {field.type} but is {actual} in {where}",
                hint="declare a type it can be cast to, or leave the column undeclared",
            ) from None


def _cast_columns(data: Tabular, schema: pa.Schema) -> Tabular:
    """Columns the schema lacks are dropped; ones the data lacks become nulls, as in a dataset."""
    if data.schema.equals(schema):
        return data
    names = data.schema.names
    columns = [
        data.column(field.name).cast(field.type)
        if field.name in names
        else pa.nulls(data.num_rows, field.type)
        for field in schema
    ]
    return type(data).from_arrays(columns, schema=schema)


def _columns(predicate: exp.Expression) -> set[str]:
    return {column.name for column in predicate.find_all(exp.Column)}


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def _walk(folder: Path) -> list[Path]:
    """Every file below the folder, skipping `.hidden` and `_SUCCESS`-style names as Spark and
    pyarrow do."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    )


def _names(folder: Path) -> list[str]:
    try:
        return sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError:
        return []


def _extension_format(path: Path) -> str | None:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _family(fmt: str | None) -> str | None:
    return FAMILIES.get(fmt, fmt) if fmt is not None else None


def _is_json_array(path: Path) -> bool:
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return head.startswith("[")


def _json_array_table(path: Path) -> pa.Table:
    """A whole top-level array: `pyarrow.json` reads only newline-delimited objects."""
    with pa.input_stream(str(path), compression="detect") as stream:
        rows = json.loads(stream.read())
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError("a JSON array file must hold objects, one per row")
    names = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({name: pa.array([row.get(name) for row in rows]) for name in names})


def _listing_table(files: Files) -> pa.Table:
    return pa.table(
        {
            "path": [path.relative_to(files.root).as_posix() for path in files.paths],
            "modified_at": _timestamps([path.stat().st_mtime_ns for path in files.paths]),
        }
    )


def _timestamps(nanoseconds: list[int]) -> pa.Array:
    microseconds = [value // 1000 for value in nanoseconds]
    return pa.array(microseconds, pa.int64()).cast(DOCUMENT_SCHEMA.field("modified_at").type)


def _documents(
    root: Path, paths: Sequence[Path], *, markdown: bool | None
) -> Iterator[pa.RecordBatch]:
    """A batch per few dozen documents or few megabytes, whichever comes first, so a folder of
    large files never sits in memory at once. Undecodable bytes are replaced rather than
    failing the scan: one odd file should not hide every other document."""
    pending: list[tuple[Path, str, int]] = []
    size = 0
    for path in paths:
        modified = path.stat().st_mtime_ns
        content = path.read_bytes().decode("utf-8", errors="replace")
        pending.append((path, content, modified))
        size += len(content)
        if len(pending) >= DOCUMENT_BATCH_ROWS or size >= DOCUMENT_BATCH_BYTES:
            yield _document_batch(root, pending, markdown=markdown)
            pending, size = [], 0
    if pending:
        yield _document_batch(root, pending, markdown=markdown)


def _document_batch(
    root: Path, documents: list[tuple[Path, str, int]], *, markdown: bool | None
) -> pa.RecordBatch:
    """`markdown` is the declared format's say; without one, each file's extension decides."""
    return pa.RecordBatch.from_arrays(
        [
            pa.array([path.relative_to(root).as_posix() for path, _, _ in documents], pa.string()),
            pa.array(
                [_title(text, path, markdown) for path, text, _ in documents],
                pa.string(),
            ),
            pa.array([text for _, text, _ in documents], pa.string()),
            _timestamps([modified for _, _, modified in documents]),
        ],
        schema=DOCUMENT_SCHEMA,
    )


def _title(content: str, path: Path, markdown: bool | None) -> str:
    """The first `# ` heading outside fenced code (where `#` starts a shell comment)."""
    if markdown is None:
        markdown = _extension_format(path) == "markdown"
    if not markdown:
        return path.stem
    fenced = False
    for line in content.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            return line[2:].strip().rstrip("#").strip() or path.stem
    return path.stem
