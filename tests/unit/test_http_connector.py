"""The HTTP connector against a real local API: paging, retries, errors, schemas, secrets."""

from __future__ import annotations

import email.utils
import math
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from connectors.base import DatasetSource, ScanRequest, SourceError
from connectors.http import HttpConnector
from connectors.web.client import tls_context
from connectors.web.jsonpath import parse_json_path
from connectors.web.redact import excerpt, redact_url
from connectors.web.retry import RetryLater, retry_after
from tests.certs import self_signed
from tests.http_api_server import ApiServer, Reply, Request, Route, in_order

TOKEN = "tok-very-secret-4242"
FAST = {"backoff": 0.001}
IDS = pa.schema([("id", pa.int64())])


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


Connect = Callable[..., HttpConnector]


@pytest.fixture
def connect(api: ApiServer) -> Iterator[Connect]:
    """Build connectors to `api` paths; closed after the test so no socket outlives it."""
    opened: list[HttpConnector] = []

    def build(path: str, schema: pa.Schema | None = None, **params: Any) -> HttpConnector:
        source = DatasetSource(
            name="items",
            scheme="http",
            location=api.url(path),
            params=params,
            declared_schema=schema,
            timeout=5.0,
        )
        opened.append(HttpConnector(source))
        return opened[-1]

    yield build
    for connector in opened:
        connector.close()


def read(connector: HttpConnector, **request: Any) -> pa.Table:
    return connector.scan(ScanRequest(**request)).read_all()


def rows(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": n, "name": f"item {n}"} for n in range(start, stop)]


def failure(connector: HttpConnector, **request: Any) -> SourceError:
    with pytest.raises(SourceError) as caught:
        read(connector, **request)
    return caught.value


# --- Records ---------------------------------------------------------------------------------


def test_plain_list(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply(rows(1, 3)))

    table = read(connect("/items"))

    assert table.to_pylist() == rows(1, 3)
    assert table.schema == pa.schema([("id", pa.int64()), ("name", pa.string())])


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"result": {"data": rows(1, 3)}}, "$.result.data"),
        ({"groups": [{"items": rows(1, 3)}]}, "$.groups[0].items"),
        ({"the items": rows(1, 3)}, "$['the items'][*]"),
        ({"pages": [{"items": rows(1, 2)}, {"items": rows(2, 3)}]}, "$.pages[*].items"),
    ],
)
def test_json_path_finds_nested_records(
    api: ApiServer, body: Any, path: str, connect: Connect
) -> None:
    api.route("/items", Reply(body))

    assert read(connect("/items", json_path=path)).to_pylist() == rows(1, 3)


def test_single_object_is_one_row(api: ApiServer, connect: Connect) -> None:
    api.route("/me", Reply({"user": {"login": "ada", "id": 7}}))

    assert read(connect("/me", json_path="$.user")).to_pylist() == [{"login": "ada", "id": 7}]


def test_query_params_and_headers_are_sent(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply(rows(1, 2)))

    read(connect("/items", query={"status": "open"}, headers={"X-Team": "data"}))

    (request,) = api.hits("/items")[1:]  # the first request inferred the schema
    assert request.query == {"status": "open"}
    assert request.headers["x-team"] == "data"
    assert request.headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("path", "document", "expected"),
    [
        ("$", [1, 2], [[1, 2]]),
        ("$.a.b", {"a": {"b": 3}}, [3]),
        ("$.a[-1]", {"a": [1, 2]}, [2]),
        ("$.a[5]", {"a": [1, 2]}, []),
        ("$.a[*].b", {"a": [{"b": 1}, {"c": 2}, {"b": 3}]}, [1, 3]),
        ("$.*", {"x": 1, "y": 2}, [1, 2]),
        ('$["a.b"]', {"a.b": 1}, [1]),
        ("$.missing", {"a": 1}, []),
    ],
)
def test_json_path_subset(path: str, document: Any, expected: list[Any]) -> None:
    assert parse_json_path(path, "json_path").find(document) == expected


