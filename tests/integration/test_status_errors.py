"""A dataset's failed refresh as each caller reads it (/v1/status, the refresh endpoint, MCP's
describe_dataset): the source's message quotes what it failed on, here a duplicate key of a
column `bi` is denied, so only a caller no policy narrows on the dataset reads it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from policies.access import HIDDEN_ERROR
from tests.process import SidecarProcess, free_port

SSN = "123-45-6789"
KEYS = {"root": "k-root-5d1f", "bi": "k-bi-91aa", "rowf": "k-rowf-77c2"}


def describe(url: str, key: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            Client(streamable_http_client(f"{url}/v1/mcp", http_client=http)) as client,
        ):
            found = await client.call_tool("describe_dataset", {"dataset": "people"})
            return found.structured_content or {}

    return asyncio.run(run())


def test_a_failed_refresh_quotes_the_source_only_to_callers_it_shows_everything(
    tmp_path: Path,
) -> None:
    people = {"id": [1, 2], "ssn": [SSN, "987-65-4321"], "country": ["DE", "FR"]}
    pq.write_table(pa.table(people), tmp_path / "people.parquet")
    port = free_port()
    acceleration = {"engine": "duckdb", "primary_key": "ssn", "refresh_retry_max_attempts": 0}
    config = {
        "version": 1,
        "name": "status-errors",
        "runtime": {
            "http": {"port": port},
            "auth": {"api_keys": [{"key": k, "identity": who} for who, k in KEYS.items()]},
        },
        "datasets": [
            {"from": "file:people.parquet", "name": "people", "acceleration": acceleration}
        ],
        "policies": [
            {"identities": ["root"], "datasets": ["*"]},
            {"identities": ["bi"], "datasets": ["people"], "columns": {"people.ssn": "deny"}},
            {"identities": ["rowf"], "datasets": ["people"], "rows": {"people": "country = 'FR'"}},
        ],
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    process = SidecarProcess(tmp_path / "sidecar.yaml")
    process.start(port)
    try:
        people["ssn"] = [SSN, SSN]
        pq.write_table(pa.table(people), tmp_path / "people.parquet")

        def get(path: str, who: str, method: str = "GET") -> Any:
            headers = {"Authorization": f"Bearer {KEYS[who]}"}
            return httpx.request(method, f"{process.url}{path}", headers=headers, timeout=30)

        refreshed = get("/v1/datasets/people/acceleration/refresh", "root", "POST")
        assert refreshed.status_code >= 400 and SSN in refreshed.text
        shown = get("/v1/status", "root").json()["datasets"][0]
        assert SSN in shown["last_error"] and SSN in shown["acceleration"]["last_error"]
        assert SSN in describe(process.url, KEYS["root"])["freshness"]["last_error"]
        for who in ("bi", "rowf"):
            status = get("/v1/status", who).json()["datasets"][0]
            assert status["state"] == "stale"
            assert status["last_error"] == status["acceleration"]["last_error"] == HIDDEN_ERROR
            described = describe(process.url, KEYS[who])
            assert described["freshness"]["last_error"] == HIDDEN_ERROR
            assert SSN not in str(described)
    finally:
        process.stop()
