"""Invisible means invisible on every catalog surface, not only in SQL (test_probes.py): HTTP's
/v1/datasets and /v1/status, pg_catalog as psql, psycopg and asyncpg read it, Flight SQL
metadata as ADBC's get_objects reads it, MCP's tools and resources, and the model's
list_datasets and table_schema."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import asyncpg
import httpx
import psycopg
import pytest

from tests.firewall.clients import mcp_session, on_loop
from tests.firewall.conftest import Firewall, identity

SEES = {"sre": ["customers", "orders", "vip"], "bi": ["vip"], "stranger": []}
SRE_CUSTOMERS = ["id", "name", "email", "country"]
RELATIONS = (
    "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
    "ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1"
)
ATTRIBUTES = (
    "SELECT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c "
    "ON c.oid = a.attrelid WHERE c.relname = 'customers' AND a.attnum > 0 ORDER BY a.attnum"
)


def get(firewall: Firewall, role: str, path: str) -> Any:
    who = identity(role, "http")
    headers = {"Authorization": f"Bearer {firewall.keys[who]}"}
    response = httpx.get(f"{firewall.endpoints.http}{path}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("role", SEES)
def test_http_lists_only_what_the_identity_sees(firewall: Firewall, role: str) -> None:
    datasets = get(firewall, role, "/v1/datasets")
    assert [item["name"] for item in datasets] == SEES[role]
    status = get(firewall, role, "/v1/status")
    shown = sorted(item["name"] for item in status["datasets"])
    assert shown == [name for name in SEES[role] if name != "vip"]


def test_http_shows_the_callers_columns_and_no_view_sql_over_ruled_data(
    firewall: Firewall,
) -> None:
    sre = {item["name"]: item for item in get(firewall, "sre", "/v1/datasets")}
    columns = {column["name"]: column["type"] for column in sre["customers"]["columns"]}
    assert list(columns) == SRE_CUSTOMERS and columns["email"] == "text"
    assert sre["vip"]["sql"] is None  # it reads customers, which sre sees only in part
    free = {item["name"]: item for item in get(firewall, "free", "/v1/datasets")}
    assert "credit_limit" in [column["name"] for column in free["customers"]["columns"]]
    assert free["vip"]["sql"].startswith("SELECT id, name, country FROM customers")


def test_refreshing_a_hidden_dataset_fails_as_for_a_missing_one(firewall: Firewall) -> None:
    who = identity("sre", "http")
    headers = {"Authorization": f"Bearer {firewall.keys[who]}"}
    answers = [
        httpx.post(f"{firewall.endpoints.http}/v1/datasets/{name}/acceleration/refresh",
                   headers=headers, timeout=30)
        for name in ("events", "eventz")
    ]  # fmt: skip
    hidden, missing = (answer.json()["error"] for answer in answers)
    assert answers[0].status_code == answers[1].status_code == 404
    assert hidden["hint"] == missing["hint"]
    assert hidden["message"] == missing["message"].replace("eventz", "events")


def psql(firewall: Firewall, role: str, *commands: str) -> str:
    if not shutil.which("psql"):
        pytest.skip("psql is not installed (make test installs postgresql-client)")
    who = identity(role, "psycopg")
    dsn = f"host=127.0.0.1 port={firewall.endpoints.pg_port} dbname=firewall user={who}"
    args = ["psql", dsn, "-X"] + [part for command in commands for part in ("-c", command)]
    env = {**os.environ, "PGPASSWORD": firewall.keys[who], "PGCONNECT_TIMEOUT": "10"}
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    return result.stdout + result.stderr


def test_psql_lists_and_describes_only_what_is_visible(firewall: Firewall) -> None:
    listed = psql(firewall, "sre", r"\dtv")
    for name in SEES["sre"]:
        assert f"public | {name} " in listed, listed
    assert "events" not in listed and "slow" not in listed
    described = psql(firewall, "sre", r"\d customers", r"\d events")
    assert " email " in described and "credit_limit" not in described, described
    assert 'Did not find any relation named "events"' in described
    assert psql(firewall, "bi", r"\dtv").count("public |") == 1


def test_pg_catalog_over_psycopg_and_asyncpg(firewall: Firewall) -> None:
    port = firewall.endpoints.pg_port
    who = identity("sre", "psycopg")
    dsn = f"host=127.0.0.1 port={port} dbname=firewall user={who} password={firewall.keys[who]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert [row[0] for row in conn.execute(RELATIONS)] == SEES["sre"]
        assert [row[0] for row in conn.execute(ATTRIBUTES)] == SRE_CUSTOMERS

    async def fetch(role: str) -> list[list[str]]:
        who = identity(role, "asyncpg")
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user=who, password=firewall.keys[who],
            database="firewall", ssl=False,
        )  # fmt: skip
        try:
            return [[row[0] for row in await conn.fetch(sql)] for sql in (RELATIONS, ATTRIBUTES)]
        finally:
            await conn.close()

    assert asyncio.run(fetch("sre")) == [SEES["sre"], SRE_CUSTOMERS]
    assert asyncio.run(fetch("bi")) == [["vip"], []]
    assert asyncio.run(fetch("stranger")) == [[], []]


def flight_connection(firewall: Firewall, role: str) -> adbc.Connection:
    who = identity(role, "adbc")
    kwargs = {"username": who, "password": firewall.keys[who]}
    return adbc.connect(firewall.endpoints.flight, db_kwargs=kwargs, autocommit=True)


@pytest.mark.parametrize("role", SEES)
def test_flight_metadata_lists_only_what_is_visible(firewall: Firewall, role: str) -> None:
    with flight_connection(firewall, role) as conn:
        found = conn.adbc_get_objects(depth="columns", db_schema_filter="public").read_all()
        [public] = found.to_pylist()[0]["catalog_db_schemas"]
        tables = {t["table_name"]: t for t in public["db_schema_tables"]}
        assert sorted(tables) == SEES[role]
        if "customers" in tables:
            columns = [c["column_name"] for c in tables["customers"]["table_columns"]]
            assert columns == SRE_CUSTOMERS
        schemas = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
        names = [s["db_schema_name"] for s in schemas[0]["catalog_db_schemas"]]
        assert names == ["information_schema", "public"]  # nothing of a dataset in them


def test_flight_table_schema_of_a_hidden_dataset_is_not_found(firewall: Firewall) -> None:
    with flight_connection(firewall, "sre") as conn:
        assert conn.adbc_get_table_schema("customers").names == SRE_CUSTOMERS
        for name in ("events", "eventz"):
            with pytest.raises(adbc.Error):
                conn.adbc_get_table_schema(name)


def tool(firewall: Firewall, role: str, name: str, arguments: dict[str, Any]) -> Any:
    sidecar = firewall.endpoints.tools
    assert sidecar.http.llm is not None
    who = identity(role, "tools")
    caller = sidecar.authenticator.identify(firewall.keys[who])
    call = sidecar.http.llm.tools.call("call_1", name, json.dumps(arguments), caller, "tool")
    return json.loads(on_loop(call).content)


def test_the_models_tools_see_only_what_the_identity_sees(firewall: Firewall) -> None:
    listed = tool(firewall, "sre", "list_datasets", {})
    assert [table["name"] for table in listed["tables"]] == SEES["sre"]
    schema = tool(firewall, "sre", "table_schema", {"table": "customers"})
    assert [column["name"] for column in schema["columns"]] == SRE_CUSTOMERS
    hidden = tool(firewall, "sre", "table_schema", {"table": "events"})["error"]
    missing = tool(firewall, "sre", "table_schema", {"table": "eventz"})["error"]
    assert hidden["code"] == missing["code"] == "undefined_table"
    assert hidden["hint"] == missing["hint"]
    assert tool(firewall, "stranger", "list_datasets", {}) == {"tables": []}
    sidecar = firewall.endpoints.tools
    assert sidecar.http.llm is not None
    stranger = sidecar.authenticator.identify(firewall.keys[identity("stranger", "tools")])
    [sample] = sidecar.http.llm.tools.specs(["sample_data"], stranger)
    assert sample["function"]["parameters"]["properties"]["table"] == {"type": "string"}


@pytest.mark.parametrize("role", ["sre", "stranger"])
def test_mcp_lists_and_describes_only_what_is_visible(firewall: Firewall, role: str) -> None:
    who = identity(role, "mcp")

    async def main() -> None:
        async with mcp_session(firewall.endpoints.http, firewall.keys[who]) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            schema = tools["describe_dataset"].input_schema["properties"]["dataset"]
            assert schema.get("enum", []) == SEES[role]
            listed = await client.call_tool("list_datasets", {})
            assert [d["name"] for d in listed.structured_content["datasets"]] == SEES[role]
            resources = [r.uri for r in (await client.list_resources()).resources]
            assert resources == [f"dataset://{name}" for name in SEES[role]] + ["sidecar://status"]
            errors = []
            for name in ("events", "eventz"):
                answer = await client.call_tool("describe_dataset", {"dataset": name})
                assert answer.is_error
                errors.append(answer.structured_content["error"])
            assert errors[0]["code"] == errors[1]["code"] == "undefined_table"
            assert errors[0]["hint"] == errors[1]["hint"] and "events" not in errors[0]["hint"]
            if "customers" in SEES[role]:
                described = await client.call_tool("describe_dataset", {"dataset": "customers"})
                columns = described.structured_content["columns"]
                assert [column["name"] for column in columns] == SRE_CUSTOMERS

    asyncio.run(main())


def test_a_row_filtered_dataset_never_tells_its_full_row_count(firewall: Firewall) -> None:
    """customers has 12 rows; sre sees the 4 of its country: the source's count on a status
    page, pg_class.reltuples, a metrics gauge or a tool would tell it how many are hidden."""
    status = {item["name"]: item for item in get(firewall, "sre", "/v1/status")["datasets"]}
    assert status["customers"]["rows"] is None and status["orders"]["rows"] == 1000
    free = {item["name"]: item for item in get(firewall, "free", "/v1/status")["datasets"]}
    assert free["customers"]["rows"] == 12
    who = identity("sre", "http")
    metrics = httpx.get(
        f"{firewall.endpoints.http}/metrics",
        headers={"Authorization": f"Bearer {firewall.keys[who]}"},
        timeout=30,
    ).text
    assert 'sidecar_dataset_ready{dataset="customers"} 1.0' in metrics
    assert 'dataset="events"' not in metrics and 'dataset="slow"' not in metrics
    assert 'sidecar_dataset_rows{dataset="customers"}' not in metrics
    assert 'sidecar_dataset_rows{dataset="orders"} 1000.0' in metrics
    reltuples = "SELECT reltuples FROM pg_catalog.pg_class WHERE relname = 'customers'"
    assert "-1" in psql(firewall, "sre", reltuples)
    schema = tool(firewall, "sre", "table_schema", {"table": "customers"})
    assert schema["rows"] is None


def test_a_refresh_takes_a_rate_token(firewall: Firewall) -> None:
    """A refresh reads the whole source again: an agent looping on it must meet its rate
    limit (1/m, burst 2) like a query does. This process's limiter never saw paced-tools."""
    who = identity("paced", "tools")
    headers = {"Authorization": f"Bearer {firewall.keys[who]}"}
    url = f"{firewall.endpoints.http}/v1/datasets/events/acceleration/refresh"
    answers = [httpx.post(url, headers=headers, timeout=30) for _ in range(3)]
    statuses = [answer.status_code for answer in answers]
    assert 429 not in statuses[:2] and statuses[2] == 429, answers[-1].text
    assert "rate limit" in answers[-1].json()["error"]["message"]
    assert "Retry-After" in answers[-1].headers