@pytest.mark.parametrize("path", ["data", "$..data", "$.a[?(@.b)]", "$.a["])
def test_unsupported_json_path_is_refused(api: ApiServer, path: str, connect: Connect) -> None:
    with pytest.raises(SourceError, match="json_path"):
        connect("/items", json_path=path)


def test_json_path_matching_nothing_lists_the_keys(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply({"results": [], "count": 0}))

    error = failure(connect("/items", json_path="$.data"))

    assert "$.data matched nothing" in str(error)
    assert error.hint == "the response's top-level keys are: results, count"


# --- Pagination ------------------------------------------------------------------------------


def link_pages(base: str) -> Route:
    """Three pages of two rows; the second link is relative, as some APIs send them."""
    links = {1: f'<{base}?page=2>; rel="next"', 2: '</items?page=3>; rel="next", <x>; rel="prev"'}

    def route(request: Request) -> Reply:
        page = int(request.query.get("page", "1"))
        headers = {"Link": links[page]} if page in links else {}
        return Reply(rows(2 * page - 1, 2 * page + 1), headers=headers)

    return route


@pytest.fixture
def linked(api: ApiServer) -> ApiServer:
    api.route("/items", link_pages(api.url("/items")))
    return api


def test_link_pagination_streams_one_batch_per_page(linked: ApiServer, connect: Connect) -> None:
    table = read(connect("/items", pagination={"type": "link"}))

    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5, 6]
    pages = [r.query.get("page") for r in linked.hits("/items")]
    assert pages == [None, None, "2", "3"]  # the first page twice: to infer the schema, to scan


def test_pages_are_fetched_as_they_are_read(linked: ApiServer, connect: Connect) -> None:
    reader = connect("/items", IDS, pagination="link").scan(ScanRequest())

    assert reader.read_next_batch().num_rows == 2
    assert len(linked.requests) == 1
    assert sum(batch.num_rows for batch in reader) == 4
    assert len(linked.requests) == 3


def test_limit_stops_requesting_pages(linked: ApiServer, connect: Connect) -> None:
    connector = connect("/items", IDS, pagination="link")

    assert read(connector, limit=3).column("id").to_pylist() == [1, 2, 3]
    assert len(linked.requests) == 2
    assert read(connector, limit=0).num_rows == 0
    assert len(linked.requests) == 2


def test_next_links_are_followed_without_a_pagination_param(
    linked: ApiServer, connect: Connect
) -> None:
    """An API that says there is more is asked for it: no silently partial table."""
    assert read(connect("/items", IDS)).column("id").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert "(link pagination)" in connect("/items", IDS).describe(ScanRequest())


def test_the_page_bound_fails_loudly_without_a_pagination_param(
    linked: ApiServer, connect: Connect
) -> None:
    error = failure(connect("/items", IDS, max_pages=2))

    assert "max_pages=2" in str(error) and "partial" in str(error)
    assert "raise params.max_pages" in (error.hint or "")


def test_pagination_none_reads_one_page(linked: ApiServer, connect: Connect) -> None:
    assert read(connect("/items", IDS, pagination="none")).num_rows == 2


@pytest.mark.parametrize(
    "link",
    [
        '<{next}>; rel="next"',
        "<{next}>; REL=Next",
        '<{next}>; rel="next last"',
        '</x>; rel="prev"; title="a, b", <{next}>; title="c;d"; rel=next',
    ],
)
def test_next_links_are_read_as_rfc_8288_writes_them(
    api: ApiServer, connect: Connect, link: str
) -> None:
    def route(request: Request) -> Reply:
        if request.query.get("page") == "2":
            return Reply(rows(3, 4))
        return Reply(rows(1, 3), headers={"Link": link.format(next="/items?page=2")})

    api.route("/items", route)

    assert read(connect("/items", IDS)).column("id").to_pylist() == [1, 2, 3]


