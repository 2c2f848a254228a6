"""A local server that answers like the GitHub REST API, for the github connector's tests.

It serves one repository's issues (pull requests mixed in, as GitHub does), pulls, commits,
git tree and blobs, pages lists with `per_page`/`page` and `Link: <…>; rel="next"` headers,
sends the `X-RateLimit-*` headers and, once its quota is spent, answers 403 with
`X-RateLimit-Remaining: 0` like GitHub's primary rate limit. It checks the bearer token and
records every request, so tests can assert the parameters a scan sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

OWNER, REPO, TOKEN = "acme", "shop", "ghp_test-token-0123456789"


def _issue(number: int, state: str, *, pull: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "number": number,
        "title": f"{'PR' if pull else 'Issue'} {number}: payment timeouts"
        if number % 3 == 0
        else f"{'PR' if pull else 'Issue'} {number}",
        "state": state,
        "user": {"login": "priya" if number % 2 else "sam"},
        "labels": [{"name": "incident"}] if number % 3 == 0 else [],
        "assignees": [{"login": "oncall"}],
        "comments": number % 4,
        "created_at": f"2026-03-{number % 28 + 1:02d}T10:00:00Z",
        "updated_at": f"2026-03-{number % 28 + 1:02d}T12:00:00Z",
        "closed_at": None if state == "open" else f"2026-03-{number % 28 + 1:02d}T13:00:00Z",
        "body": f"body of {number}",
        "html_url": f"https://github.com/{OWNER}/{REPO}/issues/{number}",
    }
    if pull:
        item["pull_request"] = {"url": "…"}
    return item


def _pull(number: int) -> dict[str, Any]:
    item = _issue(number, "closed" if number % 2 else "open")
    item.update(
        draft=number % 5 == 0,
        head={"ref": f"fix-{number}"},
        base={"ref": "main"},
        merged_at="2026-03-14T14:38:40Z" if number % 2 else None,
        html_url=f"https://github.com/{OWNER}/{REPO}/pull/{number}",
    )
    return item


def _commit(index: int) -> dict[str, Any]:
    sha = hashlib.sha1(str(index).encode()).hexdigest()
    return {
        "sha": sha,
        "author": {"login": "priya"} if index % 2 else None,
        "commit": {
            "author": {
                "name": "Priya N",
                "email": "priya@example.com",
                "date": f"2026-03-14T14:0{index % 10}:00Z",
            },
            "committer": {"name": "GitHub", "date": f"2026-03-14T14:0{index % 10}:30Z"},
            "message": f"change {index}",
        },
        "html_url": f"https://github.com/{OWNER}/{REPO}/commit/{sha}",
    }


FILES = {
    "README.md": "# Shop\n\nThe shop's code.\n",
    "runbooks/payments.md": "# Payment timeouts and connection pool exhaustion\n\n"
    "Roll back, or restore PAYMENT_POOL_SIZE=50.\n",
    "runbooks/deploys.md": "```sh\n# not a title\n```\n# Rolling back a deploy\n\n"
    "Use the pipeline.\n",
    "src/app.py": "print('hi')\n",
}


@dataclass
class GitHubApi:
    """The fake API's state: its data, its quota, and the requests it received."""

    url: str = ""
    issues: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    limit: int = 5000
    remaining: int = 5000
    reset_in: float = 3600.0
    requests: list[tuple[str, dict[str, list[str]], str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _, _ in self.requests]

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"base_url": self.url, "token": TOKEN} | extra

    def blob(self, path: str) -> str:
        return hashlib.sha1(self.files[path].encode()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    api: GitHubApi

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        api = self.api
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        with api.lock:
            api.requests.append((url.path, query, self.headers.get("Authorization")))
            spent = api.remaining <= 0
            if not spent:
                api.remaining -= 1
        if self.headers.get("Authorization") not in (None, f"Bearer {TOKEN}"):
            self._send(401, {"message": "Bad credentials"})
            return
        if spent:
            self._send(403, {"message": "API rate limit exceeded for 127.0.0.1."})
            return
        self._route(url.path, query)

    def _route(self, path: str, query: Mapping[str, list[str]]) -> None:
        api, prefix = self.api, f"/repos/{OWNER}/{REPO}"
        if not path.startswith(prefix):
            self._send(404, {"message": "Not Found"})
            return
        rest = path[len(prefix) :]
        if rest == "":
            self._send(200, {"name": REPO, "default_branch": "main"})
        elif rest == "/issues":
            self._list(path, query, _by_state(api.issues, query))
        elif rest == "/pulls":
            self._list(path, query, _by_state(api.pulls, query))
        elif rest == "/commits":
            self._list(path, query, api.commits)
        elif rest.startswith("/git/trees/"):
            tree = [
                {"path": name, "type": "blob", "sha": api.blob(name), "size": len(text.encode())}
                for name, text in api.files.items()
            ]
            tree.append({"path": "runbooks", "type": "tree", "sha": "0" * 40})
            self._send(200, {"sha": "t" * 40, "tree": tree, "truncated": False})
        elif rest.startswith("/git/blobs/"):
            sha = rest.rsplit("/", 1)[1]
            text = next((t for n, t in api.files.items() if api.blob(n) == sha), None)
            if text is None:
                self._send(404, {"message": "Not Found"})
                return
            content = base64.encodebytes(text.encode()).decode()
            self._send(200, {"sha": sha, "encoding": "base64", "content": content})
        else:
            self._send(404, {"message": "Not Found"})

    def _list(self, path: str, query: Mapping[str, list[str]], items: list[dict[str, Any]]) -> None:
        if "since" in query:
            items = [i for i in items if i.get("updated_at", "") >= query["since"][0]]
        size = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * size : page * size]
        links = []
        if page * size < len(items):
            params = {k: v[0] for k, v in query.items()} | {"page": str(page + 1)}
            links.append(f'<{self.api.url}{path}?{urlencode(params)}>; rel="next"')
        self._send(200, chunk, {"Link": ", ".join(links)} if links else {})

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        api = self.api
        self.send_header("X-RateLimit-Limit", str(api.limit))
        self.send_header("X-RateLimit-Remaining", str(max(api.remaining, 0)))
        self.send_header("X-RateLimit-Reset", str(int(time.time() + api.reset_in)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _by_state(items: list[dict[str, Any]], query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    state = query.get("state", ["open"])[0]
    return items if state == "all" else [i for i in items if i["state"] == state]


def repository() -> GitHubApi:
    issues = [_issue(n, "open" if n % 2 else "closed", pull=n % 7 == 0) for n in range(1, 251)]
    return GitHubApi(
        issues=issues,
        pulls=[_pull(n) for n in range(1, 41)],
        commits=[_commit(i) for i in range(120)],
        files=dict(FILES),
    )


@contextmanager
def serving(api: GitHubApi) -> Iterator[GitHubApi]:
    """`api` answered on a free 127.0.0.1 port, in a thread of the test process."""
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def github_api() -> Iterator[GitHubApi]:
    """A fresh fake GitHub per test."""
    with serving(repository()) as api:
        yield api
