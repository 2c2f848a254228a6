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
from tests.process import SidecarProcess, free_port, settle

SSN = "123-45-6789"
KEYS = {"root": "k-root-5d1f", "bi": "k-bi-91aa", "rowf": "k-rowf-77c2"}


def headers(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[who]}"}


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
    pq.write_table(pa.table({**people, "ssn": [SSN, SSN]}), tmp_path / "dupes.parquet")
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
            {"from": "file:people.parquet", "name": "people", "acceleration": acceleration},
            {"from": "file:dupes.parquet", "name": "dupes", "acceleration": acceleration},
        ],
        "policies": [
            {"identities": ["root"], "datasets": ["*"]},
            {"identities": ["bi"], "datasets": ["*"], "columns": {"*.ssn": "deny"}},
            {"identities": ["rowf"], "datasets": ["*"], "rows": {"*": "country = 'FR'"}},
        ],
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    process = SidecarProcess(tmp_path / "sidecar.yaml")
    process.start(port, "/health")  # dupes never loads: never ready
    try:
        people["ssn"] = [SSN, SSN]
        pq.write_table(pa.table(people), tmp_path / "people.parquet")

        def get(path: str, who: str, method: str = "GET") -> Any:
            return httpx.request(method, f"{process.url}{path}", headers=headers(who), timeout=30)

        def failed_first() -> bool:
            found = {d["name"]: d for d in get("/v1/status", "root").json()["datasets"]}
            return bool(found["dupes"]["last_error"])

        settle(failed_first, "the first load of dupes")
        query = {"sql": "SELECT id FROM dupes"}
        failed = httpx.post(f"{process.url}/v1/sql", json=query, headers=headers("root"))
        assert failed.status_code == 503 and SSN in failed.text
        refreshed = get("/v1/datasets/people/acceleration/refresh", "root", "POST")
        assert refreshed.status_code >= 400 and SSN in refreshed.text
        shown = get("/v1/status", "root").json()["datasets"][0]
        assert shown["name"] == "people"
        assert SSN in shown["last_error"] and SSN in shown["acceleration"]["last_error"]
        assert SSN in str(describe(process.url, KEYS["root"]))
        for who in ("bi", "rowf"):
            status = get("/v1/status", who).json()["datasets"][0]
            assert status["name"] == "people"
            assert status["last_error"] == status["acceleration"]["last_error"] == HIDDEN_ERROR
            described = str(describe(process.url, KEYS[who]))
            assert "not shown under a policy" in described and SSN not in described
            failed = httpx.post(f"{process.url}/v1/sql", json=query, headers=headers(who))
            assert failed.status_code == 503 and SSN not in failed.text
            assert HIDDEN_ERROR in failed.json()["error"]["message"]
    finally:
        process.stop()