def test_cursor_pagination(api: ApiServer, connect: Connect) -> None:
    cursors = {None: ("c2", rows(1, 3)), "c2": ("c3", rows(3, 5)), "c3": (None, rows(5, 6))}

    def route(request: Request) -> Reply:
        following, data = cursors[request.query.get("after")]
        return Reply({"data": data, "meta": {"next": following}})

    api.route("/items", route)
    pagination = {"type": "cursor", "cursor_param": "after", "cursor_path": "$.meta.next"}

    table = read(connect("/items", IDS, json_path="$.data", pagination=pagination))

    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5]
    assert [r.query.get("after") for r in api.requests] == [None, "c2", "c3"]


def test_page_pagination_stops_on_a_short_page(api: ApiServer, connect: Connect) -> None:
    def route(request: Request) -> Reply:
        page = int(request.query["p"])
        return Reply(rows(1, 6)[(page - 1) * 2 : page * 2])

    api.route("/items", route)
    pagination = {"type": "page", "page_param": "p", "size_param": "per_page", "size": 2}

    table = read(connect("/items", IDS, pagination=pagination))

    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5]
    assert [r.query for r in api.requests] == [
        {"p": "1", "per_page": "2"},
        {"p": "2", "per_page": "2"},
        {"p": "3", "per_page": "2"},
    ]


def test_offset_pagination_stops_on_an_empty_page(api: ApiServer, connect: Connect) -> None:
    def route(request: Request) -> Reply:
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        return Reply({"items": rows(1, 5)[offset : offset + limit]})

    api.route("/items", route)
    pagination = {"type": "offset", "size": 2}

    table = read(connect("/items", IDS, json_path="$.items", pagination=pagination))

    assert table.column("id").to_pylist() == [1, 2, 3, 4]
    assert [r.query["offset"] for r in api.requests] == ["0", "2", "4"]


def test_a_repeated_cursor_is_refused(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply({"data": rows(1, 2), "next_cursor": "same"}))
    connector = connect("/items", IDS, json_path="$.data", pagination={"type": "cursor"})

    assert "same next page twice" in str(failure(connector))
    assert [r.query.get("cursor") for r in api.requests] == [None, "same"]


def test_max_pages_refuses_a_partial_result(api: ApiServer, connect: Connect) -> None:
    def route(request: Request) -> Reply:
        return Reply(rows(1, 2), headers={"Link": f'</items?n={len(api.requests)}>; rel="next"'})

    api.route("/items", route)
    connector = connect("/items", IDS, pagination="link", max_pages=3)

    error = failure(connector)

    assert "max_pages=3" in str(error)
    assert len(api.requests) == 3
    assert read(connector, limit=2).num_rows == 2


def test_redirects_are_followed_on_the_same_host(api: ApiServer, connect: Connect) -> None:
    api.route("/old", Reply(status=301, headers={"Location": "/items"}))
    api.route("/items", Reply(rows(1, 3)))

    assert read(connect("/old", IDS)).num_rows == 2


@pytest.mark.parametrize("kind", ["link", "redirect"])
def test_credentials_never_leave_the_host(api: ApiServer, connect: Connect, kind: str) -> None:
    elsewhere = api.url("/items?page=2").replace("127.0.0.1", "localhost")
    headers = {"Link": f'<{elsewhere}>; rel="next"'}
    if kind == "redirect":
        headers = {"Location": elsewhere}
    api.route("/items", Reply(rows(1, 3), status=200 if kind == "link" else 302, headers=headers))
    connector = connect("/items", IDS, pagination="link", headers={"X-Api-Key": TOKEN})

    error = failure(connector)

    assert str(error).startswith(f"the API sent the sidecar to {elsewhere}; refused")
    assert [r.headers["host"].split(":")[0] for r in api.requests] == ["127.0.0.1"]


