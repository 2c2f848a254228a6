"""Bound parameters are bound into the statement as literals before it is planned, so
runtime.max_statement_size bounds them too, on every interface that binds them: HTTP's JSON
parameters, the Postgres wire's Bind and Flight SQL's DoPut (which read whatever a client sent).
The refusal says what the limit is and how to change it; the connection stays usable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import httpx
import psycopg
import pytest
import yaml

from tests.process import SidecarProcess, free_port

LIMIT = 64 << 10
SQL = "SELECT length($1) AS n"
FITS, PAST = "x" * (LIMIT - 100), "x" * (LIMIT + 1)
REFUSAL = (
    f"the parameters are {LIMIT + 1} bytes, more than runtime.max_statement_size ({LIMIT} bytes)"
)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    root: Path = tmp_path_factory.mktemp("parameters")
    port = free_port()
    config = {"runtime": {"http": {"port": port}, "max_statement_size": "64KiB"}}
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)
    yield process
    process.stop()


def test_http_parameters_are_bounded(sidecar: SidecarProcess) -> None:
    refused = httpx.post(f"{sidecar.url}/v1/sql", json={"sql": SQL, "parameters": [PAST]})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "statement_too_complex" and error["message"].startswith(REFUSAL)
    assert "raise runtime.max_statement_size" in error["hint"]
    fits = httpx.post(f"{sidecar.url}/v1/sql", json={"sql": SQL, "parameters": [FITS]})
    assert fits.json() == [{"n": len(FITS)}]


def test_postgres_bind_is_bounded(sidecar: SidecarProcess) -> None:
    dsn = f"host=127.0.0.1 port={sidecar.pg_port} user=agent dbname=sidecar"
    with psycopg.connect(dsn, autocommit=True) as connection:
        with pytest.raises(psycopg.errors.StatementTooComplex) as refused:
            connection.execute(SQL.replace("$1", "%s"), [PAST])
        assert str(refused.value.diag.message_primary).startswith(REFUSAL)
        assert "raise runtime.max_statement_size" in str(refused.value.diag.message_hint)
        row = connection.execute(SQL.replace("$1", "%s"), [FITS]).fetchone()
        assert row == (len(FITS),)


def test_flight_doput_is_bounded(sidecar: SidecarProcess) -> None:
    with adbc.connect(sidecar.flight_url, autocommit=True) as connection:
        with (
            connection.cursor() as cursor,
            pytest.raises(
                adbc.Error, match=re.escape(f"more than runtime.max_statement_size ({LIMIT} bytes)")
            ) as refused,
        ):
            cursor.execute(SQL, parameters=(PAST,))
        assert "raise runtime.max_statement_size" in str(refused.value)
        with connection.cursor() as cursor:
            cursor.execute(SQL, parameters=(FITS,))
            assert cursor.fetchall() == [(len(FITS),)]
