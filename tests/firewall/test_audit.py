"""The audit log and the metrics: a line per statement and per failed login on every interface,
with what was asked and what came of it, and never a key or a secret."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import adbc_driver_manager
import httpx
import psycopg
import pytest

from tests.firewall.clients import INTERFACES, runner
from tests.firewall.conftest import SOURCE_TOKEN, Firewall, identity

# The interface name each client's statements are audited under.
AUDITED_AS = {
    "http": "http", "psycopg": "pg", "asyncpg": "pg", "adbc": "flight", "mcp": "mcp",
    "tools": "llm",
}  # fmt: skip
FIELDS = {
    "time", "identity", "interface", "client", "sql", "decision", "code", "reason", "datasets",
    "rows", "bytes", "duration_ms", "cache", "lane", "source_queries",
}  # fmt: skip


def audited(path: Path, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first audit line `wanted` accepts, waiting for the writer thread to write it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if wanted(record):
                    return record
        time.sleep(0.05)
    raise AssertionError(f"no such audit line in {path}")


def audit_file(firewall: Firewall, interface: str) -> Path:
    return firewall.tools_audit if interface == "tools" else firewall.audit


@pytest.mark.parametrize("interface", INTERFACES)
def test_each_statement_is_one_audit_line(firewall: Firewall, interface: str) -> None:
    who = identity("free", interface)
    marker = f"marker-{secrets.token_hex(4)}"
    sql = f"SELECT '{marker}' AS m, count(*) AS n FROM orders WHERE status = 'failed'"
    answer = runner(interface, firewall.endpoints)(who, firewall.keys[who], sql)
    assert answer.rows == [{"m": marker, "n": 100}]
    record = audited(audit_file(firewall, interface), lambda r: marker in (r.get("sql") or ""))
    assert set(record) == FIELDS
    assert record["identity"] == who and record["interface"] == AUDITED_AS[interface]
    assert record["client"]
    assert record["decision"] == "ok" and record["code"] is None and record["reason"] is None
    assert record["datasets"] == ["orders"]
    assert record["rows"] == 1 and record["bytes"] > 0 and record["duration_ms"] > 0
    assert record["cache"] in ("MISS", "BYPASS") and record["source_queries"] == 1
    assert record["time"].endswith("Z")


@pytest.mark.parametrize("interface", INTERFACES)
def test_refusals_and_errors_are_audited_with_their_reason(
    firewall: Firewall, interface: str
) -> None:
    run = runner(interface, firewall.endpoints)
    capped = identity("capped", interface)
    marker = f"m{secrets.token_hex(4)}"
    assert run(capped, firewall.keys[capped], f"SELECT id AS {marker} FROM orders").failure
    path = audit_file(firewall, interface)
    refused = audited(path, lambda r: marker in (r.get("sql") or ""))
    assert refused["decision"] == "refused" and refused["code"] == "limit_exceeded"
    assert "max_rows" in refused["reason"] and refused["datasets"] == ["orders"]
    assert refused["rows"] == 0 and refused["bytes"] == 0  # nothing was served
    free = identity("free", interface)
    assert run(free, firewall.keys[free], f"DELETE FROM orders WHERE id = '{marker}'").failure
    forbidden = audited(
        path, lambda r: f"DELETE FROM orders WHERE id = '{marker}'" in (r.get("sql") or "")
    )
    assert forbidden["decision"] == "refused" and forbidden["code"] == "forbidden"
    assert run(free, firewall.keys[free], f"SELECT nope AS {marker}x FROM orders").failure
    failed = audited(path, lambda r: f"{marker}x" in (r.get("sql") or ""))
    assert failed["decision"] == "error" and failed["code"] == "undefined_column"


def test_keys_and_secrets_never_reach_the_audit_log(firewall: Firewall) -> None:
    who = identity("free", "http")
    leaked = firewall.keys[identity("paced", "adbc")]
    sql = f"SELECT '{leaked}' AS k, '{SOURCE_TOKEN}' AS t"
    assert runner("http", firewall.endpoints)(who, firewall.keys[who], sql).rows
    record = audited(firewall.audit, lambda r: "AS k, " in (r.get("sql") or ""))
    assert record["sql"] == "SELECT '***' AS k, '***' AS t"
    for path in (firewall.audit, firewall.tools_audit):
        text = path.read_text()
        assert SOURCE_TOKEN not in text
        assert not [key for key in firewall.keys.values() if key in text]


def test_failed_logins_are_audited_per_interface(firewall: Firewall) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    endpoints = firewall.endpoints
    response = httpx.post(
        f"{endpoints.http}/v1/sql", content="SELECT 1", headers={"Authorization": f"Bearer {wrong}"}
    )
    assert response.status_code == 401
    user = f"intruder-{secrets.token_hex(3)}"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            f"host=127.0.0.1 port={endpoints.pg_port} dbname=firewall user={user} password={wrong}"
        )
    with pytest.raises(adbc_driver_manager.Error):
        adbc.connect(endpoints.flight, db_kwargs={"username": user, "password": wrong})
    lines = firewall.audit
    http = audited(lines, lambda r: r["decision"] == "auth_failed" and r["interface"] == "http")
    assert http["code"] == "unauthenticated" and http["client"].startswith("127.0.0.1:")
    for interface in ("pg", "flight"):
        audited(
            lines,
            lambda r, i=interface: (
                (r["decision"], r["interface"], r["identity"]) == ("auth_failed", i, user)
            ),
        )
    assert wrong not in lines.read_text()


def test_a_failed_flight_login_is_audited_with_the_client_address(firewall: Firewall) -> None:
    """An agent presenting a wrong key as a bearer token over ADBC: the audit line says from
    where (pyarrow tells the middleware no peer; the handler's context does)."""
    wrong = "wrong-" + secrets.token_hex(8)
    header = {"adbc.flight.sql.authorization_header": f"Bearer {wrong}"}
    with (
        pytest.raises(adbc_driver_manager.Error, match=r"(?i)unauthenticated|API key"),
        adbc.connect(firewall.endpoints.flight, db_kwargs=header) as conn,
    ):
        conn.cursor().execute("SELECT 1")
    record = audited(
        firewall.audit,
        lambda r: (r["decision"], r["interface"]) == ("auth_failed", "flight") and r["client"],
    )
    assert record["client"].startswith("127.0.0.1:") and record["code"] == "unauthenticated"
    assert wrong not in firewall.audit.read_text()


def metrics_of(firewall: Firewall, who: str) -> str:
    headers = {"Authorization": f"Bearer {firewall.keys[who]}"}
    return httpx.get(f"{firewall.endpoints.http}/metrics", headers=headers).text


def test_metrics_count_per_identity(firewall: Firewall) -> None:
    run = runner("http", firewall.endpoints)
    free, capped = identity("free", "http"), identity("capped", "http")
    assert run(free, firewall.keys[free], "SELECT id FROM orders LIMIT 7").rows
    assert run(capped, firewall.keys[capped], "SELECT * FROM orders").failure
    metrics = metrics_of(firewall, identity("ops", "http"))
    assert f'sidecar_queries_total{{identity="{free}",interface="http",outcome="ok"}}' in metrics
    refused = f'sidecar_queries_total{{identity="{capped}",interface="http",'
    assert refused + 'outcome="limit_exceeded"}' in metrics
    assert f'sidecar_refusals_total{{identity="{capped}",reason="max_rows"}}' in metrics
    assert f'sidecar_rows_returned_total{{identity="{free}",interface="http"}}' in metrics
    assert f'sidecar_bytes_returned_total{{identity="{free}",interface="http"}}' in metrics


def test_an_agent_reads_only_its_own_identity_series(firewall: Firewall) -> None:
    """Another identity's series would tell an agent which identities exist and what they
    do; only a policy with `metrics: all` (the operator's scraper) reads every identity's."""
    run = runner("http", firewall.endpoints)
    free, capped = identity("free", "http"), identity("capped", "http")
    assert run(free, firewall.keys[free], "SELECT id FROM orders LIMIT 3").rows
    assert run(capped, firewall.keys[capped], "SELECT * FROM orders").failure
    own = metrics_of(firewall, capped)
    assert f'sidecar_refusals_total{{identity="{capped}",reason="max_rows"}}' in own
    assert "sidecar_queries_total{" in own and "sidecar_dataset_ready{" in own
    assert "identity=" in own and not any(
        f'identity="{other}"' in own for other in firewall.keys if other != capped
    )
    assert f'identity="{free}"' in metrics_of(firewall, identity("ops", "http"))


def test_a_statement_refused_at_bind_is_audited(firewall: Firewall) -> None:
    """A pg value that does not decode fails at Bind, before the statement runs: it must
    still leave its audit line (it left none)."""
    who = identity("free", "psycopg")
    port = firewall.endpoints.pg_port
    marker = f"bind_probe_{secrets.token_hex(4)}"
    dsn = f"host=127.0.0.1 port={port} dbname=firewall user={who} password={firewall.keys[who]}"
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InvalidTextRepresentation),
    ):
        conn.execute(f"SELECT id AS {marker} FROM orders WHERE id = %s::int", ["zz"])
    line = audited(firewall.audit, lambda r: marker in (r.get("sql") or ""))
    assert (line["identity"], line["interface"], line["decision"]) == (who, "pg", "error")
    assert "invalid input syntax" in line["reason"]
