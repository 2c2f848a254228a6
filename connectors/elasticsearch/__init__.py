"""`elasticsearch:index` datasets: an index, alias or pattern (`logs-*`) as a table.

The schema comes from the mappings (`mapping.py`), plus `_id`, `_index` and `_score`. A scan
is a search with the pushed filters as a bool query, the projection as `_source` includes and
the limit as `size`; results deeper than one page are read with search_after on a point in
time where the server has one (Elasticsearch's `_pit`), else with a scroll, so a large index
streams page by page and every page is a consistent snapshot.

Full-text relevance: `WHERE message @@ 'timeout acquiring'` (PostgreSQL's text-search
operator) or `MATCH(message) AGAINST ('timeout acquiring')` becomes a `match` query, scored,
and `_score` holds each row's relevance, so `ORDER BY _score DESC LIMIT 10` is a top-10
search. Unlike other filters the engine cannot re-check a match: it needs the engine to treat
an accepted match as applied (see `accepts_filter`).

Params:

    hosts        the cluster URL, or a list of them (required)
    api_key      an API key (a secret), or username and password for basic auth
    username, password
    ca_certs     CA bundle for https; verify_certs: false turns verification off
    verify_certs
    node_class   the official client's HTTP implementation (urllib3 by default, or requests)
    paging       auto (point in time if the server has it, else scroll), pit or scroll
    page_size    hits per request and per record batch (1000)
    keep_alive   how long the server keeps a point in time or scroll between pages (1m)
    flatten      object fields as dotted columns (`host.name`) instead of structs
    timeout      per request (the source timeout)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import elastic_transport
import elasticsearch
import pyarrow as pa
from sqlglot import exp

from connectors import documents, options
from connectors.base import DatasetSource, ScanRequest, SourceError
from connectors.documents import DocumentConnector, Match
from connectors.elasticsearch.mapping import Mapped, QueryCompiler, declared, from_mappings
from connectors.params import ElasticsearchParams

# index.max_result_window: a single search may not reach past this many hits.
MAX_WINDOW = 10_000
NO_PIT_STATUSES = (400, 404, 405)


@dataclass(frozen=True)
class Search:
    """One search as planned: the body, and how many hits to read."""

    index: str
    body: dict[str, Any]
    limit: int | None
    sort: list[Any] = field(default_factory=list)

    def text(self, paging: str) -> str:
        shown = {"_source" if k == "source" else k: v for k, v in self.body.items()}
        if self.sort:
            shown["sort"] = self.sort
        how = "one page" if self.single else paging
        return f"POST /{self.index}/_search {json.dumps(shown, default=str)} ({how})"

    @property
    def single(self) -> bool:
        return self.limit is not None and self.limit <= MAX_WINDOW


def _auth(params: ElasticsearchParams) -> dict[str, Any]:
    auth: dict[str, Any] = {}
    if params.api_key:
        auth["api_key"] = params.api_key
    if params.username is not None:
        auth["basic_auth"] = (params.username, params.password or "")
    if params.ca_certs is not None:
        auth["ca_certs"] = params.ca_certs
    if params.verify_certs is not None:
        auth["verify_certs"] = params.verify_certs
    return auth


class ElasticsearchConnector(DocumentConnector[Search]):
    """An index, alias or index pattern; see the module docstring for the params."""

    schemes: ClassVar[tuple[str, ...]] = ("elasticsearch",)
    supports_limit: ClassVar[bool] = True
    supports_order: ClassVar[bool] = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self.options = cast(ElasticsearchParams, self.params)
        if not self.options.hosts:
            raise SourceError(
                "params.hosts is required: the cluster URL or a list of URLs",
                hint="e.g. hosts: https://search.internal:9200",
            )
        hosts = self.options.hosts
        self.hosts = [hosts] if isinstance(hosts, str) else hosts
        self.page_size = min(self.options.page_size, MAX_WINDOW)
        self.timeout = self.options.timeout or source.timeout
        self.index = source.location
        if not self.index:
            raise SourceError(
                "from: elasticsearch: needs an index, alias or pattern",
                hint="e.g. from: elasticsearch:logs-*",
            )
        self._secrets = [s for s in (self.options.api_key, self.options.password) if s]
        self._client: elasticsearch.Elasticsearch | None = None
        self._mapped: Mapped | None = None
        self._pit_missing = self.options.paging == "scroll"
        self._lock = threading.Lock()

    # --- Connector -------------------------------------------------------------------------

    def schema(self) -> pa.Schema:
        return self._mapping().schema

    def describe(self, request: ScanRequest) -> str:
        paging = "scroll" if self._pit_missing else "point in time, else scroll"
        return f"elasticsearch {self.plan(request).text(paging)}"

    def row_count(self) -> int | None:
        try:
            return int(self._call(lambda es: es.count(index=self.index))["count"])
        except (SourceError, KeyError, TypeError, ValueError):
            return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # --- Planning --------------------------------------------------------------------------

    def plan(self, request: ScanRequest) -> Search:
        mapped = self._mapping()
        scoring, filters = [], []
        for predicate in request.filters:
            query = self.translate_filter(predicate)
            (scoring if "match" in query or "multi_match" in query else filters).append(query)
        body: dict[str, Any] = {"query": _bool(scoring, filters)}
        names = list(request.projection) if request.projection is not None else mapped.schema.names
        body["source"] = self._includes(names)
        limit = request.limit
        sort = self._sort(request.order_by)
        if sort is None:
            sort, limit = [], None
        if "_score" in names:
            body["track_scores"] = True
        if limit is not None and limit <= MAX_WINDOW:
            body["size"] = limit
        return Search(self.index, body, limit, sort)

    def translate_filter(self, predicate: exp.Expression) -> dict[str, Any]:
        """Exact filters, and full-text matches: those the engine must take as applied,
        since only the search engine can tell which documents match."""
        mapped = self._mapping()
        compiler = QueryCompiler(mapped.schema, mapped.columns)
        node = documents.condition(predicate, mapped.schema)
        return compiler.match(node) if isinstance(node, Match) else compiler.compile(node)

    def _includes(self, names: Sequence[str]) -> list[str] | bool:
        columns = self._mapping().columns
        paths = [columns[name].path for name in names if not columns[name].metadata]
        return paths or False

    def _sort(self, keys: Sequence[exp.Ordered]) -> list[Any] | None:
        mapped = self._mapping()
        compiler = QueryCompiler(mapped.schema, mapped.columns)
        sort = []
        for key in keys:
            if not isinstance(key.this, exp.Column):
                return None
            spec = compiler.sort_key(
                key.this.name, bool(key.args.get("desc")), bool(key.args.get("nulls_first"))
            )
            if spec is None:
                return None
            sort.append(spec)
        return sort

    # --- Reading ---------------------------------------------------------------------------

    def read(self, schema: pa.Schema, search: Search) -> Iterator[pa.RecordBatch]:
        if search.limit == 0:
            return
        if search.single:
            body = {**search.body, "sort": search.sort} if search.sort else search.body
            response = self._call(lambda es: es.search(index=self.index, **body))
            hits = response["hits"]["hits"]
            if hits:
                yield self._batch(hits, schema)
            return
        pages = self._pit_pages(search) if not self._pit_missing else None
        if pages is None:
            pages = self._scroll_pages(search)
        remaining = search.limit
        for hits in pages:
            hits = hits if remaining is None else hits[:remaining]
            if hits:
                yield self._batch(hits, schema)
            if remaining is not None:
                remaining -= len(hits)
                if remaining <= 0:
                    pages.close()
                    return

    def _pit_pages(self, search: Search) -> Iterator[list[dict[str, Any]]] | None:
        """Pages read with search_after on a point in time, or None if the server has none."""
        keep_alive = self.options.keep_alive
        try:
            opened = self._client_().open_point_in_time(index=self.index, keep_alive=keep_alive)
        except elasticsearch.ApiError as error:
            if error.status_code in NO_PIT_STATUSES and self.options.paging == "auto":
                self._pit_missing = True
                return None
            raise self._translate(error) from None
        except elastic_transport.TransportError as error:
            raise self._translate(error) from None
        return self._after(search, str(opened["id"]))

    def _after(self, search: Search, pit: str) -> Iterator[list[dict[str, Any]]]:
        """search_after over the point in time, `_shard_doc` breaking ties so no hit is read
        twice or skipped; the count read is checked against the total at the end."""
        body = {
            **search.body,
            "size": self.page_size,
            "sort": [*search.sort, {"_shard_doc": "asc"}],
            "track_total_hits": True,
        }
        read, total, after = 0, None, None
        try:
            while True:
                page = {**body, "pit": {"id": pit, "keep_alive": self.options.keep_alive}}
                if after is not None:
                    page["search_after"] = after
                response = self._call(lambda es, page=page: es.search(**page))
                pit = str(response.get("pit_id") or pit)
                hits = response["hits"]["hits"]
                if total is None:
                    total = int(response["hits"]["total"]["value"])
                    body["track_total_hits"] = False
                if not hits:
                    break
                read += len(hits)
                yield hits
                after = hits[-1]["sort"]
            if read != total:
                raise self._error(
                    f"paging {self.index} with a point in time read {read} of {total} hits",
                    hint="set params.paging: scroll for this source",
                )
        finally:
            self._quietly(lambda es: es.close_point_in_time(id=pit))

    def _scroll_pages(self, search: Search) -> Iterator[list[dict[str, Any]]]:
        body = {**search.body, "size": self.page_size, "sort": search.sort or ["_doc"]}
        keep_alive = self.options.keep_alive
        response = self._call(lambda es: es.search(index=self.index, scroll=keep_alive, **body))
        scroll_id = response.get("_scroll_id")
        try:
            while True:
                hits = response["hits"]["hits"]
                if not hits:
                    return
                yield hits
                current = str(scroll_id)
                response = self._call(
                    lambda es, current=current: es.scroll(scroll_id=current, scroll=keep_alive)
                )
                scroll_id = response.get("_scroll_id") or scroll_id
        finally:
            if scroll_id:
                self._quietly(lambda es: es.clear_scroll(scroll_id=str(scroll_id)))

    def _batch(self, hits: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
        try:
            return documents.to_batch(hits, schema, self._lookup)
        except SourceError as error:
            raise self._error(f"{self.index}: {error}", hint=error.hint) from None

    def _lookup(self, hit: Mapping[str, Any], name: str) -> Any:
        """A column's value from the hit: metadata, or its path in `_source` (nested, or a
        dotted key as some documents are written)."""
        column = self._mapping().columns[name]
        if column.metadata:
            return hit.get(name)
        source = hit.get("_source") or {}
        value: Any = source
        for step in column.path.split("."):
            if not isinstance(value, Mapping):
                value = None
                break
            value = value.get(step)
        if value is None:
            value = source.get(column.path)
        return _millis(value) if column.es_type == "date" and value is not None else value

    # --- Mapping, client, errors -----------------------------------------------------------

    def _mapping(self) -> Mapped:
        with self._lock:
            if self._mapped is None:
                response = self._call(lambda es: es.indices.get_mapping(index=self.index))
                properties = [
                    (body.get("mappings") or {}).get("properties") or {}
                    for body in response.body.values()
                ]
                if not properties:
                    raise self._error(f"no index matches {self.index}", hint=self._indices_hint())
                mapped = from_mappings(properties, flatten=self.options.flatten)
                given = self.source.declared_schema
                self._mapped = declared(given, mapped) if given is not None else mapped
            return self._mapped

    def _client_(self) -> elasticsearch.Elasticsearch:
        if self._client is None:
            extra: dict[str, Any] = {}
            if self.options.node_class is not None:
                extra["node_class"] = self.options.node_class
            try:
                self._client = elasticsearch.Elasticsearch(
                    self.hosts,
                    request_timeout=self.timeout,
                    max_retries=1,
                    retry_on_timeout=False,
                    **_auth(self.options),
                    **extra,
                )
            except (ValueError, TypeError) as error:
                raise self._error(
                    f"cannot set up the Elasticsearch client: {error}",
                    hint="check params.hosts and params.node_class",
                ) from None
        return self._client

    def _call(self, action: Any) -> Any:
        try:
            return action(self._client_())
        except (elasticsearch.ApiError, elastic_transport.TransportError) as error:
            raise self._translate(error) from None

    def _quietly(self, action: Any) -> None:
        """Release server-side state; a failure here must not hide the scan's own outcome."""
        try:
            action(self._client_())
        except (elasticsearch.ApiError, elastic_transport.TransportError):
            return

    def _translate(self, error: Exception) -> SourceError:
        if isinstance(error, elasticsearch.NotFoundError):
            return self._error(
                f"index {self.index} does not exist: {_reason(error)}", hint=self._indices_hint()
            )
        if isinstance(error, elasticsearch.AuthenticationException):
            return self._error(
                f"Elasticsearch refused the credentials for {self.index}",
                hint="check params.api_key, or params.username and params.password",
            )
        if isinstance(error, elasticsearch.AuthorizationException):
            return self._error(
                f"the Elasticsearch user may not read {self.index}: {_reason(error)}",
                hint="grant the read privilege on the index to this user or key",
            )
        if isinstance(error, elasticsearch.ApiError):
            return self._error(f"Elasticsearch failed on {self.index}: {_reason(error)}")
        return self._error(
            f"cannot reach Elasticsearch for {self.index}: {type(error).__name__}",
            hint="check params.hosts and that the cluster is up and reachable",
        )

    def _indices_hint(self) -> str | None:
        try:
            names = sorted(self._client_().indices.get_alias(index="*").body)
        except (elasticsearch.ApiError, elastic_transport.TransportError, SourceError):
            return "check the index in from: (elasticsearch:<index or pattern>)"
        visible = [name for name in names if not name.startswith(".")]
        return options.close_names(self.index, visible, "indices")

    def _error(self, message: str, hint: str | None = None) -> SourceError:
        return SourceError(
            options.scrub(message, self._secrets),
            hint=None if hint is None else options.scrub(hint, self._secrets),
        )


def _millis(value: Any) -> Any:
    """A `date` is indexed to the millisecond, so that is the value the table shows: a finer
    one from `_source` would compare differently in SQL than in the pushed query."""
    try:
        when = documents.instant(value)
    except documents.Misfit:
        return value
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _bool(scoring: list[dict[str, Any]], filters: list[dict[str, Any]]) -> dict[str, Any]:
    if not scoring and not filters:
        return {"match_all": {}}
    clauses: dict[str, Any] = {}
    if scoring:
        clauses["must"] = scoring
    if filters:
        clauses["filter"] = filters
    return {"bool": clauses}


def _reason(error: elasticsearch.ApiError) -> str:
    info = error.info if isinstance(error.info, Mapping) else {}
    detail = info.get("error") if isinstance(info, Mapping) else None
    if isinstance(detail, Mapping):
        root = (detail.get("root_cause") or [detail])[0]
        return f"{root.get('type', 'error')}: {root.get('reason', '')}".strip()
    return str(error.message or error.status_code)
