"""File datasets: Parquet, Arrow IPC, CSV and JSON tables, and folders of documents, on the local
disk (`file:`) or in object storage (`s3://`, `gs://`, `az://`, `abfs[s]://`).

A location is one file, a directory (a prefix), or a glob (`logs/**/*.ndjson`). The format comes
from the extension unless `params.format` says otherwise. Wherever the files are, they are read
the same way: through a pyarrow filesystem (`stores.py`) and `pyarrow.dataset`, so a scan
streams batch by batch with the projection and filters applied inside Arrow, Parquet row groups
are skipped by their statistics, and remote objects are read with ranged requests (a footer,
then the column chunks needed), never downloaded whole first. Local Parquet files take two
shorter roads: an unfiltered read streams each file with `ParquetFile`'s reader, and a filtered
one (a lookup) reads the row groups left by their statistics, kept decoded (`row_groups.py`).
Only a `.json` file holding one top-level array has to be loaded whole. Arrow IPC files
(`.arrow`, `.feather`) need no decoding at all, the fastest format to serve hot data from.
Documents become one row each: path, title, content and modification time.

Hive-style folders (`date=2026-03-14/region=eu/`) become columns, and filters on them pick the
prefixes to list and read (`partitions.py`); listings are cached per refresh (`listing.py`).

The location is declared by the operator in sidecar.yaml; nothing an agent writes in SQL reaches it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import translate
from functools import lru_cache, reduce
from itertools import chain
from pathlib import PurePosixPath
from typing import Any, TypeVar, cast

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from sqlglot import exp

from connectors import predicates
from connectors.base import (
    Connector,
    DatasetSource,
    ScanRequest,
    SourceError,
    project,
)
from connectors.batches import limit_batches, read_ahead
from connectors.listing import Entry, Listing
from connectors.markdown import SUFFIXES as MARKDOWN
from connectors.markdown import title
from connectors.params import FORMATS, FileParams
from connectors.parquet_lookup import ParquetLookups
from connectors.partitions import Found, Partitions, discover, infer_fields, walk
from connectors.row_groups import (
    DECODED,
    EAGER_BYTES,
    MAX_READ_BYTES,
    Footer,
    KeyRange,
    Version,
    key_range,
)
from connectors.stores import SCHEMES, open_store

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
    **dict.fromkeys(MARKDOWN, "markdown"),
    ".txt": "text",
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
# Formats that can share one dataset: JSON files are told apart (array or NDJSON) one by one,
# and a folder of notes often mixes .md and .txt.
FAMILIES = {"ndjson": "json", "text": "markdown"}
DOCUMENT_FORMATS = ("markdown", "text")
CSV_PARAMS = ("delimiter", "has_header", "null_values")
LISTING_PARAMS = ("hive_partitioning", "listing_ttl", "max_objects")
# Listing a local folder is cheap and shows new files at once; a bucket's costs requests.
KEPT_FRAGMENTS = 4096
KEPT_LOOKUP_FILES = 64  # the most files a lookup answered from kept groups looks at (on a loop)
LOCAL_LISTING_TTL = 0.0
REMOTE_LISTING_TTL = 60.0

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
# Batches of 64K rows, the engine's and `ParquetFile.iter_batches`'s size, not the scanner's
# default 128K: over Flight a file streams about 10% faster so (benchmarks/README.md).
SCAN_BATCH_ROWS = 65_536
# Arrow's CSV and JSON readers infer types from their first block, of this size by default
SAMPLE_BYTES = 1 << 20
LISTED_FILES = 10
ROW_COUNT_MAX_FILES = 1000
# Remote Parquet is read in ranges of at most 4 MiB (neighbouring column chunks merged), each
# fetched when the scan reaches it plus one ahead: the first batch waits for one range, not for
# the object, and memory holds a few ranges, not whole files.
REMOTE_PARQUET = ds.ParquetFragmentScanOptions(
    pre_buffer=True,
    cache_options=pa.CacheOptions(
        hole_size_limit=8 << 10, range_size_limit=4 << 20, lazy=True, prefetch_limit=1
    ),
)
READ_ERRORS = (pa.ArrowException, OSError, ValueError)

Tabular = TypeVar("Tabular", pa.Table, pa.RecordBatch)


@dataclass(frozen=True)
class Files:
    """What a location matched: the files with their partition values, the folder their paths
    are relative to, the format, and how many objects partition filters skipped."""

    root: str
    found: tuple[Found, ...]
    format: str

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(item.entry.path for item in self.found)


class FileConnector(Connector):
    schemes = SCHEMES
    supports_limit = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self.options = cast(FileParams, self.params)
        self.store, self.location = open_store(self.source)
        ttl = self.options.listing_ttl
        if ttl is None:
            ttl = REMOTE_LISTING_TTL if self.store.remote else LOCAL_LISTING_TTL
        self.listing = Listing(self.store, ttl=ttl, max_objects=self.options.max_objects)
        self._schema: pa.Schema | None = None
        self._partition_fields: list[pa.Field] = []
        self._fragments: dict[tuple[object, ...], ds.FileFragment] = {}
        self._lookups: ParquetLookups | None = None
        self._footers: dict[Version, Footer] = {}
        self._one_file: str | None = None  # the location, when it was one local file

    def schema(self) -> pa.Schema:
        """Inferred once, from the first file, as `pyarrow.dataset` does, plus the partition
        columns of every listed path; declared columns win."""
        if self._schema is None:
            files, samples = self._first_files()
            physical = _strip_metadata(self._physical_schema(files))
            fields = []
            if self.options.hive_partitioning and files.format not in DOCUMENT_FORMATS:
                fields = infer_fields(samples, physical.names)
            found = pa.schema([*physical, *fields])
            declared = self.source.declared_schema
            if declared is not None:
                _check_declared(declared, found, self._display(files.paths[0]))
            self._schema = declared if declared is not None else found
            if files.format == "parquet" and not self.store.remote and not fields and not declared:
                self._lookups = ParquetLookups()
            names = {f.name for f in fields}
            self._partition_fields = [f for f in self._schema if f.name in names]
        return self._schema

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return predicates.to_arrow(predicate, self.schema()) is not None

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        """Local files are listed again on every scan, so files added since startup are read
        too; a bucket's listing is reused for `listing_ttl` or until the next refresh."""
        schema = self.schema()
        output = _output_schema(schema, request.projection)
        files = self._files(request.filters)
        try:
            batches = self._batches(files, request, list(output.names))
        except READ_ERRORS as error:
            raise self._scan_error(error) from None
        stream = limit_batches(self._guarded(batches), request.limit)
        return pa.RecordBatchReader.from_batches(output, (_conform(b, output) for b in stream))

    def describe(self, request: ScanRequest) -> str:
        """The format, location and pushdown; for a partitioned dataset also how many objects
        (and bytes) its partition filters skip."""
        try:
            files = self._files(request.filters)
            fmt = files.format
            pruned = self._pruned(files, request.filters)
        except SourceError:
            fmt, pruned = self.options.format or "files", None
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
        if pruned is not None:
            parts.append(pruned)
        return " ".join(parts)

    def invalidate(self) -> None:
        self.listing.invalidate()

    def row_count(self) -> int | None:
        """Parquet footers and document listings are cheap; counting CSV or JSON rows is a scan.
        A bucket prefix is not listed for it: only a single object's footer is read."""
        try:
            if self.store.remote and self.listing.info(self.location).type != pafs.FileType.File:
                return None
            files = self._files()
            if files.format == "parquet" and len(files.found) <= ROW_COUNT_MAX_FILES:
                return sum(
                    pq.read_metadata(path, filesystem=self.store.filesystem).num_rows
                    for path in files.paths
                )
        except (SourceError, *READ_ERRORS):
            return None
        return len(files.paths) if files.format in DOCUMENT_FORMATS else None

    def kept_rows(
        self,
        key: str,
        values: Sequence[Any],
        columns: Sequence[str],
        schema: pa.Schema,
        most: int | None = None,
    ) -> pa.RecordBatch | None:
        """A lookup on an integer key of local Parquet files answered from their row groups
        kept decoded (`row_groups.DecodedGroups.looked_up`), the files listed and their
        versions taken now, as a scan would; None when anything must be read first (a footer,
        a group), the key is not an integer column with statistics or its values are not
        integers: the scan reads and keeps them."""
        if self._lookups is None or not columns:
            return None
        if not all(type(value) is int for value in values if value is not None):
            return None  # a float, text or bool is compared as the engine casts it
        versions = self._lane_versions()
        if versions is None:
            return None
        needed = list(dict.fromkeys([*columns, key]))
        reads = []
        for version in versions:
            footer = self._footers.get(version)
            if footer is None or not footer.holds(self.schema(), needed):
                return None
            reads.append((version, footer))
        wanted = [value for value in values if value is not None]
        return DECODED.looked_up(reads, key, wanted, columns, schema, most)

    def _lane_versions(self) -> list[Version] | None:
        """The files a lookup reads, at their versions now. A location that is one local
        file needs no listing: its one stat is its listing (a file gone, or turned folder,
        has no footer kept: the scan lists it again and reports it)."""
        if self._one_file is not None:
            version = Version.of_local(self._one_file)
            return [version] if version is not None and version.size else None
        try:
            files = self._files()
        except (SourceError, *READ_ERRORS):
            return None  # the scan reports it
        versions = _complete(self._versions(files))
        if files.format != "parquet" or versions is None or len(versions) > KEPT_LOOKUP_FILES:
            return None
        return versions

    def _first_files(self) -> tuple[Files, list[dict[str, str | None]]]:
        """Enough files to learn the schema from: a folder is listed down its first branch
        only (`partitions.discover`), so start-up does not list a whole bucket prefix."""
        path = self.location.rstrip("/") or self.location
        if _is_glob(self.source.location):
            files = self._files()
            return files, [f.values for f in files.found]
        listing = self.listing.fresh()
        if listing.info(path).type != pafs.FileType.Directory:
            return self._files(), [{}]
        found, samples = discover(listing, path, self._usable)
        if not found:
            raise SourceError(f"{self._display(path)}/ has no files", hint=self._listing(path))
        return self._with_format(path, found, whole_folder=True), samples

    def _usable(self, path: str) -> bool:
        """Whether a file can tell the dataset's format and schema."""
        fmt = _extension_format(path)
        if self.options.format is None:
            return fmt is not None
        return fmt is None or _family(fmt) == _family(self.options.format)

    def _files(self, filters: Sequence[exp.Expression] = ()) -> Files:
        """The files a scan with these filters reads: partition filters leave prefixes out."""
        listing = self.listing.fresh()
        path = self.location
        partitions = self._partitions(filters, path)
        self._one_file = None
        if _is_glob(self.source.location):
            root, found = self._glob(path, partitions)
            whole_folder = False
        else:
            path = path.rstrip("/") or path
            info = listing.info(path)
            whole_folder = info.type == pafs.FileType.Directory
            if info.type == pafs.FileType.File:
                root = _parent(path)
                found = [Found(Entry(path, info.size, info.mtime_ns), {})]
                self._one_file = None if self.store.remote else path
            elif whole_folder:
                root, found = path, walk(listing, path, partitions)
            else:
                raise self._missing(path)
            if not found and not (partitions and partitions.filters):
                raise SourceError(f"{self._display(root)}/ has no files", hint=self._listing(root))
        return self._with_format(root, found, whole_folder=whole_folder)

    def _partitions(self, filters: Sequence[exp.Expression], where: str) -> Partitions | None:
        if not self.options.hive_partitioning or not filters or self._schema is None:
            return None
        if not self._partition_fields:
            return None
        return Partitions(self._partition_fields, filters, self._display(where))

    def _pruned(self, files: Files, filters: Sequence[exp.Expression]) -> str | None:
        """`objects=2 of 8 (6 skipped by partition filters, 3.1 MB of 12.4 MB)`."""
        if self._partitions(filters, self.location) is None:
            return None
        everything = self._files()
        total = len(everything.found)
        read = len(files.found)
        size_total = sum(f.entry.size or 0 for f in everything.found)
        size_read = sum(f.entry.size or 0 for f in files.found)
        return (
            f"objects={read} of {total} ({total - read} skipped by partition filters, "
            f"{_bytes(size_total - size_read)} of {_bytes(size_total)} skipped)"
        )

    def _glob(self, path: str, partitions: Partitions | None) -> tuple[str, list[Found]]:
        """Everything below the glob's fixed prefix, matched as pathlib does (`**` spans
        folders); partition filters drop files before any is read."""
        parts = path.split("/")
        first = next(i for i, part in enumerate(parts) if _is_glob(part))
        root = "/".join(parts[:first]) or "/"
        pattern = re.compile(_glob_regex("/".join(parts[first:])))
        info = self.listing.info(root)
        if info.type != pafs.FileType.Directory:
            raise SourceError(f"no files match {self._display(path)}", hint=self._nearby(root))
        found = [
            f
            for f in walk(self.listing, root, None)
            if pattern.fullmatch(f.entry.path[len(root.rstrip("/")) + 1 :])
            and (partitions is None or partitions.keep(f.values))
        ]
        if not found and not (partitions and partitions.filters):
            raise SourceError(f"no files match {self._display(path)}", hint=self._listing(root))
        return root, found

    def _missing(self, path: str) -> SourceError:
        """A missing bucket or container is said so; a missing prefix or object gets the names
        nearby."""
        if self.store.remote:
            bucket = self.store.bucket(path)
            if self.listing.info(bucket).type == pafs.FileType.NotFound:
                return self.store.missing_bucket(bucket)
        return SourceError(f"{self._display(path)} does not exist", hint=self._nearby(path))

    def _with_format(self, root: str, found: list[Found], *, whole_folder: bool) -> Files:
        """Pick the format, and the files of that format.

        An inferred format keeps only files with its extensions. A declared one keeps every
        file a path or glob names; in a folder, the files with its extensions or, failing
        those, the files whose extension means no other format: a folder of `.log` files read
        as `format: ndjson` is meant whole, but not its README.md.
        """
        explicit = self.options.format
        if not found:
            # every partition was filtered out: nothing to read, in the known format
            return Files(root, (), explicit or self._schema_format())
        chosen = explicit or self._inferred_format(root, found)
        matching = [f for f in found if _family(_extension_format(f.entry.path)) == _family(chosen)]
        if explicit is None or (whole_folder and matching):
            found = matching
        elif whole_folder:
            found = [f for f in found if _extension_format(f.entry.path) is None]
        if not found:
            raise SourceError(
                f"{self._display(root)}/ has no {chosen} files", hint=self._listing(root)
            )
        if chosen != "csv" and (misplaced := self._csv_params_given()):
            raise SourceError(
                f"{', '.join(misplaced)} {'applies' if len(misplaced) == 1 else 'apply'} to csv "
                f"files only, and this dataset is {chosen}",
                hint="remove them, or set params.format: csv",
            )
        return Files(root, tuple(found), chosen)

    def _schema_format(self) -> str:
        return self._files().format

    def _inferred_format(self, root: str, found: list[Found]) -> str:
        paths = [f.entry.path for f in found]
        formats = {fmt for p in paths if (fmt := _extension_format(p)) is not None}
        families = {_family(fmt) for fmt in formats}
        if len(families) == 1:
            return min(formats, key=FORMATS.index)
        hint = "set params.format to one of: " + ", ".join(FORMATS)
        if not formats:
            where = self._display(paths[0]) if len(paths) == 1 else self._display(root) + "/"
            raise SourceError(f"cannot tell the format of {where} from its extension", hint=hint)
        example = next(p for p in paths if _extension_format(p) is not None)
        suffix = PurePosixPath(example).suffix
        raise SourceError(
            f"{self._display(root)}/ mixes {', '.join(sorted(families))} files",
            hint=f"{hint}, or use a glob such as {self._display(root + '/*' + suffix)}",
        )

    def _csv_params_given(self) -> list[str]:
        return [name for name in CSV_PARAMS if name in self.source.params]

    def _physical_schema(self, files: Files) -> pa.Schema:
        if files.format in DOCUMENT_FORMATS:
            return DOCUMENT_SCHEMA
        first = files.found[0].entry
        try:
            if files.format == "json" and self._is_json_array(first.path):
                return self._json_array_table(first.path).schema
            if files.format in ("csv", "ndjson"):
                return self._sampled_schema(first.path, files.format)
            return self._fragment(first, files.format).physical_schema
        except READ_ERRORS as error:
            raise self._read_error(first.path, files.format, error) from None

    def _sampled_schema(self, path: str, fmt: str) -> pa.Schema:
        """CSV and NDJSON types as Arrow's dataset scanner infers them, from the file's first
        block of whole rows, but read on this thread: Arrow's inspection parses on its thread
        pools, whose threads each keep the buffers freed afterwards (about 10 MiB for the
        demo's three such files), while this thread's are given back as soon as it is done."""
        with self.store.filesystem.open_input_stream(path) as stream:
            sample = stream.read(SAMPLE_BYTES)
        if len(sample) == SAMPLE_BYTES:
            sample = sample[: sample.rfind(b"\n") + 1] or sample
        if fmt == "csv":
            parse, read, convert = self._csv_options()
            read.use_threads = False
            reader = pa_csv.open_csv(
                pa.py_buffer(sample), read, parse_options=parse, convert_options=convert
            )
        else:
            reader = pa_json.open_json(
                pa.py_buffer(sample), read_options=pa_json.ReadOptions(use_threads=False)
            )
        schema = reader.schema
        del reader, sample
        pa.default_memory_pool().release_unused()
        return schema

    def _fragment(
        self,
        entry: Entry,
        fmt: str,
        partition: ds.Expression | None = None,
        version: Version | None = None,
    ) -> ds.FileFragment:
        """A file to scan; its size comes from the listing, so no request asks for it again.

        A Parquet file's fragment is kept while the listing shows it unchanged (size and
        modification time, and for a local file its inode and status-change time, which a file
        replaced by one of the same size and modification time changes): it holds the footer
        once read, so a point lookup does not read and parse the footer again before the
        row-group statistics can skip what it does not need. `version` is the local file's,
        when the scan took it already.
        """
        local = version
        if local is None and fmt == "parquet" and not self.store.remote:
            local = Version.of_local(entry.path)
        key = (entry.path, entry.size, entry.mtime_ns, local, str(partition))
        kept = self._fragments.get(key) if fmt == "parquet" else None
        if kept is not None:
            return kept
        fragment = self._file_format(fmt).make_fragment(
            entry.path,
            self.store.filesystem,
            partition_expression=partition,
            file_size=entry.size,
        )
        if fmt == "parquet" and entry.size is not None and entry.mtime_ns is not None:
            if len(self._fragments) >= KEPT_FRAGMENTS:
                self._fragments.clear()
            self._fragments[key] = fragment
        return fragment

    def _file_format(self, fmt: str) -> ds.FileFormat:
        """A `.json` file that is not an array may hold pretty-printed objects spanning lines;
        `.ndjson` promises one object per line, which Arrow splits and parses faster."""
        if fmt == "parquet":
            if self.store.remote:
                return ds.ParquetFileFormat(default_fragment_scan_options=REMOTE_PARQUET)
            return ds.ParquetFileFormat()
        if fmt == "arrow":
            return ds.IpcFileFormat()
        if fmt == "ndjson":
            return ds.JsonFileFormat()
        if fmt == "json":
            return ds.JsonFileFormat(parse_options=pa_json.ParseOptions(newlines_in_values=True))
        parse, read, convert = self._csv_options()
        return ds.CsvFileFormat(parse_options=parse, read_options=read, convert_options=convert)

    def _csv_options(self) -> tuple[pa_csv.ParseOptions, pa_csv.ReadOptions, pa_csv.ConvertOptions]:
        declared = self.source.declared_schema
        names = None if self.options.has_header or declared is None else declared.names
        convert = pa_csv.ConvertOptions()
        if self.options.null_values is not None:
            convert = pa_csv.ConvertOptions(
                null_values=list(self.options.null_values), strings_can_be_null=True
            )
        read = pa_csv.ReadOptions(
            column_names=names,
            autogenerate_column_names=not self.options.has_header and names is None,
        )
        return pa_csv.ParseOptions(delimiter=self.options.delimiter), read, convert

    def _batches(
        self, files: Files, request: ScanRequest, columns: list[str]
    ) -> Iterator[pa.RecordBatch]:
        versions = self._versions(files)
        if files.format == "parquet" and self._lookups is not None and request.filters:
            looked_up = self._looked_up(files, request, columns, versions)
            if looked_up is not None:
                return looked_up
        condition = _conjunction(request.filters, self.schema())
        if files.format == "parquet" and condition is None and not self.store.remote:
            whole = self._whole_files(files, columns, request.limit, versions)
            if whole is not None:
                return whole
        if files.format in DOCUMENT_FORMATS:
            return self._document_batches(files, request.filters, columns, condition)
        if files.format == "json":
            return self._json_batches(files, columns, condition, request.limit)
        return self._dataset_batches(
            files.found, files.format, columns, condition, request.limit, versions
        )

    def _versions(self, files: Files) -> list[Version | None] | None:
        """Each local Parquet file's version as it is now (None where it is gone), taken once
        per scan: whichever reader reads the files keys what it keeps on them. None for other
        formats and remote files."""
        if files.format != "parquet" or self.store.remote:
            return None
        return [Version.of_local(item.entry.path) for item in files.found]

    def _looked_up(
        self,
        files: Files,
        request: ScanRequest,
        columns: list[str],
        local: list[Version | None] | None,
    ) -> Iterator[pa.RecordBatch] | None:
        """A filtered read of local Parquet files by row group (`row_groups.py`): the groups
        their statistics leave, from the decoded ones kept or decoded now. Groups larger than
        EAGER_BYTES in a file with a page index or bloom filters on a filtered column go to
        DataFusion's reader instead (a page of a large group costs a fraction of the group)
        until they are asked for twice while the kept ones leave room for them (random lookups
        over a file larger than the cache then stay with its page index instead of decoding
        whole groups to drop them again); smaller ones are decoded at once: reading their
        pages costs about as much as decoding them (benchmarks/README.md), and once kept they
        answer from memory. None when the groups left are too large to keep and DataFusion
        does not read them: the scanner streams them."""
        versions = _complete(local)
        if not columns or versions is None:
            return None
        schema = self.schema()
        needed = list(
            dict.fromkeys([*columns, *sorted(set().union(*map(_columns, request.filters)))])
        )
        reads = []
        for version in versions:
            footer = self._footer(version)
            if not footer.holds(schema, needed):
                return None
            groups = footer.candidates(request.filters, schema)
            if groups:
                reads.append((version, footer, groups))
        size = sum(footer.decoded_size(groups, needed) for _, footer, groups in reads)
        assert self._lookups is not None, "only local Parquet files without partitions"
        if size > EAGER_BYTES and not all(
            DECODED.kept(version, groups, needed) for version, _, groups in reads
        ):
            asked = [DECODED.asked_before(version, groups) for version, _, groups in reads]
            if not (all(asked) and size <= MAX_READ_BYTES and DECODED.room(size)):
                files_read = [version for version, _, _ in reads]
                paged = self._lookups.scan(
                    files_read, schema, columns, request.filters, request.limit
                )
                if paged is not None:
                    return paged
        if size > MAX_READ_BYTES:
            return None
        keyed = key_range(request.filters)
        condition = None
        if keyed is None or not _is_integer(schema, keyed[0]):
            condition = _conjunction(request.filters, schema)  # refused now, not mid-stream
        return self._decoded_batches(reads, needed, columns, request.filters, keyed, condition)

    def _decoded_batches(
        self,
        reads: list[tuple[Version, Footer, list[int]]],
        needed: list[str],
        columns: list[str],
        filters: Sequence[exp.Expression],
        keyed: KeyRange | None,
        condition: ds.Expression | None,
    ) -> Iterator[pa.RecordBatch]:
        """Each group's rows: by binary search on a sorted key, else by the filter."""
        filesystem = self.store.filesystem
        for version, footer, groups in reads:
            for group in groups:
                table = DECODED.table(filesystem, version, footer.metadata, group, needed)
                rows = None if keyed is None else DECODED.bounded(version, group, table, keyed)
                if rows is None:
                    if condition is None:
                        condition = _conjunction(filters, self.schema())
                    rows = predicates.filter_table(table, condition)
                yield from rows.select(columns).to_batches()

    def _whole_files(
        self,
        files: Files,
        columns: list[str],
        limit: int | None,
        local: list[Version | None] | None,
    ) -> Iterator[pa.RecordBatch] | None:
        """An unfiltered read of local Parquet files: file after file, by `ParquetFile`'s
        reader, as a bare pyarrow.flight server streams a file. The dataset scanner's
        read-ahead threads cost CPU that gRPC needs on a small machine: over Flight this reader
        streams faster (benchmarks/README.md). None for files the scanner must fill or cast
        (partition columns, columns missing from a file or typed otherwise)."""
        versions = _complete(local)
        if versions is None or any(found.values for found in files.found):
            return None
        footers = [self._footer(version) for version in versions]
        if not all(footer.holds(self.schema(), columns) for footer in footers):
            return None
        if limit is not None:  # one small batch answers it: nothing to overlap, no worker
            return self._file_batches(
                versions, footers, columns, max(1, min(limit, SCAN_BATCH_ROWS))
            )
        return read_ahead(self._file_batches(versions, footers, columns, SCAN_BATCH_ROWS))

    def _file_batches(
        self, versions: list[Version], footers: list[Footer], columns: list[str], batch_rows: int
    ) -> Generator[pa.RecordBatch]:
        for version, footer in zip(versions, footers, strict=True):
            with self.store.filesystem.open_input_file(version.path) as source:
                reader = pq.ParquetFile(source, metadata=footer.metadata)
                for group in range(footer.groups):  # a batch never waits for the next group
                    yield from reader.iter_batches(batch_rows, [group], columns)

    def _footer(self, version: Version) -> Footer:
        """A file version's footer and statistics, read once."""
        footer = self._footers.get(version)
        if footer is None:
            footer = Footer.read(self.store.filesystem, version.path, self.schema())
            if len(self._footers) >= KEPT_FRAGMENTS:
                self._footers.clear()
            self._footers[version] = footer
        return footer

    def _dataset_batches(
        self,
        found: Sequence[Found],
        fmt: str,
        columns: list[str],
        condition: ds.Expression | None,
        limit: int | None,
        versions: Sequence[Version | None] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """One fragment per file, carrying its partition values (Arrow fills those columns and
        skips a file whose values contradict the filter). With a limit, read ahead little and
        in small batches so stopping early saves work."""
        if not found:
            return iter(())
        partitions = Partitions(self._partition_fields, (), self._display_location())
        fragments = [
            self._fragment(item.entry, fmt, partitions.expression(item.values), version)
            for item, version in zip(found, versions or [None] * len(found), strict=True)
        ]
        dataset = ds.FileSystemDataset(
            fragments, self.schema(), self._file_format(fmt), self.store.filesystem
        )
        tuning: dict[str, Any] = {"batch_size": SCAN_BATCH_ROWS}
        if limit is not None:
            tuning = {
                "batch_size": max(1, min(limit, SCAN_BATCH_ROWS)),
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
        arrays = [f for f in files.found if self._classify_json(f.entry.path)]
        lines = [f for f in files.found if f not in arrays]
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

    def _classify_json(self, path: str) -> bool:
        try:
            return self._is_json_array(path)
        except OSError as error:
            raise self._read_error(path, "json", error) from None

    def _json_array_batches(self, found: Iterable[Found]) -> Iterator[pa.RecordBatch]:
        schema = self.schema()
        partitions = Partitions(self._partition_fields, (), self._display_location())
        for item in found:
            try:
                table = self._json_array_table(item.entry.path)
                for name, value in item.values.items():
                    if name in partitions.fields and name not in table.column_names:
                        table = table.append_column(
                            name, pa.repeat(partitions.typed(name, value)[0], table.num_rows)
                        )
                table = _cast_columns(table, schema)
            except READ_ERRORS as error:
                raise self._read_error(item.entry.path, "json", error) from None
            yield from table.to_batches(max_chunksize=JSON_BATCH_ROWS)

    def _is_json_array(self, path: str) -> bool:
        with self.store.filesystem.open_input_stream(path) as stream:
            head = stream.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
        return head.startswith("[")

    def _json_array_table(self, path: str) -> pa.Table:
        """A whole top-level array: `pyarrow.json` reads only newline-delimited objects."""
        with self.store.filesystem.open_input_stream(path) as stream:
            rows = json.loads(stream.read())
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ValueError("a JSON array file must hold objects, one per row")
        names = list(dict.fromkeys(key for row in rows for key in row))
        return pa.table({name: pa.array([row.get(name) for row in rows]) for name in names})

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
        documents = self._documents(files.root, selected, markdown=markdown)
        typed = (_cast_columns(batch, schema) for batch in documents)
        scanner = ds.Scanner.from_batches(typed, schema=schema, columns=columns, filter=condition)
        return scanner.to_batches()

    def _listed(self, files: Files, filters: Sequence[exp.Expression]) -> list[Entry]:
        schema = self.schema()
        entries = [f.entry for f in files.found]
        usable = [name for name in DOCUMENT_METADATA if name in schema.names]
        on_listing = [f for f in filters if _columns(f) <= set(usable)]
        if not on_listing:
            return entries
        listing = _listing_table(files.root, entries)
        typed = pa.table({name: listing[name].cast(schema.field(name).type) for name in usable})
        condition = _conjunction(on_listing, typed.schema)
        numbered = typed.append_column("__row", pa.array(range(typed.num_rows), pa.int64()))
        return [entries[row] for row in numbered.filter(condition)["__row"].to_pylist()]

    def _documents(
        self, root: str, entries: Sequence[Entry], *, markdown: bool | None
    ) -> Iterator[pa.RecordBatch]:
        """A batch per few dozen documents or few megabytes, whichever comes first, so a folder
        of large files never sits in memory at once. Undecodable bytes are replaced rather than
        failing the scan: one odd file should not hide every other document."""
        pending: list[tuple[str, str, int]] = []
        size = 0
        for entry in entries:
            with self.store.filesystem.open_input_stream(entry.path) as stream:
                content = stream.read().decode("utf-8", errors="replace")
            pending.append((_relative(root, entry.path), content, entry.mtime_ns or 0))
            size += len(content)
            if len(pending) >= DOCUMENT_BATCH_ROWS or size >= DOCUMENT_BATCH_BYTES:
                yield _document_batch(pending, markdown=markdown)
                pending, size = [], 0
        if pending:
            yield _document_batch(pending, markdown=markdown)

    def _guarded(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Failures surface mid-stream (a corrupt file, a value that does not fit a declared
        type, a store that refuses); they reach the agent as SourceError, without the host's
        absolute paths or any secret."""
        try:
            yield from batches
        except READ_ERRORS as error:
            raise self._scan_error(error) from None

    def _scan_error(self, error: Exception) -> SourceError:
        if self.store.remote and isinstance(error, OSError):
            return self.store.error(error, self.location)
        return SourceError(
            f"reading {self._display_location()} failed: {self.store.scrub(str(error))}",
            hint="check the files, and the types declared in columns:",
        )

    def _read_error(self, path: str, fmt: str, error: Exception) -> SourceError:
        if self.store.remote and type(error) is OSError:
            return self.store.error(error, path)
        return SourceError(
            f"cannot read {self._display(path)} as {fmt}: {self.store.scrub(str(error))}",
            hint=f"check that it is a valid {fmt} file, or set params.format to one of: "
            + ", ".join(FORMATS),
        )

    def _display(self, path: str) -> str:
        return self.store.display(path)

    def _display_location(self) -> str:
        if self.store.remote or PurePosixPath(self.source.location).is_absolute():
            return self._display(self.location)
        return self.source.location

    def _nearby(self, path: str) -> str:
        """What exists where the operator pointed, with the closest name when there is a typo."""
        parent = _parent(path)
        while self.listing.info(parent).type != pafs.FileType.Directory and parent != _parent(
            parent
        ):
            parent = _parent(parent)
        names = self._names(parent)
        name = path.rstrip("/").rsplit("/", 1)[-1]
        close = difflib.get_close_matches(name, [n.rstrip("/") for n in names], n=1)
        suggestion = f"did you mean {self._display(parent + '/' + close[0])}? " if close else ""
        return suggestion + self._listing(parent)

    def _listing(self, folder: str) -> str:
        names = self._names(folder)
        shown = ", ".join(names[:LISTED_FILES]) + (", ..." if len(names) > LISTED_FILES else "")
        where = self._display(folder)
        return f"files in {where}/: {shown}" if names else f"{where}/ is empty"

    def _names(self, folder: str) -> list[str]:
        try:
            files, folders = self.listing.children(folder)
        except SourceError:
            return []
        names = [_relative(folder, f.path) for f in files]
        names += [_relative(folder, f) + "/" for f in folders]
        return sorted(names)


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


def _complete(versions: list[Version | None] | None) -> list[Version] | None:
    """The files' versions, or None when one is gone or empty (or they are not local)."""
    if versions is None or any(version is None or not version.size for version in versions):
        return None
    return cast(list[Version], versions)


def _is_integer(schema: pa.Schema, name: str) -> bool:
    index = schema.get_field_index(name)
    return index >= 0 and pa.types.is_integer(schema.field(index).type)


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def _glob_regex(pattern: str) -> str:
    """A glob over paths as pathlib reads it: `*` stays within a folder, `**/` spans any."""
    parts = []
    for index, part in enumerate(pattern.split("/")):
        last = index == len(pattern.split("/")) - 1
        if part == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
            continue
        body = translate(part).removeprefix("(?s:").removesuffix(")\\Z")
        parts.append(body.replace(".*", "[^/]*").replace(".", "[^/]", 0) + ("" if last else "/"))
    return "".join(parts)


def _parent(path: str) -> str:
    parent = path.rstrip("/").rsplit("/", 1)[0]
    return parent or "/"


def _relative(root: str, path: str) -> str:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def _bytes(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"


@lru_cache(maxsize=KEPT_FRAGMENTS)
def _extension_format(path: str) -> str | None:
    """The format a file's name says (kept: each scan asks it of every file listed)."""
    suffixes = [suffix.lower() for suffix in PurePosixPath(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _family(fmt: str | None) -> str | None:
    return FAMILIES.get(fmt, fmt) if fmt is not None else None


def _listing_table(root: str, entries: Sequence[Entry]) -> pa.Table:
    return pa.table(
        {
            "path": [_relative(root, entry.path) for entry in entries],
            "modified_at": _timestamps([entry.mtime_ns or 0 for entry in entries]),
        }
    )


def _timestamps(nanoseconds: list[int]) -> pa.Array:
    microseconds = [value // 1000 for value in nanoseconds]
    return pa.array(microseconds, pa.int64()).cast(DOCUMENT_SCHEMA.field("modified_at").type)


def _document_batch(
    documents: list[tuple[str, str, int]], *, markdown: bool | None
) -> pa.RecordBatch:
    """`markdown` is the declared format's say; without one, each file's extension decides
    (read past a compression suffix: `notes.md.gz` is Markdown)."""
    titles = []
    for path, text, _ in documents:
        as_markdown = _extension_format(path) == "markdown" if markdown is None else markdown
        titles.append(title(text, PurePosixPath(path), as_markdown))
    return pa.RecordBatch.from_arrays(
        [
            pa.array([path for path, _, _ in documents], pa.string()),
            pa.array(titles, pa.string()),
            pa.array([text for _, text, _ in documents], pa.string()),
            _timestamps([modified for _, _, modified in documents]),
        ],
        schema=DOCUMENT_SCHEMA,
    )
