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

GitHub is an HTTP source like any other (`connectors.web`: one client whose token stays at
`base_url`'s origin, pagers, redaction, retries): this module configures it with GitHub's
endpoints, the columns each kind of table has, and GitHub's rate-limit policy. Rate limits are
respected, not fought: a response that says the hourly quota is spent (`X-RateLimit-Remaining:
0`) waits for its `X-RateLimit-Reset` when that is within `rate_limit_wait` (and all waits of a
request together stay within it too), and otherwise fails at once with the time it resets at;
secondary limits' `Retry-After` is honoured the same way. Server errors and dropped connections
are retried with backoff.

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
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar, cast

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from connectors import documents, predicates
from connectors.base import Connector, DatasetSource, ScanRequest, SourceError, project
from connectors.batches import limit_batches
from connectors.markdown import title as document_title
from connectors.params import GitHubParams
from connectors.web.api import JsonApi
from connectors.web.jsonpath import parse_json_path
from connectors.web.pages import LinkPages
from connectors.web.redact import redact_url
from connectors.web.retry import RetryPolicy

MAX_PER_PAGE = 100
TIME = pa.timestamp("s", tz="UTC")
TEXTS = pa.list_(pa.string())
HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "agent-sidecar",
}
STATUS_HINTS = {
    401: "GitHub refused the token; check params.token",
    403: "the token lacks access to this repository; check its scopes",
    404: "check owner/repo in from:, and that the token can see the repository",
}
# Tries of one request in all: a rate limit's reset is waited for once, a server error retried.
ATTEMPTS = 4
BACKOFF = 0.5
Read = Callable[[Mapping[str, Any]], Any]
# A column: its type, and how an item of the listing gives its value.
Column = tuple[pa.DataType, Read]


def _login(item: Any) -> Any:
    return item.get("login") if isinstance(item, Mapping) else None


def _get(*path: str) -> Read:
    def read(item: Mapping[str, Any]) -> Any:
        value: Any = item
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else None
        return value

    return read


def _logins(key: str) -> Read:
    return lambda item: [_login(user) for user in item.get(key) or []]


@dataclass(frozen=True)
class Listing:
    """One of GitHub's list endpoints as a table: its path under the repository, its columns
    with where each comes from in an item, and which items belong to it."""

    path: str
    columns: Mapping[str, Column]
    keep: Callable[[Mapping[str, Any]], bool] = lambda item: True

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(name, kind) for name, (kind, _) in self.columns.items()])

    def rows(self, items: list[Any], names: list[str]) -> list[dict[str, Any]]:
        reads = [(name, self.columns[name][1]) for name in names]
        return [{name: read(item) for name, read in reads} for item in items if self.keep(item)]


