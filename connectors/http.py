"""JSON HTTP APIs as tables: one GET per page, one record batch per page.

The connector reads a REST endpoint that answers with JSON, finds the records with a small
JSONPath, and follows the API's pagination (Link headers, cursors, page numbers or offsets).
Pages are fetched only as the engine consumes them, so a LIMIT stops the requests early and a
large API is never held in memory at once.

The API is someone else's, so everything it sends is treated as untrusted: its shape may change
from page to page, it may loop, and its error bodies may echo our credentials back. The HTTP
layer in `connectors.web` (shared with the GitHub connector) holds all of that: the client and
its origin rule, retries, pagers, JSONPath, redaction and schema inference; this module only
configures it from the dataset's params.

Params (all optional):

    json_path   where the records are in each response: $, $.a.b, $.a[0], $.a[*], $['a b']
    headers     request headers, e.g. {Authorization: "Bearer ${env:TOKEN}"}
    query       extra query parameters
    pagination  {type: link} | {type: cursor, cursor_param, cursor_path}
                | {type: page, page_param, size_param, size, start}
                | {type: offset, offset_param, limit_param, size, start} | none; default:
                link (an RFC 8288 `rel="next"` link is followed when the API sends one)
    max_pages   pages to follow before failing rather than returning a partial result (100)
    timeout     per request, seconds or a duration like 10s (the source timeout)
    retries     extra attempts on connect errors, 429, 5xx and rate limits (3); a wait the API
                asks for (Retry-After in seconds or as a date, X-RateLimit-Reset) is honoured
                up to 30s, and 60s in all
    backoff     the first retry's delay in seconds, doubled per attempt (0.5)
    allowed_origins  other origins (scheme://host[:port]) redirects and next links may lead
                to; requests there carry no credentials. Default: none, only the URL's own
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pyarrow as pa

from connectors.base import Connector, DatasetSource, ScanRequest, SourceError, project
from connectors.options import looks_secret
from connectors.params import HttpParams
from connectors.web.api import JsonApi
from connectors.web.client import parse_origins, web_url
from connectors.web.jsonpath import parse_json_path
from connectors.web.pages import parse_pagination
from connectors.web.records import infer_schema, records_of, shape_hint, to_batch
from connectors.web.redact import redact_url, secrets_of
from connectors.web.retry import RetryPolicy


class HttpConnector(Connector):
    """A JSON API endpoint as a table; see the module docstring for the params."""

    schemes = ("http", "https")
    supports_limit = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self.options = cast(HttpParams, self.params)
        self.records = parse_json_path(self.options.json_path, "params.json_path")
        self.pager = parse_pagination(self.options.pagination)
        self.timeout = self.options.timeout or source.timeout
        self._url = web_url(source.location, self.options.query)
        self.api = JsonApi(
            self._url,
            timeout=self.timeout,
            policy=RetryPolicy(attempts=self.options.retries + 1, backoff=self.options.backoff),
            credentials=self.options.headers,
            secrets=secrets_of(self.options.headers, self._url),
            allowed=parse_origins(self.options.allowed_origins, "params.allowed_origins"),
            secret_query=self._secret_query,
        )
        self._schema = source.declared_schema
        self._schema_lock = threading.Lock()

    def schema(self) -> pa.Schema:
        with self._schema_lock:
            if self._schema is None:
                self._schema = self._infer_schema()
            return self._schema

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        schema = project(self.schema(), request.projection)
        return pa.RecordBatchReader.from_batches(schema, self._batches(schema, request.limit))

    def describe(self, request: ScanRequest) -> str:
        pager = self.pager
        text = f"GET {redact_url(pager.first(self._url))} ({pager.label})"
        return text if request.limit is None else f"{text} limit={request.limit}"

    def close(self) -> None:
        self.api.close()

    def _infer_schema(self) -> pa.Schema:
        pages = self._pages()
        try:
            records = next(pages)
        finally:
            pages.close()
        if not records:
            raise self.api.error(
                f"GET {redact_url(self._url)} returned no records to infer a schema from",
                hint="declare the dataset's columns: in sidecar.yaml",
            )
        return infer_schema(records)

    def _batches(self, schema: pa.Schema, limit: int | None) -> Iterator[pa.RecordBatch]:
        """One batch per page; records past the limit are never converted (nor requested)."""
        remaining = limit
        if remaining == 0:
            return
        for number, page in enumerate(self._pages(), start=1):
            records = page if remaining is None else page[:remaining]
            if records:
                yield self._batch(records, schema, number)
            if remaining is not None:
                remaining -= len(records)
                if remaining == 0:
                    return

    def _batch(self, records: list[dict[str, Any]], schema: pa.Schema, page: int) -> pa.RecordBatch:
        try:
            return to_batch(records, schema, page)
        except SourceError as error:
            raise self.api.error(str(error), hint=error.hint) from None

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        first = self.pager.first(self._url)
        return self.api.pages(first, self.pager, self.options.max_pages, self._records)

    def _records(self, body: Any, url: httpx.URL) -> list[dict[str, Any]]:
        records = records_of(body, self.records)
        if records is None:
            raise self.api.error(
                f"params.json_path {self.records.text} matched nothing in the response "
                f"of GET {redact_url(url)}",
                hint=shape_hint(body),
            )
        return records

    def _secret_query(self, name: str, value: str) -> bool:
        """A query value that must not follow the API elsewhere: configured or secret-looking."""
        configured = self.options.query.get(name)
        return looks_secret(name) or (configured is not None and str(configured) == value)
