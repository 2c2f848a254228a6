"""The agent's world: its declared datasets and views, and nothing else.

Name resolution lives here because it is also the first security boundary: a table reference
that is not a declared dataset, a view or a system table never reaches any source.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from connectors import REGISTRY, Connector, DatasetSource, SourceError, open_connector, options
from policies.access import Grant, unrestricted
from policies.guard import parse
from sidecar.config import Dataset, SidecarConfig, View
from sidecar.engine.memory import TableConnector
from sidecar.engine.refreshes import Refreshes, Stalled
from sidecar.engine.restriction import Restriction
from sidecar.engine.types import UnknownType, arrow_type, sql_type
from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR, SecretError, resolve

if TYPE_CHECKING:
    from accelerators.manager import Accelerator
    from accelerators.refresh import LocalCopy

SCHEMA = "public"
SYSTEM_SCHEMA = "information_schema"
RETRY_AFTER_ERROR = 2.0
STALL_FACTOR = 2  # a source silent this many times its timeout no longer answers a refresh


class State(StrEnum):
    PENDING = "pending"
    LOADING = "loading"
    READY = "ready"
    STALE = "stale"  # answered from a local copy that the source cannot refresh right now
    ERROR = "error"


@dataclass
class DatasetEntry:
    """One declared dataset, its connector once opened, and what the status page shows.

    `source_state` is the source's (is its connector open?); `state` is the dataset's, which
    is what probes and status pages need: an accelerated dataset is as ready as its copy.
    """

    config: Dataset
    base_dir: object
    source_timeout: float
    source_state: State = State.PENDING
    connector: Connector | None = None
    schema: pa.Schema | None = None
    error: str | None = None
    row_count: int | None = None
    loaded_at: float | None = None
    load_seconds: float | None = None
    accelerator: Accelerator | None = None
    generation: int = 0
    _attempted_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refreshes: Refreshes = field(init=False)
    _fast: Connector | None = None
    _fast_for: tuple[object, object, pa.Schema] = (None, None, pa.schema([]))  # held, source, own

    def __post_init__(self) -> None:
        self._refreshes = Refreshes(self.name, self._refresh_now)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def copy(self) -> LocalCopy | None:
        """The local copy (DuckDB or Arrow), when this dataset is accelerated."""
        return self.accelerator.copies.get(self.name.lower()) if self.accelerator else None

    @property
    def state(self) -> State:
        """The dataset's state as queries see it.

        A loaded copy is ready, or stale while its source fails (a file-mode copy after a
        restart with the source down serves its rows; the refresh error is `last_error`). An
        `on_load` copy is loading until its first copy is there, whatever the source's state.
        """
        copy = self.copy
        if copy is None or (not copy.loaded and copy.settings.ready_state == "on_registration"):
            return self.source_state
        failing = self.source_state is State.ERROR or copy.status.last_error is not None
        if copy.loaded:
            return State.STALE if failing else State.READY
        return State.ERROR if failing else State.LOADING

    @property
    def available(self) -> bool:
        """Whether queries can be answered now, from the copy or from the source."""
        return self.state in (State.READY, State.STALE)

    @property
    def rows(self) -> int | None:
        """How many rows queries read, where known: a loaded copy's, else the source's count.
        Every interface shows this one (status, metrics, pg_class, the model's tools)."""
        copy = self.copy
        return copy.status.rows if copy is not None and copy.loaded else self.row_count

    @property
    def columns(self) -> pa.Schema | None:
        """The columns queries read, for every catalog surface: a loaded copy's (its working
        set, typed as the source types them; known from the copy alone when a file-mode copy
        serves after a restart with its source down), else the source's; None while neither
        is known."""
        copy = self.copy
        if copy is not None and copy.loaded:
            return self._accelerated(copy)[1]
        return self.schema

    @property
    def next_refresh_at(self) -> float | None:
        """When the local copy is next refreshed (or retried after a failed refresh)."""
        copy = self.copy
        return copy.status.next_refresh_at if copy is not None else None

    @property
    def last_error(self) -> str | None:
        """Why the dataset is not (or no longer) fresh: the last refresh's or the source's."""
        copy = self.copy
        return (copy.status.last_error if copy is not None else None) or self.error

    def load(self) -> None:
        """Open the connector and learn the schema, then fill or refresh a local copy; failures
        are recorded, never raised."""
        if self._open():
            self._first_refresh()

    def _open(self) -> bool:
        """Open the connector and learn the schema; whether that worked."""
        with self._lock:
            self._attempted_at = time.monotonic()
            if self.source_state is not State.ERROR:  # a failed source stays so until it opens:
                self.source_state = State.LOADING  # its copy read READY with the old error
            started = time.perf_counter()
            try:
                connector = open_connector(self._source())
                schema = connector.schema()
                self.row_count = connector.row_count()
            except (SourceError, SecretError, UnknownType, OSError, ValueError) as error:
                self.source_state, self.error = State.ERROR, REDACTOR.redact(str(error))
                return False
            except Exception as error:  # a broken driver must not take the process down
                self.source_state = State.ERROR
                self.error = REDACTOR.redact(f"{type(error).__name__}: {error}")
                return False
            if self.connector is not None and self.connector is not connector:
                self.connector.close()
            self.connector, self.schema, self.error = connector, schema, None
            self.source_state = State.READY
            self.loaded_at = time.time()
            self.load_seconds = time.perf_counter() - started
            return True

    def _first_refresh(self) -> None:
        """A new copy loads now; a copy kept in a file serves at once and refreshes behind."""
        copy = self.copy
        if copy is None or self.connector is None:
            return
        if not copy.loaded:
            self.refresh_quietly()
        elif not copy.refreshed:
            threading.Thread(target=self.refresh_quietly, daemon=True).start()

    def refresh(self) -> None:
        """Refresh the local copy from the source now; raises with the source's reason (and a
        copy without a refresh interval is then retried until it refreshes). A source silent
        for twice its timeout fails the wait, not the refresh, which waits on in the background
        (refreshes.py); the copy is stale meanwhile, and serves its previous rows."""
        try:
            try:
                self._refreshes.run(self._stalled)
            except Stalled as error:
                message = f"refresh of {self.name} timed out: {error}"
                if self.copy is not None:
                    self.copy.status.last_error = message
                raise SidecarError(
                    ErrorCode.TIMEOUT,
                    message,
                    hint="the refresh goes on waiting for the source in the background; "
                    "the local copy keeps serving its previous data",
                ) from None
        except SidecarError:
            if self.accelerator is not None and self.copy is not None:
                self.accelerator.retry(self.name.lower())
            raise

    def _stalled(self) -> float | None:
        """How long the source has been silent, once that is twice as long as one of its
        answers may take (its `timeout` param, else runtime.source_timeout); else None."""
        copy, connector = self.copy, self.connector
        silent = copy.silent_for() if copy is not None else None
        if silent is None:
            return None
        limit = (connector.source.params.get("timeout") if connector else None) or (
            self.source_timeout
        )
        return silent if silent > STALL_FACTOR * float(limit) else None

    def _refresh_now(self) -> None:
        copy = self.copy
        if copy is None:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"dataset {self.name} is not accelerated",
                hint="add an acceleration: block to the dataset in sidecar.yaml",
            )
        if self.connector is None or self.schema is None:
            self._open()
        if self.connector is None or self.schema is None:
            copy.status.last_error = self.error
            raise SidecarError(
                ErrorCode.SOURCE,
                f"cannot refresh {self.name}: {self.error}",
                hint="the local copy keeps serving its previous data",
            )
        from accelerators.refresh import RefreshError

        try:
            copy.refresh(self.connector, self.schema, self.accelerator.source_lock(self.connector))
        except RefreshError as error:
            raise SidecarError(
                ErrorCode.SOURCE,
                REDACTOR.redact(f"refresh of {self.name} failed: {error}"),
                hint="the local copy keeps serving its previous data",
            ) from None
        self.generation += 1

    def refresh_quietly(self) -> None:
        """A scheduled refresh: its failure is recorded on the status page, not raised."""
        with contextlib.suppress(SidecarError):
            self.refresh()

    def require(self) -> tuple[Connector, pa.Schema]:
        """The connector for a query: the local copy when there is one, else the source.

        A failed source is retried, at most every few seconds; a loaded copy never waits on it.
        A query that arrives while the source is being opened (at start-up) waits for that.
        """
        copy = self.copy
        if copy is not None and copy.loaded:
            return self._accelerated(copy)
        if self.source_state is State.LOADING:
            with self._lock:  # held by the load under way
                pass
        if copy is not None and copy.settings.ready_state == "on_load":
            reason = copy.status.last_error or self.error or "the first refresh is running"
            raise SidecarError(
                ErrorCode.NOT_READY,
                f"dataset {self.name} is not loaded yet: {reason}",
                hint="its local copy is filled on start-up; GET /v1/status shows progress",
            )
        if self.source_state is not State.READY and (
            time.monotonic() - self._attempted_at >= RETRY_AFTER_ERROR
            or self.source_state is State.PENDING
        ):
            self.load()
        if self.connector is None or self.schema is None:
            raise SidecarError(
                ErrorCode.SOURCE,
                f"dataset {self.name} is unavailable: {self.error or 'still loading'}",
                hint="check the source, or GET /v1/status for details; other datasets still work",
            )
        return self.connector, self.schema

    def _accelerated(self, copy: LocalCopy) -> tuple[Connector, pa.Schema]:
        """The copy with the source's column types (stable whether a query hits the copy or
        the source), narrowed to the columns the working set keeps."""
        held = copy.schema()
        kept = self._fast_for
        if self._fast is not None and kept[0] is held and kept[1] is self.schema:
            return self._fast, kept[2]  # asked per statement: the same objects, the same answer
        schema = (
            pa.schema([f for f in self.schema if f.name in held.names]) if self.schema else held
        )
        if self._fast is None or not self._fast.schema().equals(schema):
            from accelerators.manager import copy_connector

            self._fast = copy_connector(self._source(), copy, schema, self.connector)
        self._fast_for = (held, self.schema, schema)
        return self._fast, schema

    def _source(self) -> DatasetSource:
        declared = None
        if self.config.columns:
            declared = pa.schema(
                [pa.field(column.name, arrow_type(column.type)) for column in self.config.columns]
            )
        params = resolve(self.config.params, self.base_dir)
        for secret in options.configured_secrets(params, self.config.location):
            REDACTOR.register(secret)  # written inline or not, a credential is never shown
        return DatasetSource(
            name=self.config.name,
            scheme=self.config.scheme,
            location=self.config.location,
            params=params,
            declared_schema=declared,
            base_dir=self.base_dir,
            timeout=self.source_timeout,
        )