@pytest.fixture
def other() -> Iterator[ApiServer]:
    """A second API on the same host and another port: another origin."""
    with ApiServer() as server:
        yield server


@pytest.mark.parametrize("kind", ["link", "redirect"])
def test_another_port_is_another_origin(
    api: ApiServer, other: ApiServer, connect: Connect, kind: str
) -> None:
    elsewhere = other.url("/items")
    headers = (
        {"Location": elsewhere} if kind == "redirect" else {"Link": f"<{elsewhere}>; rel=next"}
    )
    api.route(
        "/items", Reply(rows(1, 3), status=302 if kind == "redirect" else 200, headers=headers)
    )
    other.route("/items", Reply(rows(100, 103)))
    connector = connect("/items", IDS, headers={"X-Api-Key": TOKEN})

    error = failure(connector)

    assert str(error).startswith(f"the API sent the sidecar to {elsewhere}; refused")
    assert "params.allowed_origins" in (error.hint or "")
    assert other.requests == []


def test_an_allowed_origin_is_followed_without_credentials(
    api: ApiServer, other: ApiServer, connect: Connect
) -> None:
    moved = other.url("/items?appid=app-secret-77&api_key=k-secret-88&page=2")
    api.route("/items", Reply(status=307, headers={"Location": moved}))
    other.route("/items", Reply(rows(100, 103)))
    connector = connect(
        "/items",
        IDS,
        headers={"X-Api-Key": TOKEN},
        query={"appid": "app-secret-77"},
        allowed_origins=[other.url("")],
    )

    assert read(connector).column("id").to_pylist() == [100, 101, 102]
    assert api.requests[0].headers["x-api-key"] == TOKEN
    assert api.requests[0].query["appid"] == "app-secret-77"
    for request in other.requests:
        assert "x-api-key" not in request.headers and "authorization" not in request.headers
        assert request.query == {"page": "2"}


def test_same_origin_redirects_keep_the_credentials(api: ApiServer, connect: Connect) -> None:
    api.route("/old", Reply(status=308, headers={"Location": api.url("/items")}))
    api.route("/items", Reply(rows(1, 3)))

    assert read(connect("/old", IDS, headers={"X-Api-Key": TOKEN})).num_rows == 2
    assert [r.headers["x-api-key"] for r in api.hits("/items")] == [TOKEN]


@pytest.mark.parametrize("origins", ["https://x.example", ["ftp://x.example"], ["http://x/a"]])
def test_allowed_origins_must_be_origins(connect: Connect, origins: Any) -> None:
    with pytest.raises(SourceError, match="allowed_origins"):
        connect("/items", allowed_origins=origins)


# --- Retries and failures --------------------------------------------------------------------


def test_retries_a_server_error_then_succeeds(api: ApiServer, connect: Connect) -> None:
    api.route("/items", in_order(Reply("boom", status=500), Reply(rows(1, 3))))

    assert read(connect("/items", **FAST)).num_rows == 2
    assert len(api.requests) == 3  # one failed and one good for the schema, one for the scan


def test_gives_up_after_the_retries(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply({"error": "overloaded"}, status=503))

    error = failure(connect("/items", retries=2, **FAST))

    assert "HTTP 503 Service Unavailable" in str(error)
    assert '{"error": "overloaded"}' in str(error)
    assert len(api.requests) == 3


def test_honours_retry_after_on_429(api: ApiServer, connect: Connect) -> None:
    limited = Reply({"message": "slow down"}, status=429, headers={"Retry-After": "0.3"})
    api.route("/items", in_order(limited, Reply(rows(1, 2))))

    started = time.monotonic()
    assert read(connect("/items", IDS, **FAST)).num_rows == 1
    assert time.monotonic() - started >= 0.3
    assert len(api.requests) == 2


def test_a_long_retry_after_is_not_waited_for(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply({}, status=429, headers={"Retry-After": "3600"}))

    error = failure(connect("/items", **FAST))

    assert "HTTP 429" in str(error)
    assert "rate limiting" in (error.hint or "")
    assert len(api.requests) == 1


