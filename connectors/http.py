"""JSON HTTP APIs as tables: one GET per page, one record batch per page.

The connector reads a REST endpoint that answers with JSON, finds the records with a small
JSONPath, and follows the API's pagination (Link headers, cursors, page numbers or offsets).
Pages are fetched only as the engine consumes them, so a LIMIT stops the requests early and a
large API is never held in memory at once.

The API is someone else's, so everything it sends is treated as untrusted: its shape may change
from page to page, it may loop, and its error bodies may echo our credentials back. Errors show
the request line with secret-looking query values masked and scrub every configured header
value, so a source error is safe to hand to the agent even without the process-wide redactor.

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
    retries     extra attempts on connect errors, 429 and 5xx (3)
    backoff     the first retry's delay in seconds, doubled per attempt (0.5)
    allowed_origins  other origins (scheme://host[:port]) redirects and next links may lead
                to; requests there carry no credentials. Default: none, only the URL's own
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, cast
from urllib.parse import unquote_plus

import httpx
import pyarrow as pa

from connectors.base import (
    Connector,
    DatasetSource,
    ScanRequest,
    SourceError,
    project,
)
from connectors.origins import Origin, OriginClient, parse_origins
from connectors.params import HttpParams

MASK = "***"
EXCERPT_CHARS = 200
# Waiting longer than this for one request would outlast any sensible query timeout; the request
# fails instead and the agent sees the API's own answer.
MAX_WAIT = 30.0
SECRET_PARTS = frozenset(
    {"token", "key", "secret", "password", "passwd", "signature", "sig", "auth"}
)
SECRET_FRAGMENTS = ("token", "secret", "password", "apikey", "signature", "credential")
STATUS_HINTS = {
    401: "the API refused the credentials; check the headers in params.headers",
    403: "the API refused the credentials; check the headers in params.headers",
    404: "check the URL in the dataset's from:",
    429: "the API is rate limiting this client; try again later",
}
# Connection failures and dropped keep-alive connections happen before the API did any work, so
# repeating the GET is always safe. Read timeouts are not retried: a slow API stays slow, and
# repeating would multiply the wait past the query's deadline.
RETRYABLE_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


# --- JSONPath --------------------------------------------------------------------------------

STEP = re.compile(
    r"\.\*|\[\*\]"
    r"|\.(?P<name>[^.\[\]]+)"
    r"|\[(?P<index>-?\d+)\]"
    r"|\['(?P<single>[^']*)'\]"
    r'|\["(?P<double>[^"]*)"\]'
)


@dataclass(frozen=True)
class JsonPath:
    """The JSONPath subset APIs need to point at their records: keys, indexes and wildcards.

    A step is a key (str), an index (int) or None for a wildcard. Recursive descent and filters
    are left out on purpose: a response's records live at a fixed place.
    """

    text: str
    steps: tuple[str | int | None, ...]

    def find(self, document: Any) -> list[Any]:
        matches = [document]
        for step in self.steps:
            matches = [found for match in matches for found in _step(match, step)]
        return matches


def _step(value: Any, step: str | int | None) -> list[Any]:
    if step is None:
        if isinstance(value, list):
            return value
        return list(value.values()) if isinstance(value, dict) else []
    if isinstance(step, int):
        in_range = isinstance(value, list) and -len(value) <= step < len(value)
        return [value[step]] if in_range else []
    return [value[step]] if isinstance(value, dict) and step in value else []


def parse_json_path(text: str, where: str) -> JsonPath:
    if not isinstance(text, str) or not text.startswith("$"):
        raise SourceError(f"{where} must be a JSONPath starting with '$', e.g. $.data")
    steps: list[str | int | None] = []
    position = 1
    while position < len(text):
        match = STEP.match(text, position)
        if match is None:
            raise SourceError(
                f"{where} '{text}' is not supported at position {position}; "
                "use $, $.a.b, $.a[0], $.a[*] or $['key with space']"
            )
        steps.append(_step_of(match))
        position = match.end()
    return JsonPath(text, tuple(steps))


def _step_of(match: re.Match[str]) -> str | int | None:
    if match.group("index") is not None:
        return int(match.group("index"))
    for group in ("name", "single", "double"):
        if match.group(group) is not None:
            return match.group(group)
    return None


# --- Pagination ------------------------------------------------------------------------------


class Pager(Protocol):
    """How to ask for the first page and how to find the next one from a page's response."""

    label: str

    def first(self, url: httpx.URL) -> httpx.URL: ...

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None: ...


