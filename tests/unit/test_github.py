"""The GitHub connector against a local fake of the REST API: Link pagination, early stops,
filters that narrow the listing, files fetched only when needed, rate limits and tokens."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from connectors.base import DatasetSource, ScanRequest, SourceError
from connectors.github import GitHubConnector
from connectors.web.retry import RetryLater
from tests.http_api_server import ApiServer, Reply, in_order
from tests.peers.github import TOKEN, GitHubApi, github_api  # noqa: F401


def predicate(sql: str) -> exp.Expression:
    where = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    for column in list(where.this.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return where.this


def github(api: GitHubApi, kind: str, **params: Any) -> GitHubConnector:
    return GitHubConnector(DatasetSource(kind, "github", f"acme/shop/{kind}", api.params(**params)))


def test_issues_follow_link_pages_and_leave_out_pull_requests(github_api: GitHubApi) -> None:  # noqa: F811
    table = github(github_api, "issues").scan(ScanRequest()).read_all()
    assert table.num_rows == 250 - 250 // 7
    assert github_api.paths().count("/repos/acme/shop/issues") == 3
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in github_api.requests)
    first = table.slice(0, 1).to_pylist()[0]
    assert first["number"] == 1 and first["author"] == "priya" and first["assignees"] == ["oncall"]


def test_a_limit_stops_paging(github_api: GitHubApi) -> None:  # noqa: F811
    request = ScanRequest(projection=["number"], limit=30)
    rows = github(github_api, "pulls", per_page=10).scan(request).read_all()
    assert rows.num_rows == 30 and github_api.paths().count("/repos/acme/shop/pulls") == 3


def test_filters_narrow_the_request_and_stay_exact(github_api: GitHubApi) -> None:  # noqa: F811
    issues = github(github_api, "issues")
    filters = [predicate("state = 'closed'"), predicate("updated_at > '2026-03-20 12:00:00'")]
    assert all(issues.accepts_filter(f) for f in filters)
    rows = issues.scan(ScanRequest(projection=["number", "state", "updated_at"], filters=filters))
    got = rows.read_all().to_pylist()
    assert got and all(r["state"] == "closed" and r["updated_at"].day > 20 for r in got)
    _, query, _ = github_api.requests[-1]
    assert query["state"] == ["closed"] and query["since"] == ["2026-03-20T11:59:59Z"]
    assert "state=closed" in issues.describe(ScanRequest(filters=filters))


def test_commits(github_api: GitHubApi) -> None:  # noqa: F811
    commits = github(github_api, "commits", ref="main")
    request = ScanRequest(filters=[predicate("author = 'priya'")], limit=5)
    rows = commits.scan(request).read_all().to_pylist()
    assert len(rows) == 5 and all(r["author"] == "priya" and r["sha"] for r in rows)
    assert github_api.requests[-1][1]["sha"] == ["main"]


def test_files_fetch_content_only_when_asked(github_api: GitHubApi) -> None:  # noqa: F811
    files = github(github_api, "files", include="*.md")
    listing = files.scan(ScanRequest(projection=["path", "sha"])).read_all()
    assert sorted(listing.column("path").to_pylist()) == [
        "README.md",
        "runbooks/deploys.md",
        "runbooks/payments.md",
    ]
    assert not any("/git/blobs/" in path for path in github_api.paths())
    request = ScanRequest(
        projection=["path", "title", "content"], filters=[predicate("path LIKE 'runbooks/p%'")]
    )
    rows = files.scan(request).read_all().to_pylist()
    assert rows == [
        {
            "path": "runbooks/payments.md",
            "title": "Payment timeouts and connection pool exhaustion",
            "content": github_api.files["runbooks/payments.md"],
        }
    ]
    assert sum("/git/blobs/" in path for path in github_api.paths()) == 1


def test_a_near_rate_limit_reset_is_waited_for(github_api: GitHubApi) -> None:  # noqa: F811
    github_api.remaining, github_api.reset_in = 1, 1.0
    pulls = github(github_api, "pulls", per_page=20, rate_limit_wait="5s")

    def refill() -> None:
        github_api.remaining = 100

    threading.Timer(0.5, refill).start()
    assert pulls.scan(ScanRequest(projection=["number"])).read_all().num_rows == 40


def test_a_far_rate_limit_reset_fails_clearly(github_api: GitHubApi) -> None:  # noqa: F811
    github_api.remaining, github_api.reset_in = 0, 1800
    with pytest.raises(SourceError) as caught:
        github(github_api, "issues").scan(ScanRequest()).read_all()
    assert "rate limit of 5000 requests an hour is spent" in str(caught.value)
    assert "resets at" in str(caught.value) and "params.token" in (caught.value.hint or "")
    assert TOKEN not in str(caught.value)


def test_a_refused_token_is_never_shown(github_api: GitHubApi) -> None:  # noqa: F811
    with pytest.raises(SourceError) as caught:
        github(github_api, "issues", token="ghp_wrong-9876").scan(ScanRequest()).read_all()
    text = f"{caught.value} {caught.value.hint}"
    assert "401" in text and "Bad credentials" in text and "ghp_wrong-9876" not in text


def test_an_unknown_repository_says_what_to_check(github_api: GitHubApi) -> None:  # noqa: F811
    source = DatasetSource("x", "github", "acme/nope/issues", github_api.params())
    with pytest.raises(SourceError) as caught:
        GitHubConnector(source).scan(ScanRequest()).read_all()
    assert "404" in str(caught.value) and "owner/repo" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("location", "params", "fragment"),
    [
        ("acme/shop", {}, "must be owner/repo/<issues|pulls|commits|files>"),
        ("acme/shop/wiki", {}, "must be owner/repo"),
        ("acme/shop/issues", {"state": "merged"}, "params.state"),
        ("acme/shop/issues", {"tokn": "x"}, "did you mean 'token'"),
        ("acme/shop/issues", {"base_url": "ftp://x"}, "http:// or https://"),
    ],
)
def test_bad_params_say_what_to_write(location: str, params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SourceError) as caught:
        GitHubConnector(DatasetSource("x", "github", location, params))
    assert fragment in f"{caught.value} {caught.value.hint}"


def test_the_token_never_follows_a_redirect_to_another_port() -> None:
    """Same host, another port: another origin, so the redirect is refused."""
    with ApiServer() as home, ApiServer() as other:
        home.route(
            "/repos/acme/shop/issues", Reply(status=302, headers={"Location": other.url("/x")})
        )
        other.route("/x", Reply([]))
        params = {"base_url": home.url(""), "token": "ghp_secret-777"}
        connector = GitHubConnector(DatasetSource("issues", "github", "acme/shop/issues", params))
        with pytest.raises(SourceError) as caught:
            connector.scan(ScanRequest()).read_all()
        connector.close()
    assert "refused so the token stays with" in str(caught.value)
    assert other.requests == []


SECONDARY = {"message": "You have exceeded a secondary rate limit."}


def scripted(home: ApiServer, **params: Any) -> GitHubConnector:
    params = {"base_url": home.url(""), "token": TOKEN, **params}
    return GitHubConnector(DatasetSource("issues", "github", "acme/shop/issues", params))


def test_a_secondary_limit_is_waited_out_then_read() -> None:
    limited = Reply(SECONDARY, status=403, headers={"Retry-After": "0.3"})
    with ApiServer() as home:
        home.route("/repos/acme/shop/issues", in_order(limited, Reply([])))
        connector = scripted(home, rate_limit_wait="5s")
        started = time.monotonic()
        assert connector.scan(ScanRequest()).read_all().num_rows == 0
        connector.close()
    assert time.monotonic() - started >= 0.3
    assert len(home.requests) == 2


def test_a_secondary_limit_past_rate_limit_wait_fails_at_once() -> None:
    limited = Reply(SECONDARY, status=429, headers={"Retry-After": "120"})
    with ApiServer() as home:
        home.route("/repos/acme/shop/issues", limited)
        connector = scripted(home, rate_limit_wait="1s")
        with pytest.raises(RetryLater) as caught:
            connector.scan(ScanRequest()).read_all()
        connector.close()
    assert str(caught.value).startswith("GitHub's secondary rate limit asks to wait 120s")
    assert "params.rate_limit_wait" in (caught.value.hint or "")
    assert caught.value.retry_after == 120 and len(home.requests) == 1


def test_rate_limit_wait_bounds_all_the_waits_of_a_request() -> None:
    """Each 0.3s wait fits in 0.5s, but not two of them: the second is not waited for."""
    limited = Reply(SECONDARY, status=429, headers={"Retry-After": "0.3"})
    with ApiServer() as home:
        home.route("/repos/acme/shop/issues", limited)
        connector = scripted(home, rate_limit_wait="500ms")
        with pytest.raises(RetryLater, match="secondary rate limit"):
            connector.scan(ScanRequest()).read_all()
        connector.close()
    assert len(home.requests) == 2


def test_a_server_error_is_retried() -> None:
    with ApiServer() as home:
        home.route("/repos/acme/shop/issues", in_order(Reply("", status=502), Reply([])))
        connector = scripted(home)
        assert connector.scan(ScanRequest()).read_all().num_rows == 0
        connector.close()
    assert len(home.requests) == 2
