"""`github:` over a local server answering like GitHub's REST API (tests/peers/github.py),
the shared rows as a repository's issues, listed four to a page; its log shows each GET.

An issue is a fixed shape, so the table's columns that fit one travel in it (`id` as the
issue's number, `i32` its comment count, `txt` its title, `ts` its creation time, which GitHub
gives to the second); shapes over the other columns have nothing to run on here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import types_table
from tests.peers import free_port
from tests.peers.github import OWNER, REPO, GitHubApi, serving

TIME = pa.timestamp("s", tz="UTC")
ISSUES = pa.schema(
    [
        ("number", pa.int64()),
        ("title", pa.string()),
        ("state", pa.string()),
        ("author", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("assignees", pa.list_(pa.string())),
        ("comments", pa.int64()),
        ("created_at", TIME),
        ("updated_at", TIME),
        ("closed_at", TIME),
        ("body", pa.string()),
        ("url", pa.string()),
    ]
)
LISTING = f"/repos/{OWNER}/{REPO}/issues?state=all&per_page=4"


def _issue(row: dict[str, Any]) -> dict[str, Any]:
    created = row["ts"]
    return {
        "number": row["id"],
        "title": row["txt"],
        "state": "open",
        "user": None,
        "labels": [],
        "assignees": [],
        "comments": row["i32"],
        "created_at": None if created is None else f"{created:%Y-%m-%dT%H:%M:%SZ}",
        "updated_at": "2024-03-01T00:00:00Z",
        "closed_at": None,
        "body": None,
        "html_url": f"https://github.com/{OWNER}/{REPO}/issues/{row['id']}",
    }


class GitHub(Conf):
    name = "github"
    scheme = "github"
    timestamp_unit = "s"
    columns = {"id": "number", "i32": "comments", "txt": "title", "ts": "created_at"}
    secret_param = "token"

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        api = GitHubApi(issues=[_issue(row) for row in types_table().to_pylist()])
        serving_api = serving(api)
        serving_api.__enter__()
        request.addfinalizer(lambda: serving_api.__exit__(None, None, None))
        params = api.params(per_page=4)
        down = f"http://127.0.0.1:{free_port()}"
        return cls(
            f"{OWNER}/{REPO}/issues",
            params,
            ISSUES,
            peer=api,
            broken={
                "credentials": {"params": params | {"token": "wrong"}},
                "down": {"params": params | {"base_url": down, "rate_limit_wait": 0}},
            },
            sends={
                kind: f"github GET {api.url}{LISTING} (link pagination) "
                f'filter=("comments" {where}) limit={limit}'
                for kind, where, limit in (("limit", "> 2", 2), ("lookup", "= 3", 5))
            },
            # A LIMIT stops at the first page that fills it; a filter alone reads every page.
            receives={
                "limit": [f"GET {LISTING}"],
                "lookup": [f"GET {LISTING}", f"GET {LISTING}&page=2", f"GET {LISTING}&page=3"],
            },
            errors={
                "missing": (
                    f"GET {api.url}{LISTING.replace('shop', 'typos')} failed with HTTP 404 "
                    "Not Found: Not Found",
                    "check owner/repo in from:, and that the token can see the repository",
                ),
                "credentials": (
                    f"GET {api.url}{LISTING} failed with HTTP 401 Unauthorized: Bad credentials",
                    "GitHub refused the token; check params.token",
                ),
                "down": (
                    f"GET {down}{LISTING} failed: cannot connect to 127.0.0.1 ([Errno 111] "
                    "Connection refused)",
                    "check params.base_url and that the API is reachable",
                ),
            },
        )

    def typo(self) -> str:
        return f"{OWNER}/typos/issues"

    def received(self) -> list[str]:
        with self.peer.lock:
            requests = list(self.peer.requests)
        return [
            f"GET {path}?" + "&".join(f"{k}={v[0]}" for k, v in query.items())
            for path, query, _ in requests
        ]


CONF = GitHub
