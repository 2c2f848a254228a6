"""osmem-server: an in-memory OpenSearch-compatible server, shipped as a binary in its wheel.

The official elasticsearch client sends `application/vnd.elasticsearch+json; compatible-with=9`,
which osmem answers with 406, so the tests register two small transport nodes with the
client's own registry of node classes, and the datasets pick them with `params.node_class`
(the connector itself only ever uses the official client):

- `osmem` sends plain application/json. osmem has no Elasticsearch `_pit` endpoint, so the
  connector falls back to scrolling, as it would against OpenSearch.
- `osmem-pit` also serves Elasticsearch's point-in-time API (`POST /<index>/_pit`,
  `DELETE /_pit`) from OpenSearch's (`/_search/point_in_time`), so the search_after path
  runs against a real search_after implementation. osmem's `_shard_doc` values repeat across
  the indices of a pattern, so that path is tested on single indices.

Untested here for want of a real Elasticsearch: the real `_pit` API and its implicit
tiebreaker, `_sql`, Elasticsearch-only mapping types, and the compatible-with media type.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers import free_port, stop, unavailable, wait_for_port

PIT_OPEN = re.compile(r"^/([^/?]+)/_pit(\?.*)?$")
# (method, target, body) of every request the test nodes sent, oldest first.
SENT: list[tuple[str, str, bytes]] = []


def _program() -> str | None:
    try:
        from osmem_server import resolve_binary
    except ImportError:
        return shutil.which("osmem-server")
    try:
        return resolve_binary()
    except RuntimeError:
        return None


def _register_nodes() -> None:
    from elastic_transport import HttpHeaders, Urllib3HttpNode
    from elastic_transport._transport import NODE_CLASS_NAMES

    class JsonNode(Urllib3HttpNode):
        """Plain JSON media types, which OpenSearch-compatible servers accept."""

        def perform_request(self, method: str, target: str, body: Any = None, **kw: Any) -> Any:
            SENT.append((method, target, body or b""))
            return self.forward(method, target, body, **kw)

        def forward(self, method: str, target: str, body: Any, **kw: Any) -> Any:
            headers = HttpHeaders(kw.pop("headers", None) or {})
            for name in ("content-type", "accept"):
                if name in headers:
                    headers[name] = "application/json"
            return super().perform_request(method, target, body=body, headers=headers, **kw)

    class PitNode(JsonNode):
        """Elasticsearch's point-in-time API served from OpenSearch's."""

        def forward(self, method: str, target: str, body: Any, **kw: Any) -> Any:
            opened = PIT_OPEN.match(target)
            if method == "POST" and opened:
                target = f"/{opened.group(1)}/_search/point_in_time{opened.group(2) or ''}"
                response = super().forward(method, target, body, **kw)
                answer = json.loads(response.body)
                answer["id"] = answer.get("pit_id")
                return type(response)(response.meta, json.dumps(answer).encode())
            if method == "DELETE" and target == "/_pit":
                pit = json.loads(body)["id"]
                body = json.dumps({"pit_id": [pit]}).encode()
                target = "/_search/point_in_time"
            return super().forward(method, target, body, **kw)

    NODE_CLASS_NAMES.setdefault("osmem", JsonNode)
    NODE_CLASS_NAMES.setdefault("osmem-pit", PitNode)


@dataclass
class Osmem:
    url: str

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"hosts": self.url, "node_class": "osmem"} | extra

    def request(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def create(self, index: str, properties: Mapping[str, Any]) -> None:
        self.request("PUT", f"/{index}", {"mappings": {"properties": properties}})

    def load(self, index: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Index documents (their `_id` key, if any, becomes the document id) and refresh."""
        lines = []
        for doc in docs:
            action: dict[str, Any] = {"_index": index}
            if "_id" in doc:
                action["_id"] = str(doc["_id"])
            lines.append(json.dumps({"index": action}))
            source = {k: v for k, v in doc.items() if k != "_id"}
            lines.append(json.dumps(source, default=_iso))
        response = httpx.post(
            f"{self.url}/_bulk?refresh=true",
            content="\n".join(lines) + "\n",
            headers={"Content-Type": "application/x-ndjson"},
            timeout=30,
        )
        response.raise_for_status()
        assert not response.json().get("errors"), response.text[:500]

    def searches(self, index: str | None) -> list[dict[str, Any]]:
        """The search bodies sent so far to `index` (None: to `/_search`, as point-in-time
        searches are), as they went over the wire."""
        path = f"/{index}/_search" if index else "/_search"
        return [
            json.loads(body) for _, target, body in SENT if body and target.split("?")[0] == path
        ]


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


@pytest.fixture(scope="session")
def osmem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Osmem]:
    program = _program()
    if program is None:
        unavailable("osmem-server", "pip install osmem-server (make test installs it)")
    assert program is not None
    _register_nodes()
    port = free_port()
    log: Path = tmp_path_factory.mktemp("osmem") / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [program, "--addr", f"127.0.0.1:{port}", "--no-stdin-watch"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, 20, log)
        yield Osmem(f"http://127.0.0.1:{port}")
    finally:
        stop(process, signal.SIGTERM)
