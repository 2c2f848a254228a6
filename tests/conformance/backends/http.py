"""`http:` over a JSON API on 127.0.0.1 (tests/http_api_server.py), paged four rows at a time
with `?page=&per_page=` behind a bearer token; its request log shows each GET.

JSON has no decimals, dates or times: the API sends them as text, as APIs do, and the dataset
declares its columns. An API takes no filters, so every shape stays in the engine.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import FILTERS, TYPES, types_table
from tests.http_api_server import ApiServer, Reply, Request
from tests.peers import free_port

TOKEN = "http-secret-token-3"
PAGE = 4
FIRST, SECOND = (f"/types?page={page}&per_page={PAGE}" for page in (1, 2))


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal | dt.date) else value


class Http(Conf):
    name = "http"
    scheme = "http"
    refuses = frozenset(FILTERS)
    secret_param = "headers"

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        records = [{k: _json(v) for k, v in row.items()} for row in types_table().to_pylist()]
        server = ApiServer().__enter__()
        request.addfinalizer(lambda: server.__exit__(None, None, None))

        def page(asked: Request) -> Reply:
            if asked.headers.get("authorization") != f"Bearer {TOKEN}":
                return Reply({"message": "Bad credentials"}, status=401)
            number, size = int(asked.query["page"]), int(asked.query["per_page"])
            return Reply(records[(number - 1) * size : number * size])

        server.route("/types", page)
        pagination = {"type": "page", "size_param": "per_page", "size": PAGE}
        params = {"headers": {"Authorization": f"Bearer {TOKEN}"}, "pagination": pagination}
        down = f"http://127.0.0.1:{free_port()}"
        return cls(
            server.url("/types"),
            params,
            TYPES,
            declared=TYPES,
            peer=server,
            broken={
                "credentials": {"params": params | {"headers": {"Authorization": "Bearer wrong"}}},
                "down": {"location": f"{down}/types", "params": params | {"retries": 0}},
            },
            sends={
                kind: f"GET {server.url(FIRST)} (page pagination) limit={limit}"
                for kind, limit in (("limit", 2), ("lookup", 5))
            },
            # A LIMIT stops the paging; the filters stay in the engine.
            receives={"limit": [f"GET {FIRST}"], "lookup": [f"GET {FIRST}", f"GET {SECOND}"]},
            errors={
                "missing": (
                    f"GET {server.url(FIRST.replace('types', 'typos'))} failed with HTTP 404 "
                    'Not Found: {"message": "Not Found"}',
                    "check the URL in the dataset's from:",
                ),
                "credentials": (
                    f"GET {server.url(FIRST)} failed with HTTP 401 Unauthorized: "
                    '{"message": "Bad credentials"}',
                    "the API refused the credentials; check the headers in params.headers",
                ),
                "down": (
                    f"GET {down}{FIRST} failed: cannot connect to 127.0.0.1 ([Errno 111] "
                    "Connection refused)",
                    "check that the API is reachable from the sidecar",
                ),
            },
        )

    def received(self) -> list[str]:
        return [
            f"GET {asked.path}?" + "&".join(f"{k}={v}" for k, v in asked.query.items())
            for asked in self.peer.requests
        ]


CONF = Http