def test_honours_retry_after_as_an_http_date(api: ApiServer, connect: Connect) -> None:
    until = math.ceil(time.time()) + 1
    date = email.utils.formatdate(until, usegmt=True)
    limited = Reply({"message": "down for a moment"}, status=503, headers={"Retry-After": date})
    api.route("/items", in_order(limited, Reply(rows(1, 2))))

    assert read(connect("/items", IDS, **FAST)).num_rows == 1
    assert time.time() >= until
    assert len(api.requests) == 2


def test_a_spent_quota_is_retried_at_its_reset(api: ApiServer, connect: Connect) -> None:
    reset = str(math.ceil(time.time()))
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    api.route("/items", in_order(Reply({}, status=403, headers=spent), Reply(rows(1, 2))))

    assert read(connect("/items", IDS, backoff=60)).num_rows == 1
    assert time.time() >= float(reset)
    assert len(api.requests) == 2


def test_a_quota_resetting_later_fails_at_once_saying_when(
    api: ApiServer, connect: Connect
) -> None:
    reset = str(int(time.time()) + 3600)
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    api.route("/items", Reply({"message": "quota spent"}, status=403, headers=spent))

    error = failure(connect("/items", IDS))

    assert isinstance(error, RetryLater) and 3590 < error.retry_after <= 3600
    assert 'HTTP 403 Forbidden: {"message": "quota spent"}' in str(error)
    assert re.fullmatch(
        r"the API is rate limiting this client; it asks to wait 3[56]\d\ds before the next try",
        error.hint or "",
    )
    assert len(api.requests) == 1


def test_a_plain_refusal_is_not_retried(api: ApiServer, connect: Connect) -> None:
    api.route(
        "/items", Reply({"message": "no"}, status=403, headers={"X-RateLimit-Remaining": "9"})
    )

    error = failure(connect("/items", IDS, **FAST))

    assert not isinstance(error, RetryLater) and "credentials" in (error.hint or "")
    assert len(api.requests) == 1


def test_timeout(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply(rows(1, 2), delay=1.0))

    started = time.monotonic()
    error = failure(connect("/items", timeout="200ms", **FAST))

    assert f"GET {api.url('/items')} timed out after 0.2s" == str(error)
    assert time.monotonic() - started < 0.9
    assert len(api.requests) == 1


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = {"retries": 1, **FAST}
    source = DatasetSource("items", "http", f"http://127.0.0.1:{port}/x", params=params)

    connector = HttpConnector(source)

    with pytest.raises(SourceError, match=r"cannot connect to 127\.0\.0\.1"):
        connector.schema()
    connector.close()


def test_not_found_shows_status_and_body(api: ApiServer, connect: Connect) -> None:
    error = failure(connect("/nowhere"))

    assert str(error) == (
        f'GET {api.url("/nowhere")} failed with HTTP 404 Not Found: {{"message": "Not Found"}}'
    )
    assert error.hint == "check the URL in the dataset's from:"


def test_invalid_json(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply("<html>maintenance</html>", headers={"Content-Type": "text/html"}))

    error = failure(connect("/items"))

    assert "did not return valid JSON (text/html): <html>maintenance</html>" in str(error)


def test_secret_header_is_sent_but_never_shown(api: ApiServer, connect: Connect) -> None:
    def route(request: Request) -> Reply:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return Reply({"error": f"token {TOKEN} has expired"}, status=401)

    api.route("/items", route)
    connector = connect("/items", headers={"Authorization": f"Bearer {TOKEN}"})

    error = failure(connector)

    assert len(api.requests) == 1
    assert TOKEN not in str(error)
    assert "token *** has expired" in str(error)
    assert "credentials" in (error.hint or "")