@dataclass(frozen=True)
class SinglePage:
    label: ClassVar[str] = "no pagination"

    def first(self, url: httpx.URL) -> httpx.URL:
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        return None


@dataclass(frozen=True)
class LinkPages:
    """RFC 8288 `Link: <url>; rel="next"`; the next URL already carries every parameter.

    The default: an API that says there is a next page gets asked for it, because stopping
    at the first page would return a partial table without a word.
    """

    label: ClassVar[str] = "link pagination"

    def first(self, url: httpx.URL) -> httpx.URL:
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        target = next_link(response)
        return url.join(target) if target else None


# RFC 8288: link-value = "<" URI-Reference ">" *( ";" link-param ), link-param values
# quoted or not; link-values are separated by commas (outside quotes).
LINK_PARAM = r'\s*;\s*([^;,=\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,]*))?'
LINK_VALUE = re.compile(rf"<([^>]*)>((?:{LINK_PARAM})*)")
LINK_PARAMS = re.compile(LINK_PARAM)


def next_link(response: httpx.Response) -> str | None:
    """The target of the response's `rel="next"` link (RFC 8288), from every Link header.

    `rel` holds a space-separated list of relation types compared without regard to case, so
    `rel="next last"` and `REL=Next` count; a link with an `anchor` is about another resource.
    """
    for header in response.headers.get_list("link"):
        for match in LINK_VALUE.finditer(header):
            params = {
                name.lower(): value.strip().strip('"')
                for name, value in LINK_PARAMS.findall(match.group(2))
            }
            if "anchor" not in params and "next" in params.get("rel", "").lower().split():
                return match.group(1).strip()
    return None


@dataclass(frozen=True)
class CursorPages:
    label: ClassVar[str] = "cursor pagination"
    param: str
    path: JsonPath

    def first(self, url: httpx.URL) -> httpx.URL:
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        found = self.path.find(body)
        cursor = found[0] if found else None
        if cursor is None or cursor == "" or isinstance(cursor, list | dict | bool):
            return None
        return url.copy_set_param(self.param, str(cursor))


@dataclass(frozen=True)
class PageNumbers:
    """`?page=N`; without a page size only an empty page ends the scan."""

    label: ClassVar[str] = "page pagination"
    param: str
    size_param: str | None
    size: int | None
    start: int

    def first(self, url: httpx.URL) -> httpx.URL:
        url = url.copy_set_param(self.param, self.start)
        if self.size_param is not None and self.size is not None:
            url = url.copy_set_param(self.size_param, self.size)
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        if self.size is not None and count < self.size:
            return None
        return url.copy_set_param(self.param, int(url.params[self.param]) + 1)


@dataclass(frozen=True)
class Offsets:
    label: ClassVar[str] = "offset pagination"
    param: str
    limit_param: str
    size: int
    start: int

    def first(self, url: httpx.URL) -> httpx.URL:
        return url.copy_set_param(self.param, self.start).copy_set_param(
            self.limit_param, self.size
        )

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        if count < self.size:
            return None
        return url.copy_set_param(self.param, int(url.params[self.param]) + self.size)


PAGINATION_KEYS: dict[str, tuple[str, ...]] = {
    "none": (),
    "link": (),
    "cursor": ("cursor_param", "cursor_path"),
    "page": ("page_param", "size_param", "size", "start"),
    "offset": ("offset_param", "limit_param", "size", "start"),
}


def parse_pagination(spec: Any) -> Pager:
    """A pager from `params.pagination`: a mapping with `type`, or just the type's name."""
    if spec is None:
        return LinkPages()
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise SourceError("params.pagination must be a mapping like {type: link}")
    kind = spec.get("type")
    if kind not in PAGINATION_KEYS:
        raise SourceError(
            f"params.pagination.type must be one of {', '.join(PAGINATION_KEYS)}, not {kind!r}"
        )
    _check_keys(spec, ("type", *PAGINATION_KEYS[kind]), "params.pagination")
    return _pager(kind, spec)