# The columns issues and pull requests share, in their places in each table.
TICKET: dict[str, Column] = {
    "number": (pa.int64(), _get("number")),
    "title": (pa.string(), _get("title")),
    "state": (pa.string(), _get("state")),
    "author": (pa.string(), lambda i: _login(i.get("user"))),
}
DATES: dict[str, Column] = {
    "created_at": (TIME, _get("created_at")),
    "updated_at": (TIME, _get("updated_at")),
    "closed_at": (TIME, _get("closed_at")),
}
TEXT: dict[str, Column] = {
    "body": (pa.string(), _get("body")),
    "url": (pa.string(), _get("html_url")),
}
LISTINGS = {
    "issues": Listing(
        "issues",
        {
            **TICKET,
            "labels": (TEXTS, lambda i: [label.get("name") for label in i.get("labels") or []]),
            "assignees": (TEXTS, _logins("assignees")),
            "comments": (pa.int64(), _get("comments")),
            **DATES,
            **TEXT,
        },
        # GitHub lists pull requests among the issues; they have a table of their own.
        keep=lambda item: "pull_request" not in item,
    ),
    "pulls": Listing(
        "pulls",
        {
            **TICKET,
            "draft": (pa.bool_(), _get("draft")),
            "head": (pa.string(), _get("head", "ref")),
            "base": (pa.string(), _get("base", "ref")),
            **DATES,
            "merged_at": (TIME, _get("merged_at")),
            **TEXT,
        },
    ),
    "commits": Listing(
        "commits",
        {
            "sha": (pa.string(), _get("sha")),
            "author": (pa.string(), lambda i: _login(i.get("author"))),
            "author_name": (pa.string(), _get("commit", "author", "name")),
            "author_email": (pa.string(), _get("commit", "author", "email")),
            "authored_at": (TIME, _get("commit", "author", "date")),
            "committer_name": (pa.string(), _get("commit", "committer", "name")),
            "committed_at": (TIME, _get("commit", "committer", "date")),
            "message": (pa.string(), _get("commit", "message")),
            "url": (pa.string(), _get("html_url")),
        },
    ),
}
FILES = pa.schema(
    [
        ("path", pa.string()),
        ("sha", pa.string()),
        ("size", pa.int64()),
        ("title", pa.string()),
        ("content", pa.string()),
    ]
)
KINDS = (*LISTINGS, "files")
# Columns of `files` known from the tree listing alone, before any content is fetched.
LISTING = ("path", "sha", "size")


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
        token = self.options.token
        wait = self.options.rate_limit_wait
        self.api = GitHubRest(
            self.base_url,
            timeout=self.timeout,
            policy=RetryPolicy(attempts=ATTEMPTS, backoff=BACKOFF, max_wait=wait, max_total=wait),
            credentials={"Authorization": f"Bearer {token}"} if token else {},
            secrets=[token] if token else [],
            headers=HEADERS,
            status_hints=STATUS_HINTS,
            unreachable="check params.base_url and that the API is reachable",
            message=parse_json_path("$.message", "GitHub's error message"),
        )
        self._ref: str | None = self.ref

    def schema(self) -> pa.Schema:
        declared = self.source.declared_schema
        if declared is not None:
            return declared
        return FILES if self.kind == "files" else LISTINGS[self.kind].schema

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
        text = f"github GET {redact_url(url)} ({LinkPages.label})"
        if request.filters:
            text += " filter=(" + " AND ".join(f.sql("postgres") for f in request.filters) + ")"
        return text if request.limit is None else f"{text} limit={request.limit}"

    def close(self) -> None:
        self.api.close()

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
        path = LISTINGS[self.kind].path
        return self._url(path, {**query, "per_page": str(self.per_page)})

    def _listing(
        self, schema: pa.Schema, condition: pc.Expression | None, query: Mapping[str, str]
    ) -> Iterator[pa.RecordBatch]:
        full = self.schema()
        listing = LISTINGS[self.kind]
        pages = self.api.pages(
            self._first_url(query), LinkPages(), self.options.max_pages, self._items
        )
        for items in pages:
            batch = self._batch(listing.rows(items, full.names), full)
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
        body = self._get(url)
        if body.get("truncated"):
            raise self.api.error(
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
        self._ref = str(self._get(url).get("default_branch") or "HEAD")
        return self._ref

    def _blob(self, sha: str) -> str:
        url = self._url(f"git/blobs/{sha}", {})
        body = self._get(url)
        raw = body.get("content") or ""
        if body.get("encoding") == "base64":
            return base64.b64decode(raw).decode("utf-8", errors="replace")
        return str(raw)

    def _batch(self, rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
        try:
            return documents.to_batch(rows, schema, lambda row, name: row.get(name))
        except SourceError as error:
            raise self.api.error(f"{self._repo()}: {error}", hint=error.hint) from None

    # --- HTTP ------------------------------------------------------------------------------

    def _url(self, tail: str, query: Mapping[str, str]) -> httpx.URL:
        base = self.base_url
        path = f"{base.path.rstrip('/')}/repos/{self.owner}/{self.repo}"
        path += f"/{tail}" if tail else ""
        return base.copy_with(path=path, params=dict(query))

    def _get(self, url: httpx.URL) -> Any:
        return self.api.json(self.api.get(url), url)

    def _items(self, body: Any, url: httpx.URL) -> list[Any]:
        if not isinstance(body, list):
            raise self.api.error(f"GET {redact_url(url)} did not return a list")
        return body

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


class GitHubRest(JsonApi):
    """The JSON API with GitHub's words for its refusals and rate limits."""

    def refused(self, url: httpx.URL) -> SourceError:
        """The token goes to the configured API only, whatever a Link header or redirect says."""
        return self.error(
            f"the API sent the sidecar to {redact_url(url)}; refused so the token stays with "
            f"{self.client.home}",
            hint="set params.base_url to the API this repository lives on",
        )

    def rate_limited(self, response: httpx.Response, url: httpx.URL, wait: float) -> SourceError:
        """The hourly quota is spent (or a secondary limit hit) for longer than
        params.rate_limit_wait: say when it resets, and how to get more."""
        headers = response.headers
        if response.status_code >= 500:
            return super().rate_limited(response, url, wait)
        if headers.get("x-ratelimit-remaining") != "0":
            return self.error(
                f"GitHub's secondary rate limit asks to wait {math.ceil(wait)}s before GET "
                f"{redact_url(url)}",
                hint="send fewer requests at once (narrow the query with filters or a LIMIT), "
                "retry later, or raise params.rate_limit_wait",
                retry_after=wait,
            )
        resets = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
        limit = headers.get("x-ratelimit-limit")
        return self.error(
            f"GitHub's rate limit{f' of {limit} requests an hour' if limit else ''} is spent "
            f"for GET {redact_url(url)}; it resets at {resets:%H:%M:%S} UTC, in {math.ceil(wait)}s",
            hint="retry after the reset, set params.token for a higher limit, "
            "or raise params.rate_limit_wait",
            retry_after=wait,
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