def test_secret_query_values_are_masked(api: ApiServer, connect: Connect) -> None:
    connector = connect("/nowhere", query={"api_key": TOKEN, "status": "open"})

    error = failure(connector)

    assert api.requests[0].query["api_key"] == TOKEN
    assert TOKEN not in str(error)
    assert f"{api.url('/nowhere')}?api_key=***&status=open" in str(error)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:pw@h/p?token=abc&page=2", "https://h/p?token=***&page=2"),
        (
            "https://h/p?X-Amz-Signature=abc&sig=d&monkey=e",
            "https://h/p?X-Amz-Signature=***&sig=***&monkey=e",
        ),
        (
            "https://h/p?access_token=a&apiKey=b&client_secret=c",
            "https://h/p?access_token=***&apiKey=***&client_secret=***",
        ),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(httpx.URL(url)) == shown


def test_retry_after_forms() -> None:
    assert retry_after("2") == 2.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    later = retry_after(email.utils.formatdate(time.time() + 90, usegmt=True))
    assert later is not None and 88 <= later <= 90
    assert retry_after("soon") is None
    assert retry_after(None) is None


# --- Params ----------------------------------------------------------------------------------


def test_unknown_param_lists_the_known_ones(api: ApiServer, connect: Connect) -> None:
    with pytest.raises(SourceError) as caught:
        connect("/items", jsonpath="$.data")

    assert str(caught.value) == "params.jsonpath: unknown http param; did you mean 'json_path'?"
    assert (caught.value.hint or "").startswith("known params: json_path, headers, query,")


@pytest.mark.parametrize(
    ("pagination", "message"),
    [
        ({"type": "pages"}, "must be one of none, link, cursor, page, offset"),
        ({"type": "cursor", "cursor": "x"}, "unknown params.pagination key(s): cursor"),
        ({"type": "offset", "size": 0}, "size must be an integer >= 1"),
        ({"type": "page", "size_param": "per_page"}, "size is required"),
    ],
)
def test_invalid_pagination(
    api: ApiServer, pagination: dict[str, Any], message: str, connect: Connect
) -> None:
    with pytest.raises(SourceError, match=re.escape(message)):
        connect("/items", pagination=pagination)


def test_describe(api: ApiServer, connect: Connect) -> None:
    connector = connect("/items", query={"token": TOKEN}, pagination={"type": "link"})
    paged = connect("/items", pagination={"type": "offset", "size": 50})

    assert connector.describe(ScanRequest(limit=5)) == (
        f"GET {api.url('/items')}?token=*** (link pagination) limit=5"
    )
    assert paged.describe(ScanRequest()) == (
        f"GET {api.url('/items')}?offset=0&limit=50 (offset pagination)"
    )


# --- Schemas ---------------------------------------------------------------------------------


def test_schema_is_inferred_from_the_first_page_and_cached(
    api: ApiServer, connect: Connect
) -> None:
    api.route(
        "/items",
        Reply(
            [
                {"id": 1, "score": 1, "tags": ["a"]},
                {"id": 2, "score": 2.5, "owner": {"login": "ada"}},
                {"id": 3, "note": None},
            ]
        ),
    )
    connector = connect("/items")

    schema = connector.schema()

    assert schema == pa.schema(
        [
            ("id", pa.int64()),
            ("score", pa.float64()),
            ("tags", pa.list_(pa.string())),
            ("owner", pa.struct([("login", pa.string())])),
            ("note", pa.string()),
        ]
    )
    assert connector.schema() is schema
    assert len(api.requests) == 1
    assert read(connector).column("score").to_pylist() == [1.0, 2.5, None]