def _pager(kind: str, spec: Mapping[str, Any]) -> Pager:
    """Build the pager of an already validated `kind`; each key has the API-usual default."""
    where = "params.pagination"
    if kind == "none":
        return SinglePage()
    if kind == "link":
        return LinkPages()
    if kind == "cursor":
        return CursorPages(
            param=_name(spec.get("cursor_param", "cursor"), f"{where}.cursor_param"),
            path=parse_json_path(spec.get("cursor_path", "$.next_cursor"), f"{where}.cursor_path"),
        )
    if kind == "page":
        size_param = spec.get("size_param")
        size = spec.get("size")
        if size_param is not None and size is None:
            raise SourceError(f"{where}.size is required with {where}.size_param")
        return PageNumbers(
            param=_name(spec.get("page_param", "page"), f"{where}.page_param"),
            size_param=None if size_param is None else _name(size_param, f"{where}.size_param"),
            size=None if size is None else _integer(size, f"{where}.size", minimum=1),
            start=_integer(spec.get("start", 1), f"{where}.start", minimum=0),
        )
    return Offsets(
        param=_name(spec.get("offset_param", "offset"), f"{where}.offset_param"),
        limit_param=_name(spec.get("limit_param", "limit"), f"{where}.limit_param"),
        size=_integer(spec.get("size", 100), f"{where}.size", minimum=1),
        start=_integer(spec.get("start", 0), f"{where}.start", minimum=0),
    )


# --- Params ----------------------------------------------------------------------------------


def _check_keys(given: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    unknown = sorted(str(key) for key in given if key not in known)
    if unknown:
        raise SourceError(
            f"unknown {where} key(s): {', '.join(unknown)}; known keys: {', '.join(known)}"
        )


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SourceError(f"{where} must be an integer >= {minimum}, not {value!r}")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SourceError(f"{where} must be a non-empty query parameter name")
    return value


# --- Secrets in messages ---------------------------------------------------------------------


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    parts = re.split(r"[^a-z0-9]+", lowered)
    return any(part in SECRET_PARTS for part in parts) or any(
        fragment in lowered for fragment in SECRET_FRAGMENTS
    )


def redact_url(url: httpx.URL) -> str:
    """The URL to show in messages: no userinfo, and secret-looking query values masked."""
    base = str(url.copy_with(userinfo=b"", query=None, fragment=None))
    query = url.query.decode("ascii", "replace")
    if not query:
        return base
    shown = []
    for pair in query.split("&"):
        name, sep, _ = pair.partition("=")
        shown.append(f"{name}={MASK}" if sep and looks_secret(unquote_plus(name)) else pair)
    return f"{base}?{'&'.join(shown)}"


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def secrets_of(headers: Mapping[str, str], url: httpx.URL) -> tuple[str, ...]:
    """Every configured value that could be a credential, longest first so none leaks partly.

    All header values count, because headers are where APIs take credentials and a custom
    header's name says nothing reliable; the bare token of `Bearer <token>` counts on its own
    because error bodies often echo just the token.
    """
    values: set[str] = set()
    for value in headers.values():
        values.add(value)
        values.update(value.split()[-1:])
    values.update(value for name, value in url.params.multi_items() if looks_secret(name))
    if url.password:
        values.add(url.password)
    return tuple(sorted((v for v in values if len(v) >= 4), key=len, reverse=True))


def excerpt(text: str) -> str:
    collapsed = " ".join(text.split())
    if len(collapsed) <= EXCERPT_CHARS:
        return collapsed
    return collapsed[:EXCERPT_CHARS] + "…"


# --- Arrow -----------------------------------------------------------------------------------

CONVERSION_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def infer_schema(records: Sequence[Mapping[str, Any]]) -> pa.Schema:
    """The schema of one page, unified across its records rather than taken from the first.

    Every field of every record is kept (absent ones become nulls), and Arrow unifies the
    values of a column the way JSON readers do: int and float make double, objects make structs
    whose fields are the union of their keys.
    """
    names = dict.fromkeys(name for record in records for name in record)
    return pa.schema(
        [pa.field(name, _infer_type([record.get(name) for record in records])) for name in names]
    )


def _infer_type(values: list[Any]) -> pa.DataType:
    """A column's type; values Arrow cannot unify (say, 1 and "a") make a text column."""
    try:
        inferred = pa.array(values).type
    except CONVERSION_ERRORS:
        return pa.string()
    return _settled(inferred)


def _settled(data_type: pa.DataType) -> pa.DataType:
    """Replace types that later pages could not fit into with text.

    A column (or struct field, or list item) that is null on the first page, or an empty
    object, says nothing about what comes next; text accepts any JSON value.
    """
    if pa.types.is_null(data_type):
        return pa.string()
    if pa.types.is_struct(data_type):
        if data_type.num_fields == 0:
            return pa.string()
        return pa.struct([field.with_type(_settled(field.type)) for field in data_type])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_settled(data_type.value_type)))
    return data_type


