"""`mongodb:db.collection` datasets: a collection as a table, read with find().

The schema is declared, or learned from a sample of documents (`schema.py`). A scan is one
find() with the projection, the pushed filters (`filters.py`), the sort and the limit, read
from the cursor batch by batch, so a collection is never held in memory and a LIMIT reaches
the server. A grouped query over one collection can instead be one aggregate pipeline
(`aggregate.py`), so only its groups travel. Only reads are ever sent: find, aggregate
($sample for the schema, $match/$group/$project for grouped queries), count and listCollections.

Params:

    uri              mongodb:// or mongodb+srv:// URI, credentials included (a secret)
    sample_size      documents sampled to infer the schema and the filterable columns (1000)
    flatten          nested documents as dotted columns (`address.city`) instead of structs
    batch_size       documents per record batch and per cursor batch (1000)
    connect_timeout  how long to look for the server before failing (the source timeout)
    timeout          per operation on the server (the source timeout)

Every message goes through `_error`, which removes the URI's password, so a failing source
never shows its credentials to the agent.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, cast
from urllib.parse import unquote

import pyarrow as pa
import pymongo
from bson import json_util
from pymongo import errors as mongo_errors
from sqlglot import exp

from connectors import documents, options
from connectors.base import (
    AggregateScan,
    DatasetSource,
    ScanRequest,
    SourceError,
)
from connectors.documents import DocumentConnector, Unsupported
from connectors.mongodb import aggregate as mongo_aggregate
from connectors.mongodb.aggregate import Aggregation
from connectors.mongodb.filters import FilterCompiler, all_of
from connectors.mongodb.schema import ORDERED_KINDS, Kind, infer, kind_for_declared, normalize
from connectors.params import MongoParams

USERINFO = re.compile(r"://[^:/@\s]*:([^@\s]*)@")
AUTH_FAILED = 18
UNAUTHORIZED = 13
NOT_FOUND_HINT = "check the database and collection in from: (mongodb:db.collection)"


@dataclass(frozen=True)
class Find:
    """One find() as sent: what EXPLAIN shows and what the cursor runs."""

    filter: dict[str, Any]
    projection: dict[str, int] | None
    sort: list[tuple[str, int]]
    limit: int | None

    def text(self) -> str:
        dumped = json_util.dumps(self.filter, json_options=json_util.RELAXED_JSON_OPTIONS)
        text = f"find({dumped}"
        if self.projection is not None:
            text += f", {json_util.dumps(self.projection)}"
        text += ")"
        if self.sort:
            text += f".sort({json_util.dumps(dict(self.sort))})"
        if self.limit is not None:
            text += f".limit({self.limit})"
        return text


def _target(source: DatasetSource) -> tuple[str, str]:
    database, dot, collection = source.location.partition(".")
    if not database or not dot or not collection:
        raise SourceError(
            f"from: mongodb:{source.location} must name a database and a collection",
            hint="write from: mongodb:<database>.<collection>, e.g. mongodb:shop.orders",
        )
    return database, collection


class MongoConnector(DocumentConnector[list[Find]]):
    """A MongoDB collection; see the module docstring for the params."""

    schemes: ClassVar[tuple[str, ...]] = ("mongodb",)
    supports_limit: ClassVar[bool] = True
    supports_order: ClassVar[bool] = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self.options = cast(MongoParams, self.params)
        uri = self.options.uri
        if not uri or not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise SourceError(
                "params.uri is required: a mongodb:// or mongodb+srv:// URI",
                hint='e.g. uri: "mongodb://reader:${env:MONGO_PASSWORD}@db.internal:27017"',
            )
        self.uri = uri
        self.database, self.collection = _target(source)
        self.timeout = self.options.timeout or source.timeout
        self.connect_timeout = self.options.connect_timeout or source.timeout
        self._secrets = _secrets(uri)
        self._client: pymongo.MongoClient[dict[str, Any]] | None = None
        self._schema: pa.Schema | None = None
        self._compiler: FilterCompiler | None = None
        self._lock = threading.Lock()

    # --- Connector -------------------------------------------------------------------------

    def schema(self) -> pa.Schema:
        with self._lock:
            if self._schema is None:
                self._schema, kinds = self._learn()
                self._compiler = FilterCompiler(self._schema, kinds, dotted=self.options.flatten)
            return self._schema

    def describe(self, request: ScanRequest) -> str:
        where = f"{self.database}.{self.collection}"
        return f"mongodb {where}: " + " then ".join(find.text() for find in self.plan(request))

    def row_count(self) -> int | None:
        try:
            return int(self._collection().estimated_document_count())
        except (mongo_errors.PyMongoError, SourceError):
            return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # --- Whole grouped queries -------------------------------------------------------------

    def aggregate(self, select: exp.Select) -> AggregateScan | None:
        """One `aggregate` pipeline for a grouped query's core, when it fits (`plan_aggregate`):
        MongoDB returns one document per group instead of every document."""
        aggregation = self.plan_aggregate(select)
        if aggregation is None:
            return None
        return AggregateScan(
            aggregation.schema,
            f"mongodb {self._where()}: {aggregation.text()}",
            partial(self._aggregate_reader, aggregation),
        )

    def plan_aggregate(self, select: exp.Expression) -> Aggregation | None:
        """The aggregate pipeline for a grouped SELECT over this collection alone, or None:
        FROM this dataset, WHERE, GROUP BY columns, and COUNT/SUM/AVG/MIN/MAX of columns
        (see `aggregate.py` for what fits)."""
        self.schema()
        assert self._compiler is not None
        return mongo_aggregate.plan(
            select, self.schema(), self._compiler.kinds, self.translate_filter
        )

    def _aggregate_reader(self, aggregation: Aggregation) -> pa.RecordBatchReader:
        """Run a planned aggregation: its columns are `o0, o1, …`, one per SELECT item."""
        return pa.RecordBatchReader.from_batches(aggregation.schema, self._aggregated(aggregation))

    def _aggregated(self, aggregation: Aggregation) -> Iterator[pa.RecordBatch]:
        size = self.options.batch_size
        with self._errors():
            cursor = self._collection().aggregate(aggregation.pipeline, batchSize=size)
            try:
                rows: list[Mapping[str, Any]] = []
                seen = False
                for document in cursor:
                    rows.append(document)
                    seen = True
                    if len(rows) == size:
                        yield self._batch(rows, aggregation.schema)
                        rows = []
            finally:
                cursor.close()
        if not seen and not aggregation.grouped:
            rows = [aggregation.empty]
        if rows:
            yield self._batch(rows, aggregation.schema)

    # --- Planning --------------------------------------------------------------------------

    def plan(self, request: ScanRequest) -> list[Find]:
        """The find() calls of a scan: one, or two for a top-N whose NULLs MongoDB would put
        at the other end (it sorts them lowest, SQL's default puts them last ascending).

        A sort the server cannot reproduce exactly drops both sort and limit, so the engine
        sorts; a top-N over a different order would return the wrong rows.
        """
        schema = self.schema()
        conditions = [self.translate_filter(predicate) for predicate in request.filters]
        projection = self._projection(schema, request.projection)
        limit = request.limit
        sort, split = self._sort(request.order_by)
        if sort is None:
            sort, split, limit = [], None, None
        if split is None:
            return [Find(all_of(conditions) if conditions else {}, projection, sort, limit)]
        nulls = all_of([*conditions, {split: None}])
        values = all_of([*conditions, {split: {"$ne": None}}])
        return [Find(nulls, projection, sort[1:], limit), Find(values, projection, sort, limit)]

    def translate_filter(self, predicate: exp.Expression) -> dict[str, Any]:
        self.schema()
        assert self._compiler is not None
        return self._compiler.compile(documents.condition(predicate, self.schema()))

    def _projection(self, schema: pa.Schema, columns: Sequence[str] | None) -> dict[str, int]:
        """Top-level fields (or dotted leaves when flattened); `_id` only when asked for."""
        names = list(columns) if columns is not None else schema.names
        if any("." in name for name in names) and not self.options.flatten:
            return {}
        projection = {name: 1 for name in names}
        if "_id" not in projection:
            projection["_id"] = 0
        return projection

    def _sort(self, keys: Sequence[exp.Ordered]) -> tuple[list[tuple[str, int]] | None, str | None]:
        """MongoDB's sort for the keys, and the key whose NULLs must be read first, if any."""
        assert self._compiler is not None
        sort: list[tuple[str, int]] = []
        split = None
        for position, key in enumerate(keys):
            name = key.this.name if isinstance(key.this, exp.Column) else None
            if name is None or self._compiler.kinds.get(name) not in ORDERED_KINDS:
                return None, None
            try:
                path = self._compiler.path(name)
            except Unsupported:
                return None, None
            descending = bool(key.args.get("desc"))
            nulls_first = bool(key.args.get("nulls_first"))
            if nulls_first != (not descending):
                if position > 0 or not descending:
                    return None, None
                split = path
            sort.append((path, -1 if descending else 1))
        return sort, split

    # --- Reading ---------------------------------------------------------------------------

    def _learn(self) -> tuple[pa.Schema, dict[str, Kind]]:
        """Sample the collection: the schema (unless declared) and each column's BSON kind."""
        declared = self.source.declared_schema
        self._require_collection()
        sample = self._sample()
        if not sample and declared is None:
            raise self._error(
                f"{self._where()} has no documents to infer a schema from",
                hint="declare the dataset's columns: in sidecar.yaml",
            )
        inferred = infer(sample, flatten=self.options.flatten)
        if declared is None:
            return inferred.schema, inferred.kinds
        kinds = {
            f.name: kind
            for f in declared
            if (kind := kind_for_declared(f.type, inferred.kinds.get(f.name))) is not None
        }
        return declared, kinds

    def _sample(self) -> list[Mapping[str, Any]]:
        pipeline = [{"$sample": {"size": self.options.sample_size}}]
        with self._errors():
            return list(self._collection().aggregate(pipeline))

    def _require_collection(self) -> None:
        """Asked before sampling: some servers create a collection that an aggregate names."""
        with self._errors():
            names = self._client_().get_database(self.database).list_collection_names()
        if self.collection not in names:
            raise self._error(
                f"collection {self._where()} does not exist",
                hint=options.close_names(self.collection, names, f"collections in {self.database}"),
            )

    def read(self, schema: pa.Schema, finds: list[Find]) -> Iterator[pa.RecordBatch]:
        remaining = finds[0].limit
        for find in finds:
            if remaining == 0:
                return
            for rows in self._cursor(find, remaining):
                yield self._batch(rows, schema)
                if remaining is not None:
                    remaining -= len(rows)

    def _cursor(self, find: Find, limit: int | None) -> Iterator[list[Mapping[str, Any]]]:
        if limit == 0:
            return
        with self._errors():
            cursor = self._collection().find(
                find.filter,
                find.projection or None,
                sort=find.sort or None,
                limit=limit or 0,
                batch_size=self.options.batch_size,
            )
            try:
                rows: list[Mapping[str, Any]] = []
                for document in cursor:
                    rows.append(document)
                    if len(rows) == self.options.batch_size:
                        yield rows
                        rows = []
                if rows:
                    yield rows
            finally:
                cursor.close()

    def _batch(self, rows: list[Mapping[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
        try:
            return documents.to_batch(
                rows,
                schema,
                self._lookup,
                normalize,
                hint="declare the column's type in columns: (text takes any value), "
                "or raise params.sample_size so the sample sees such documents",
            )
        except SourceError as error:
            raise self._error(f"{self._where()}: {error}", hint=error.hint) from None

    def _lookup(self, document: Mapping[str, Any], name: str) -> Any:
        """A column's value: the field, or the dotted path of a flattened column.

        Servers answer a dotted projection either nested (MongoDB) or under the dotted key.
        """
        if not self.options.flatten or "." not in name:
            return document.get(name)
        value: Any = document
        for step in name.split("."):
            if value is None:
                break
            if not isinstance(value, Mapping):
                raise documents.Misfit(value, pa.struct([]))
            value = value.get(step)
        return value if value is not None else document.get(name)

    # --- Client and errors -----------------------------------------------------------------

    def _client_(self) -> pymongo.MongoClient[dict[str, Any]]:
        if self._client is None:
            with self._errors():
                self._client = pymongo.MongoClient(
                    self.uri,
                    serverSelectionTimeoutMS=int(self.connect_timeout * 1000),
                    connectTimeoutMS=int(self.connect_timeout * 1000),
                    socketTimeoutMS=int(self.timeout * 1000),
                    appname="agent-sidecar",
                )
        return self._client

    def _collection(self) -> Any:
        database = self._client_().get_database(self.database)
        return database.get_collection(self.collection)

    def _where(self) -> str:
        return f"{self.database}.{self.collection}"

    def _errors(self) -> _Translate:
        return _Translate(self)

    def _error(self, message: str, hint: str | None = None) -> SourceError:
        return SourceError(
            options.scrub(message, self._secrets),
            hint=None if hint is None else options.scrub(hint, self._secrets),
        )


class _Translate:
    """pymongo's exceptions as SourceErrors an agent can act on, without credentials."""

    def __init__(self, connector: MongoConnector) -> None:
        self.connector = connector

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if not isinstance(error, mongo_errors.PyMongoError | mongo_errors.ConfigurationError):
            return
        connector = self.connector
        where = connector._where()
        if isinstance(error, mongo_errors.ServerSelectionTimeoutError | mongo_errors.AutoReconnect):
            raise connector._error(
                f"cannot reach MongoDB for {where}: {_first_line(error)}",
                hint="check the host in params.uri and that the server is up and reachable",
            ) from None
        code = getattr(error, "code", None)
        if code == AUTH_FAILED:
            raise connector._error(
                f"MongoDB refused the credentials for {where}",
                hint="check the user and password in params.uri (and authSource)",
            ) from None
        if code == UNAUTHORIZED:
            raise connector._error(
                f"the MongoDB user may not read {where}: {_first_line(error)}",
                hint="grant the user the read role on the database",
            ) from None
        raise connector._error(
            f"MongoDB failed on {where}: {_first_line(error)}",
            hint=NOT_FOUND_HINT if isinstance(error, mongo_errors.InvalidName) else None,
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).split(", Timeout:")[0]
    return text.splitlines()[0] if text else type(error).__name__


def _secrets(uri: str) -> list[str]:
    """The URI's password, as written and percent-decoded (drivers may show either)."""
    match = USERINFO.search(uri)
    if match is None or not match.group(1):
        return []
    return sorted({match.group(1), unquote(match.group(1))}, key=len, reverse=True)