def test_later_pages_are_fitted_to_the_schema(api: ApiServer, connect: Connect) -> None:
    pages = {
        "1": [{"id": 1, "score": 1.5, "note": None}],
        "2": [{"id": 2, "score": 3, "extra": True, "note": {"x": 1}}],
        "3": [{"id": "three"}],
    }
    api.route("/items", lambda request: Reply(pages.get(request.query["page"], [])))
    connector = connect("/items", pagination={"type": "page"})
    reader = connector.scan(ScanRequest())

    assert reader.read_next_batch().to_pylist() == [{"id": 1, "score": 1.5, "note": None}]
    assert reader.read_next_batch().to_pylist() == [{"id": 2, "score": 3.0, "note": '{"x":1}'}]
    with pytest.raises(SourceError, match=r"field 'id' on page 3: value \"three\" does not fit"):
        reader.read_next_batch()


def test_declared_schema_wins_and_casts_safely(api: ApiServer, connect: Connect) -> None:
    api.route(
        "/items",
        Reply(
            [
                {"id": "1", "at": "2024-05-01T12:00:00Z", "ignored": 1},
                {"id": 2.0, "at": None},
            ]
        ),
    )
    schema = pa.schema([("id", pa.int64()), ("at", pa.timestamp("us", tz="UTC"))])
    connector = connect("/items", schema)

    assert connector.schema() is schema
    assert len(api.requests) == 0
    table = read(connector)
    assert table.schema == schema
    assert table.column("id").to_pylist() == [1, 2]
    assert str(table.column("at")[0]) == "2024-05-01 12:00:00+00:00"


def test_declared_integer_does_not_truncate_floats(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply([{"id": 2.5}]))
    connector = connect("/items", pa.schema([("id", pa.int64())]))

    assert "field 'id' on page 1: value 2.5 does not fit type int64" in str(failure(connector))


def test_projection(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply([{"id": 1, "name": "a", "size": 3}]))

    table = read(connect("/items"), projection=["size", "id"])

    assert table.schema.names == ["size", "id"]
    assert table.to_pylist() == [{"size": 3, "id": 1}]


def test_empty_first_page_cannot_be_inferred(api: ApiServer, connect: Connect) -> None:
    api.route("/items", Reply({"data": []}))

    with pytest.raises(SourceError, match="no records to infer a schema from") as caught:
        connect("/items", json_path="$.data").schema()

    assert caught.value.hint == "declare the dataset's columns: in sidecar.yaml"


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_api(tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    """An HTTPS API with a self-signed certificate; the process's trust store is rebuilt after."""
    cert, key = self_signed(tmp_path)
    with ApiServer(tls=(cert, key)) as server:
        server.route("/items", Reply(rows(1, 3)))
        yield server, cert
    tls_context.cache_clear()


def test_an_untrusted_certificate_fails_at_once_saying_how_to_trust_it(
    tls_api: tuple[ApiServer, Path], connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, _ = tls_api
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tls_context.cache_clear()
    connector = HttpConnector(DatasetSource("items", "https", api.url("/items")))

    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        connector.schema()
    connector.close()

    assert time.monotonic() - started < 1.5, "retries would back off 0.5s, 1s and 2s"
    assert str(caught.value) == (
        f"GET {api.url('/items')} failed: the certificate of 127.0.0.1 is not trusted "
        "(self-signed certificate)"
    )
    assert "SSL_CERT_FILE" in (caught.value.hint or "")
    assert api.requests == []


def test_a_private_ca_is_trusted_through_ssl_cert_file(
    tls_api: tuple[ApiServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, cert = tls_api
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    tls_context.cache_clear()
    connector = HttpConnector(DatasetSource("items", "https", api.url("/items"), params=FAST))

    assert read(connector).to_pylist() == rows(1, 3)
    connector.close()


def test_an_excerpt_never_ends_in_half_a_word() -> None:
    """An echoed credential cut by the excerpt would leave its first half unredactable."""
    token = "tok-" + "7f3a" * 10
    for lead in range(180, 200):
        shown = excerpt("x" * lead + " " + token + " and more")
        assert shown.endswith("…") and "tok-" not in shown.replace(token, ""), shown
    assert excerpt("short answer") == "short answer"
