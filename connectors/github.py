"""`github:owner/repo/<issues|pulls|commits|files>` datasets over the GitHub REST API.

Each kind is a fixed table: issues and pull requests with their state, people and dates,
commits with authors and messages, and files (path, sha, size, title, content) of one ref,
for runbooks and other Markdown kept in a repository. Pages are followed through `Link`
headers only as the engine consumes them, so a LIMIT stops the requests, and a `files` scan
fetches a file's content only when the query asks for it and only for the paths that pass
its filters.

Filters are applied to every page with Arrow, so what a scan returns is exact; where the API
can narrow a listing (`state` of issues and pulls, `since` for issues updated after a time),
it is also asked to, and the exact filter still runs on what comes back.

Rate limits are respected, not fought: a response that says the hourly quota is spent waits
for its reset when that is within `rate_limit_wait`, and otherwise fails with the time it
resets at; secondary limits' `Retry-After` is honoured the same way.

Params (all optional):

    token            a token (a secret), sent as `Authorization: Bearer`
    base_url         the API root (https://api.github.com; GitHub Enterprise: https://host/api/v3)
    ref              branch, tag or sha for commits and files (the default branch)
    path             only files under this folder (files)
    include          only files whose path matches this glob, e.g. "*.md" (files)
    state            open, closed or all (issues and pulls; all)
    per_page         items per request (100, GitHub's maximum)
    max_pages        pages to follow before failing rather than returning a partial result (100)
    rate_limit_wait  longest wait for a rate limit to reset before failing (60s)
    timeout          per request (the source timeout)
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, ClassVar, cast

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from connectors import documents, predicates
from connectors.base import Connector, DatasetSource, ScanRequest, SourceError, project
from connectors.file import _title as document_title
from connectors.file import limit_batches
from connectors.http import excerpt, next_link, redact_url, retry_after, scrub
from connectors.origins import OriginClient
from connectors.params import GitHubParams

MAX_PER_PAGE = 100
KINDS = ("issues", "pulls", "commits", "files")
TIME = pa.timestamp("s", tz="UTC")
TEXTS = pa.list_(pa.string())
SCHEMAS = {
    "issues": pa.schema(
        [
            ("number", pa.int64()),
            ("title", pa.string()),
            ("state", pa.string()),
            ("author", pa.string()),
            ("labels", TEXTS),
            ("assignees", TEXTS),
            ("comments", pa.int64()),
            ("created_at", TIME),
            ("updated_at", TIME),
            ("closed_at", TIME),
            ("body", pa.string()),
            ("url", pa.string()),
        ]
    ),
    "pulls": pa.schema(
        [
            ("number", pa.int64()),
            ("title", pa.string()),
            ("state", pa.string()),
            ("author", pa.string()),
            ("draft", pa.bool_()),
            ("head", pa.string()),
            ("base", pa.string()),
            ("created_at", TIME),
            ("updated_at", TIME),
            ("closed_at", TIME),
            ("merged_at", TIME),
            ("body", pa.string()),
            ("url", pa.string()),
        ]
    ),
    "commits": pa.schema(
        [
            ("sha", pa.string()),
            ("author", pa.string()),
            ("author_name", pa.string()),
            ("author_email", pa.string()),
            ("authored_at", TIME),
            ("committer_name", pa.string()),
            ("committed_at", TIME),
            ("message", pa.string()),
            ("url", pa.string()),
        ]
    ),
    "files": pa.schema(
        [
            ("path", pa.string()),
            ("sha", pa.string()),
            ("size", pa.int64()),
            ("title", pa.string()),
            ("content", pa.string()),
        ]
    ),
}
# Columns of `files` known from the tree listing alone, before any content is fetched.
LISTING = ("path", "sha", "size")
STATUS_HINTS = {
    401: "GitHub refused the token; check params.token",
    404: "check owner/repo in from:, and that the token can see the repository",
}


def _login(item: Any) -> Any:
    return item.get("login") if isinstance(item, Mapping) else None


def _get(*path: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(item: Mapping[str, Any]) -> Any:
        value: Any = item
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else None
        return value

    return read


ROWS: dict[str, dict[str, Callable[[Mapping[str, Any]], Any]]] = {
    "issues": {
        "number": _get("number"),
        "title": _get("title"),
        "state": _get("state"),
        "author": lambda i: _login(i.get("user")),
        "labels": lambda i: [label.get("name") for label in i.get("labels") or []],
        "assignees": lambda i: [_login(user) for user in i.get("assignees") or []],
        "comments": _get("comments"),
        "created_at": _get("created_at"),
        "updated_at": _get("updated_at"),
        "closed_at": _get("closed_at"),
        "body": _get("body"),
        "url": _get("html_url"),
    },
    "pulls": {
        "number": _get("number"),
        "title": _get("title"),
        "state": _get("state"),
        "author": lambda i: _login(i.get("user")),
        "draft": _get("draft"),
        "head": _get("head", "ref"),
        "base": _get("base", "ref"),
        "created_at": _get("created_at"),
        "updated_at": _get("updated_at"),
        "closed_at": _get("closed_at"),
        "merged_at": _get("merged_at"),
        "body": _get("body"),
        "url": _get("html_url"),
    },
    "commits": {
        "sha": _get("sha"),
        "author": lambda i: _login(i.get("author")),
        "author_name": _get("commit", "author", "name"),
        "author_email": _get("commit", "author", "email"),
        "authored_at": _get("commit", "author", "date"),
        "committer_name": _get("commit", "committer", "name"),
        "committed_at": _get("commit", "committer", "date"),
        "message": _get("commit", "message"),
        "url": _get("html_url"),
    },
}


def _target(source: DatasetSource) -> tuple[str, str, str]:
    parts = source.location.strip("/").split("/")
    if len(parts) != 3 or not all(parts) or parts[2] not in KINDS:
        raise SourceError(
            f"from: github:{source.location} must be owner/repo/<{'|'.join(KINDS)}>",
            hint="e.g. from: github:acme/runbooks/files",
        )
    return parts[0], parts[1], parts[2]


class GitHubConnector(Connector):
    """Issues, pull requests, commits or files of one repository."""

    schemes: ClassVar[tuple[str, ...]] = ("github",)
    supports_limit: ClassVar[bool] = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self.options = cast(GitHubParams, self.params)
        self.owner, self.repo, self.kind = _target(source)
        self.base_url = httpx.URL(self.options.base_url)
        self.path = (self.options.path or "").strip("/")
        self.ref = self.options.ref or None
        self.include = self.options.include or None
        self.per_page = min(self.options.per_page, MAX_PER_PAGE)
        self.timeout = self.options.timeout or source.timeout
        self._secrets = [self.options.token] if self.options.token else []
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "agent-sidecar",
        }
        token = {"Authorization": f"Bearer {self.options.token}"} if self.options.token else {}
        self._client = OriginClient(
            self.base_url,
            credentials=token,
            headers=headers,
            timeout=self.timeout,
            refuse=self._off_origin,
        )
        self._ref: str | None = self.ref

    def schema(self) -> pa.Schema:
        declared = self.source.declared_schema
        return declared if declared is not None else SCHEMAS[self.kind]

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return predicates.to_arrow(predicate, self.schema()) is not None

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        schema = project(self.schema(), request.projection)
        condition = self._condition(request)
        if self.kind == "files":
            batches = self._files(schema, condition)
        else:
            batches = self._listing(schema, condition, self._narrowing(request))
        return pa.RecordBatchReader.from_batches(schema, limit_batches(batches, request.limit))

    def describe(self, request: ScanRequest) -> str:
        url = self._first_url(self._narrowing(request))
        text = f"github GET {redact_url(url)} (link pagination)"
        if request.filters:
            text += " filter=(" + " AND ".join(f.sql("postgres") for f in request.filters) + ")"
        return text if request.limit is None else f"{text} limit={request.limit}"

    def close(self) -> None:
        self._client.close()

    # --- Listings --------------------------------------------------------------------------

    def _narrowing(self, request: ScanRequest) -> dict[str, str]:
        """Query parameters that narrow the listing to a superset of the filtered rows."""
        query: dict[str, str] = {}
        kind = self.kind
        if kind in ("issues", "pulls"):
            query["state"] = self.options.state
            for predicate in request.filters:
                state = _equals(predicate, "state")
                if state in ("open", "closed"):
                    query["state"] = state
                since = _lower_bound(predicate, "updated_at")
                if kind == "issues" and since is not None:
                    # A second early: GitHub does not say whether `since` includes its own time.
                    early = since.astimezone(dt.UTC) - dt.timedelta(seconds=1)
                    query["since"] = early.strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind == "commits" and self.ref:
            query["sha"] = self.ref
        return query

    def _first_url(self, query: Mapping[str, str]) -> httpx.URL:
        if self.kind == "files":
            return self._url(f"git/trees/{self.ref or 'HEAD'}", {"recursive": "1"})
        return self._url(self.kind, {**query, "per_page": str(self.per_page)})

    def _listing(
        self, schema: pa.Schema, condition: pc.Expression | None, query: Mapping[str, str]
    ) -> Iterator[pa.RecordBatch]:
        full = self.schema()
        readers = ROWS[self.kind]
        for items in self._pages(self._first_url(query)):
            if self.kind == "issues":
                items = [item for item in items if "pull_request" not in item]
            rows = [{name: readers[name](item) for name in full.names} for item in items]
            batch = self._batch(rows, full)
            yield _select(batch, condition, schema)

    def _files(
        self, schema: pa.Schema, condition: pc.Expression | None
    ) -> Iterator[pa.RecordBatch]:
        """The tree listing first, filtered; contents fetched per file only if asked for."""
        full = self.schema()
        listing = [
            {"path": entry["path"], "sha": entry["sha"], "size": entry.get("size")}
            for entry in self._tree()
            if self._wanted(entry)
        ]
        listed = pa.schema([full.field(name) for name in LISTING if name in full.names])
        table = pa.Table.from_batches([self._batch(listing, listed)], listed)
        early = _listing_filter(condition, listed)
        if early is not None:
            table = table.filter(early)
        needs_content = any(name not in LISTING for name in schema.names) or (
            condition is not None and early is None
        )
        for start in range(0, table.num_rows, self.per_page):
            rows = table.slice(start, self.per_page).to_pylist()
            if needs_content:
                for row in rows:
                    row["content"] = self._blob(row["sha"])
                    row["title"] = document_title(row["content"], PurePosixPath(row["path"]), None)
            yield _select(self._batch(rows, full), condition, schema)

    def _tree(self) -> list[dict[str, Any]]:
        ref = self._ref or self._default_branch()
        url = self._url(f"git/trees/{ref}", {"recursive": "1"})
        body = self._json(self._request(url), url)
        if body.get("truncated"):
            raise self._error(
                f"the tree of {self._repo()} at {ref} is too large for one listing",
                hint="set params.path to the folder that holds the files",
            )
        return [entry for entry in body.get("tree") or [] if entry.get("type") == "blob"]

    def _wanted(self, entry: Mapping[str, Any]) -> bool:
        path = str(entry.get("path", ""))
        prefix = self.path
        if prefix and not path.startswith(prefix + "/"):
            return False
        include = self.include
        return include is None or fnmatch.fnmatch(path, include)

    def _default_branch(self) -> str:
        url = self._url("", {})
        self._ref = str(self._json(self._request(url), url).get("default_branch") or "HEAD")
        return self._ref

    def _blob(self, sha: str) -> str:
        url = self._url(f"git/blobs/{sha}", {})
        body = self._json(self._request(url), url)
        raw = body.get("content") or ""
        if body.get("encoding") == "base64":
            return base64.b64decode(raw).decode("utf-8", errors="replace")
        return str(raw)

    def _batch(self, rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
        try:
            return documents.to_batch(rows, schema, lambda row, name: row.get(name))
        except SourceError as error:
            raise self._error(f"{self._repo()}: {error}", hint=error.hint) from None

    # --- HTTP ------------------------------------------------------------------------------

    def _url(self, tail: str, query: Mapping[str, str]) -> httpx.URL:
        base = self.base_url
        path = f"{base.path.rstrip('/')}/repos/{self.owner}/{self.repo}"
        path += f"/{tail}" if tail else ""
        return base.copy_with(path=path, params=dict(query))

    def _pages(self, url: httpx.URL) -> Iterator[list[dict[str, Any]]]:
        seen = 0
        following: httpx.URL | None = url
        while following is not None:
            if seen >= self.options.max_pages:
                raise self._error(
                    f"stopped after params.max_pages={self.options.max_pages} pages of "
                    f"{redact_url(url)} with more left; the result would be partial",
                    hint="add filters or a LIMIT, or raise params.max_pages",
                )
            response = self._request(following)
            body = self._json(response, following)
            if not isinstance(body, list):
                raise self._error(f"GET {redact_url(following)} did not return a list")
            seen += 1
            yield body
            target = next_link(response)
            following = following.join(target) if target and body else None

    def _request(self, url: httpx.URL) -> httpx.Response:
        """GET with the rate limits respected: wait for a reset that is near, else fail."""
        while True:
            try:
                response = self._client.get(url)
            except httpx.HTTPError as error:
                raise self._error(
                    f"GET {redact_url(url)} failed: {type(error).__name__}: {error}",
                    hint="check params.base_url and that the API is reachable",
                ) from None
            wait = self._rate_limited(response, url)
            if wait is None:
                return self._checked(response, url)
            time.sleep(wait)

    def _rate_limited(self, response: httpx.Response, url: httpx.URL) -> float | None:
        if response.status_code not in (403, 429):
            return None
        headers = response.headers
        asked = retry_after(headers.get("Retry-After"))
        if asked is None and headers.get("X-RateLimit-Remaining") == "0":
            reset = float(headers.get("X-RateLimit-Reset") or 0)
            asked = max(0.0, reset - time.time())
        if asked is None:
            return None
        if asked <= self.options.rate_limit_wait:
            return asked
        resets = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=asked)
        limit = headers.get("X-RateLimit-Limit")
        raise self._error(
            f"GitHub's rate limit{f' of {limit} requests an hour' if limit else ''} is spent "
            f"for GET {redact_url(url)}; it resets at {resets:%H:%M:%S} UTC, in {asked:.0f}s",
            hint="retry after the reset, set params.token for a higher limit, "
            "or raise params.rate_limit_wait",
        )

    def _checked(self, response: httpx.Response, url: httpx.URL) -> httpx.Response:
        if response.status_code < 400:
            return response
        message = ""
        try:
            message = str(response.json().get("message") or "")
        except ValueError:
            message = excerpt(response.text)
        status = f"HTTP {response.status_code}"
        hint = STATUS_HINTS.get(response.status_code)
        if response.status_code == 403:
            hint = "the token lacks access to this repository; check its scopes"
        raise self._error(
            f"GET {redact_url(url)} failed with {status}" + (f": {message}" if message else ""),
            hint=hint,
        )

    def _json(self, response: httpx.Response, url: httpx.URL) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._error(f"GET {redact_url(url)} did not return JSON") from None

    def _off_origin(self, url: httpx.URL) -> SourceError:
        """The token goes to the configured API only, whatever a Link header or redirect says."""
        return self._error(
            f"the API sent the sidecar to {redact_url(url)}; refused so the token stays with "
            f"{self._client.home}",
            hint="set params.base_url to the API this repository lives on",
        )

    def _repo(self) -> str:
        return f"{self.owner}/{self.repo}"

    def _condition(self, request: ScanRequest) -> pc.Expression | None:
        schema = self.schema()
        parts = [predicates.to_arrow(f, schema) for f in request.filters]
        if any(part is None for part in parts):
            raise ValueError("a filter this connector did not accept was pushed to it")
        condition = None
        for part in parts:
            condition = part if condition is None else condition & part
        return condition

    def _error(self, message: str, hint: str | None = None) -> SourceError:
        return SourceError(
            scrub(message, self._secrets), hint=None if hint is None else scrub(hint, self._secrets)
        )


def _select(
    batch: pa.RecordBatch, condition: pc.Expression | None, schema: pa.Schema
) -> pa.RecordBatch:
    """The batch's rows that pass the filter, narrowed to the scan's columns."""
    table = pa.Table.from_batches([batch])
    if condition is not None:
        table = table.filter(condition)
    batches = table.select(schema.names).combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema)


def _listing_filter(condition: pc.Expression | None, listed: pa.Schema) -> pc.Expression | None:
    """The filter, when it needs only the listing's columns (path, sha, size)."""
    if condition is None:
        return None
    try:
        listed.empty_table().filter(condition)
    except (pa.ArrowInvalid, KeyError):
        return None
    return condition


def _equals(predicate: exp.Expression, column: str) -> Any:
    node = predicate.unnest()
    if isinstance(node, exp.EQ) and isinstance(node.this, exp.Column) and node.this.name == column:
        try:
            return predicates.literal_value(node.expression)
        except ValueError:
            return None
    return None


def _lower_bound(predicate: exp.Expression, column: str) -> dt.datetime | None:
    """`column >= t` or `column > t` as a zoned datetime (naive literals are UTC)."""
    node = predicate.unnest()
    if not isinstance(node, exp.GTE | exp.GT):
        return None
    if not isinstance(node.this, exp.Column) or node.this.name != column:
        return None
    try:
        value = predicates.coerce(predicates.literal_value(node.expression), TIME).as_py()
    except (ValueError, predicates.Untranslatable):
        return None
    return value if isinstance(value, dt.datetime) else None