def to_batch(records: Sequence[Mapping[str, Any]], schema: pa.Schema, page: int) -> pa.RecordBatch:
    """Fit a page into the dataset's schema: absent fields are null, extra fields dropped."""
    columns = [
        _column([record.get(field.name) for record in records], field, page) for field in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _column(values: list[Any], field: pa.Field, page: int) -> pa.Array:
    """Convert by inferring then casting safely, so 2.0 fits a bigint but 2.5 is an error.

    Converting straight to the target type would silently truncate floats into integers.
    A safe cast also turns ISO-8601 strings into timestamps and numeric strings into numbers,
    which is what a declared schema over JSON usually needs. A column Arrow cannot infer as a
    whole mixes JSON types, so its values are fitted one by one to name the one that fails.
    """
    try:
        return _cast(pa.array(values), field.type)
    except CONVERSION_ERRORS:
        return pa.concat_arrays([_value(value, field, page) for value in values])


def _value(value: Any, field: pa.Field, page: int) -> pa.Array:
    try:
        return _cast(pa.array([value]), field.type)
    except CONVERSION_ERRORS:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            return pa.array([_text(value)], type=field.type)
    raise SourceError(
        f"field '{field.name}' on page {page}: value {excerpt(json.dumps(value))} does not "
        f"fit type {field.type}",
        hint="declare the column with a type that fits in the dataset's columns:",
    )


def _cast(array: pa.Array, data_type: pa.DataType) -> pa.Array:
    return array if array.type == data_type else array.cast(data_type, safe=True)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def records_of(body: Any, path: JsonPath) -> list[dict[str, Any]] | None:
    """The page's records, or None when the path matched nothing at all.

    A matched list contributes its items and a matched object is one record; a null match is
    an empty page, which is how many APIs answer past the end. Scalars become `value` rows.
    """
    matches = path.find(body)
    if not matches:
        return None
    records: list[Any] = []
    for match in matches:
        if isinstance(match, list):
            records.extend(match)
        elif match is not None:
            records.append(match)
    return [record if isinstance(record, dict) else {"value": record} for record in records]


def shape_hint(body: Any) -> str:
    if isinstance(body, dict):
        keys = list(body)
        shown = ", ".join(keys[:20]) + (", …" if len(keys) > 20 else "")
        return f"the response's top-level keys are: {shown or '(none)'}"
    if isinstance(body, list):
        return f"the response is a JSON array of {len(body)} items; try json_path: $"
    return f"the response is a JSON {type(body).__name__}"


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def base_url(location: str, query: Mapping[str, Any]) -> httpx.URL:
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL as error:
        raise SourceError(f"the dataset's from: is not a valid URL ({error})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise SourceError("the dataset's from: must be an http:// or https:// URL with a host")
    return url.copy_merge_params(dict(query)) if query else url


# --- Connector -------------------------------------------------------------------------------


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
        self._url = base_url(source.location, self.options.query)
        self._secrets = secrets_of(self.options.headers, self._url)
        self._client = OriginClient(
            self._url,
            credentials=self.options.headers,
            headers={"Accept": "application/json"},
            timeout=self.timeout,
            refuse=self._off_origin,
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
        self._client.close()

    def _infer_schema(self) -> pa.Schema:
        pages = self._pages()
        try:
            records = next(pages)
        finally:
            pages.close()
        if not records:
            raise self._error(
                f"GET {redact_url(self._url)} returned no records to infer a schema from",
                hint="declare the dataset's columns: in sidecar.yaml",
            )
        return infer_schema(records)

    def _batches(self, schema: pa.Schema, limit: int | None) -> Iterator[pa.RecordBatch]:
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
            raise self._error(str(error), hint=error.hint) from None

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        """Fetch pages lazily, refusing to follow a loop or to run past max_pages.

        An empty page always ends the scan, whatever the pagination, because many APIs keep
        returning a next link or cursor one page past the end.
        """
        pager = self.pager
        url = pager.first(self._url)
        seen = {str(url)}
        while True:
            response = self._get(url)
            body = self._json(response, url)
            records = self._records(body, url)
            yield records
            following = pager.next(url, response, body, len(records)) if records else None
            if following is None:
                return
            if str(following) in seen:
                raise self._error(
                    f"the API sent the same next page twice ({redact_url(following)}); "
                    "stopped to avoid an endless loop",
                    hint="check params.pagination against the API's documentation",
                )
            if len(seen) >= self.options.max_pages:
                raise self._error(
                    f"stopped after params.max_pages={self.options.max_pages} pages of "
                    f"{redact_url(self._url)} with more pages left; the result would be partial",
                    hint="raise params.max_pages, or add a LIMIT to the query",
                )
            seen.add(str(following))
            url = following

    def _get(self, url: httpx.URL) -> httpx.Response:
        attempt = 0
        while True:
            final = attempt >= self.options.retries
            try:
                response = self._client.get(url)
            except RETRYABLE_ERRORS as error:
                if final:
                    raise self._transport_error(error, url) from None
                time.sleep(self._backoff(attempt))
            except httpx.HTTPError as error:
                raise self._transport_error(error, url) from None
            else:
                wait = None if final else self._retry_wait(response, attempt)
                if wait is None:
                    return self._checked(response, url)
                time.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential, with jitter so that many sidecars behind one API do not retry in step."""
        delay = min(MAX_WAIT, self.options.backoff * 2**attempt)
        return random.uniform(delay / 2, delay)

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before retrying this response, or None to take it as it is."""
        if response.status_code != 429 and response.status_code < 500:
            return None
        asked = retry_after(response.headers.get("Retry-After"))
        if asked is None:
            return self._backoff(attempt)
        return asked if asked <= MAX_WAIT else None

    def _checked(self, response: httpx.Response, url: httpx.URL) -> httpx.Response:
        if response.status_code < 400:
            return response
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        body = excerpt(response.text)
        code = response.status_code
        raise self._error(
            f"GET {redact_url(url)} failed with {status}" + (f": {body}" if body else ""),
            hint=STATUS_HINTS.get(code, "the API failed; try again later" if code >= 500 else None),
        )

    def _json(self, response: httpx.Response, url: httpx.URL) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise self._error(
                f"GET {redact_url(url)} did not return valid JSON ({kind}): "
                f"{excerpt(response.text) or '(empty body)'}"
            ) from None

    def _records(self, body: Any, url: httpx.URL) -> list[dict[str, Any]]:
        records = records_of(body, self.records)
        if records is None:
            raise self._error(
                f"params.json_path {self.records.text} matched nothing in the response "
                f"of GET {redact_url(url)}",
                hint=shape_hint(body),
            )
        return records

    def _transport_error(self, error: httpx.HTTPError, url: httpx.URL) -> SourceError:
        shown = redact_url(url)
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return self._error(
                f"GET {shown} failed: cannot connect to {url.host} ({error})",
                hint="check that the API is reachable from the sidecar",
            )
        if isinstance(error, httpx.TimeoutException):
            return self._error(
                f"GET {shown} timed out after {self.timeout:g}s",
                hint="the API is slow; raise params.timeout",
            )
        return self._error(f"GET {shown} failed: {type(error).__name__}: {error}")

    def _off_origin(self, url: httpx.URL) -> SourceError:
        home = self._client.home
        return self._error(
            f"the API sent the sidecar to {redact_url(url)}; refused because credentials for "
            f"{home} must not go to another origin ({Origin.of(url)})",
            hint="if that is the right API, use its URL in the dataset's from:; to follow it "
            "without credentials, list its origin in params.allowed_origins",
        )

    def _secret_query(self, name: str, value: str) -> bool:
        """A query value that must not follow the API elsewhere: configured or secret-looking."""
        configured = self.options.query.get(name)
        return looks_secret(name) or (configured is not None and str(configured) == value)

    def _error(self, message: str, hint: str | None = None) -> SourceError:
        """Build every error here, so none can carry a configured secret to the agent."""
        return SourceError(
            scrub(message, self._secrets),
            hint=None if hint is None else scrub(hint, self._secrets),
        )