@dataclass(frozen=True)
class Relation:
    """A dataset or view as one caller sees it, for every catalog surface (information_schema,
    pg_catalog, Flight metadata, /v1/datasets, the model's tools): its columns are the ones
    the caller's policy leaves, typed as the caller reads them."""

    name: str
    kind: str
    schema: pa.Schema | None
    description: str | None = None
    sql: str | None = None
    entry: DatasetEntry | None = None


@dataclass(frozen=True)
class Resolved:
    """What a table reference in a query turned out to be."""

    name: str
    dataset: DatasetEntry | None = None
    view: View | None = None
    system: TableConnector | None = None


class Catalog:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.accelerator: Accelerator | None = None
        if any(dataset.accelerated for dataset in config.datasets):
            from accelerators.manager import Accelerator  # DuckDB only for a config with copies

            self.accelerator = Accelerator(config)
        self.datasets = {
            dataset.name.lower(): DatasetEntry(
                dataset,
                config.base_dir,
                config.runtime.source_timeout,
                accelerator=self.accelerator,
            )
            for dataset in config.datasets
        }
        self.views = {view.name.lower(): view for view in config.views}
        self.describe_view: Callable[[str, Grant], pa.Schema | None] = lambda key, grant: None
        # views' columns per visibility, learnt when first asked and kept while the datasets'
        # schemas are the ones they were learnt over
        self._view_schemas: dict[str, dict[str, pa.Schema]] = {}
        self._described_over: list[pa.Schema | None] = []

    @property
    def database(self) -> str:
        return self.config.name

    def load(self, progress: Callable[[DatasetEntry], None] | None = None) -> None:
        """Load every dataset in parallel so one slow source does not hold the others back."""
        threads = [
            threading.Thread(target=self._load_one, args=(entry, progress), daemon=True)
            for entry in self.datasets.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @staticmethod
    def _load_one(entry: DatasetEntry, progress: Callable[[DatasetEntry], None] | None) -> None:
        entry.load()
        if progress is not None:
            progress(entry)

    @property
    def ready(self) -> bool:
        return all(entry.available for entry in self.datasets.values())

    def table_names(self, grant: Grant | None = None) -> list[str]:
        names = [e.name for e in self.datasets.values()] + [v.name for v in self.views.values()]
        return sorted(name for name in names if grant is None or grant.sees(name))

    def resolve(self, table: exp.Table, grant: Grant | None = None) -> Resolved:
        """What a table reference names, for a caller holding `grant` (None: the operator, or
        a view's definer); a relation the caller may not see does not exist for it."""
        name, schema, catalog = table.name, table.db, table.catalog
        if schema.lower() == SYSTEM_SCHEMA and not catalog:
            system = self.system_table(name.lower(), grant)
            if system is not None:
                return Resolved(f"{SYSTEM_SCHEMA}.{name.lower()}", system=system)
        elif schema.lower() in ("", SCHEMA) and catalog.lower() in ("", self.database.lower()):
            key = name.lower()
            if key in self.datasets and (grant is None or grant.sees(key)):
                return Resolved(self.datasets[key].name, dataset=self.datasets[key])
            if key in self.views and (grant is None or grant.sees(key)):
                return Resolved(self.views[key].name, view=self.views[key])
        raise self.unknown_table(table, grant)

    def unseen(self, grant: Grant) -> frozenset[str]:
        """How a source's error may name the datasets `grant` does not see: their names and
        what their sources call them (the location's last part: `salaries.parquet`, and of
        `public.salaries` the table `salaries`). A source's hint lists its tables, a file
        store its files; those of datasets hidden from the caller are masked
        (`bridge.source_failed`)."""
        names: set[str] = set()
        for entry in self.datasets.values():
            if grant.sees(entry.name):
                continue
            last = re.split(r"[/:]", entry.config.location.split("?")[0].rstrip("/"))[-1]
            names |= {entry.name, last}
            if REGISTRY.get(entry.config.scheme) != REGISTRY["file"]:  # not a file's extension
                names.add(last.rsplit(".", 1)[-1].strip('"`'))
        return frozenset(name for name in names if len(name) >= 2)

    def unknown_table(self, table: exp.Table, grant: Grant | None = None) -> SidecarError:
        return unknown_relation(table, self.table_names(grant))

    def relations(self, grant: Grant | None = None) -> list[Relation]:
        """The datasets, then the views, that `grant` sees, by name."""
        grant = grant or unrestricted()
        found = []
        for entry in sorted(self.datasets.values(), key=lambda e: e.name.lower()):
            if grant.sees(entry.name):
                schema = entry.columns
                if schema is not None:
                    restriction = Restriction.of(grant, entry.name, schema, definer=False)
                    schema = restriction.schema if restriction is not None else schema
                found.append(
                    Relation(
                        entry.name, "BASE TABLE", schema, entry.config.description, None, entry
                    )
                )
        for key, view in sorted(self.views.items()):
            if grant.sees(view.name):
                definition = view.sql if self._shows_definition(view, grant) else None
                found.append(
                    Relation(
                        view.name,
                        "VIEW",
                        self.view_schema(key, grant),
                        view.description,
                        definition,
                    )
                )
        return found

    def view_schema(self, key: str, grant: Grant) -> pa.Schema | None:
        """A view's columns as `grant` reads them (a hashed column beneath it is text), or None
        while it cannot be planned (a dataset beneath it down).

        Learnt by planning the view the first time a catalog surface asks, not at start-up:
        planning is DataFusion's first use, which costs a sidecar that only serves lookups about
        30 MiB it never gives back. Kept until a dataset's schema changes (a source opened late
        or reopened); a view that fails is asked again next time, so it shows once it works."""
        current = [entry.schema for entry in self.datasets.values()]
        if len(current) != len(self._described_over) or any(
            a is not b for a, b in zip(current, self._described_over, strict=False)
        ):
            self._view_schemas, self._described_over = {}, current
        schemas = self._view_schemas.setdefault(grant.visibility, {})
        schema = schemas.get(key)
        if schema is None:
            schema = self.describe_view(key, grant)
            if schema is not None:
                schemas[key] = schema
        return schema

    @staticmethod
    def _shows_definition(view: View, grant: Grant) -> bool:
        """A view's SQL names what it reads: shown only when the caller sees all of that as is."""
        if not grant.restricted:
            return True
        try:
            tables = [t for tree in parse(view.sql) if tree for t in tree.find_all(exp.Table)]
        except SidecarError:
            return False
        return all(grant.sees(table.name) and not grant.narrows(table.name) for table in tables)

    def system_table(self, name: str, grant: Grant | None = None) -> TableConnector | None:
        builders = {
            "tables": self._information_tables,
            "columns": self._information_columns,
            "schemata": lambda _: self._information_schemata(),
        }
        if name not in builders:
            return None
        return TableConnector(f"{SYSTEM_SCHEMA}.{name}", builders[name](grant))

    def _information_tables(self, grant: Grant | None) -> pa.Table:
        rows = [
            {
                "table_catalog": self.database,
                "table_schema": SCHEMA,
                "table_name": relation.name,
                "table_type": relation.kind,
            }
            for relation in self.relations(grant)
        ]
        return pa.Table.from_pylist(
            rows, schema=_strings("table_catalog", "table_schema", "table_name", "table_type")
        )

    def _information_columns(self, grant: Grant | None) -> pa.Table:
        rows = []
        for relation in self.relations(grant):
            for position, column in enumerate(relation.schema or [], start=1):
                rows.append(
                    {
                        "table_catalog": self.database,
                        "table_schema": SCHEMA,
                        "table_name": relation.name,
                        "column_name": column.name,
                        "ordinal_position": position,
                        "is_nullable": "YES" if column.nullable else "NO",
                        "data_type": sql_type(column.type),
                    }
                )
        schema = pa.schema(
            [
                *_strings("table_catalog", "table_schema", "table_name", "column_name"),
                pa.field("ordinal_position", pa.int32()),
                *_strings("is_nullable", "data_type"),
            ]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    def _information_schemata(self) -> pa.Table:
        rows = [
            {"catalog_name": self.database, "schema_name": schema}
            for schema in (SCHEMA, SYSTEM_SCHEMA)
        ]
        return pa.Table.from_pylist(rows, schema=_strings("catalog_name", "schema_name"))


def _strings(*names: str) -> pa.Schema:
    return pa.schema([pa.field(name, pa.string()) for name in names])


def unknown_relation(table: exp.Table, known: list[str]) -> SidecarError:
    """A table reference naming none of the `known` relations, with the closest one."""
    written = ".".join(part for part in (table.catalog, table.db, table.name) if part)
    close = difflib.get_close_matches(table.name.lower(), [k.lower() for k in known], n=1)
    hint = f"known tables: {', '.join(known) or '(none declared)'}"
    if close:
        hint = f"did you mean {close[0]}? " + hint
    return SidecarError(
        ErrorCode.UNDEFINED_TABLE, f'relation "{written}" does not exist', hint=hint
    )
