"""A row filter beside the caller's predicates at a real SQL source: the source evaluates its
WHERE in any order, so a predicate that can raise (division by zero) must never reach it beside
the filter (an error raised on a hidden row would tell the caller it exists), while plain
comparisons, which cannot raise, still go with the filter. Connectors take only
column-versus-literal shapes of matching types (connectors/predicates.py): this holds them to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import SidecarError
from tests.peers.mariadb import MariaDB
from tests.peers.postgres import Postgres

SRE = Identity("sre", {"country": "DE"})
ROWS = "(1, 'DE', 3), (2, 'DE', 5), (3, 'FR', 1), (4, 'FR', 0)"  # x = 1 only in hidden rows
PROBE = "SELECT id FROM {table} WHERE 10 / (x - 1) > 0"
SAFE = "SELECT id FROM {table} WHERE id IN (2, 3, 4) AND country LIKE 'D%'"


@pytest.fixture(scope="module")
def engine(
    postgres: Postgres, mariadb: MariaDB, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    postgres.execute(
        "DROP TABLE IF EXISTS public.guarded",
        "CREATE TABLE public.guarded (id int, country text, x int)",
        f"INSERT INTO public.guarded VALUES {ROWS}",
        f"GRANT SELECT ON public.guarded TO {postgres.user}",
    )
    mariadb.execute(
        "DROP TABLE IF EXISTS shop.guarded",
        "CREATE TABLE shop.guarded (id int, country varchar(8), x int)",
        f"INSERT INTO shop.guarded VALUES {ROWS}",
    )
    datasets: list[dict[str, Any]] = [
        {"from": "postgres:public.guarded", "name": "pg_guarded", "params": postgres.params()},
        {"from": "mysql:shop.guarded", "name": "my_guarded", "params": mariadb.params()},
    ]
    policies = [
        {
            "identities": ["sre"],
            "datasets": ["*"],
            "rows": {"*_guarded": "country = {identity.country}"},
        }
    ]
    root: Path = tmp_path_factory.mktemp("policy-pushdown")
    config = {"name": "guarded", "datasets": datasets, "policies": policies}
    engine = Engine(parse_config(config, root))
    engine.load()
    yield engine
    engine.close()


def rows(engine: Engine, sql: str) -> list[int]:
    return sorted(row["id"] for batch in engine.query(sql, (), SRE) for row in batch.to_pylist())


def test_a_predicate_that_can_fail_is_never_run_on_hidden_rows(
    engine: Engine, postgres: Postgres, mariadb: MariaDB
) -> None:
    """PostgreSQL raises division by zero if it sees the FR rows."""
    assert rows(engine, PROBE.format(table="pg_guarded")) == [1, 2]
    assert rows(engine, "SELECT id FROM pg_guarded WHERE 10 / (x - 1) > 3") == [1]
    assert rows(engine, PROBE.format(table="my_guarded")) == [1, 2]
    sent = postgres.statements("guarded") + mariadb.statements("guarded")
    assert sent and not any("/" in statement for statement in sent), sent


def test_a_nul_in_a_literal_stays_in_the_sidecar(engine: Engine) -> None:
    """PostgreSQL reads its statement as a C string: a NUL cut the pushed SQL short, and the
    error echoed the statement sent, row filter and source table included."""
    for table in ("pg_guarded", "my_guarded"):
        assert rows(engine, f"SELECT id FROM {table} WHERE country <> 'D\0E'") == [1, 2]


def test_a_source_error_quotes_no_policy(engine: Engine, postgres: Postgres) -> None:
    """PostgreSQL's error quotes the statement it was sent (the row filter's literal) and
    lists its catalog; a restricted caller gets neither. 1e400 was pushed as `inf`."""
    assert rows(engine, "SELECT id FROM pg_guarded WHERE x < 1e400") == [1, 2]
    postgres.execute(f"REVOKE SELECT ON public.guarded FROM {postgres.user}")
    try:
        with pytest.raises(SidecarError) as caught:
            rows(engine, "SELECT id FROM pg_guarded WHERE x > 2")
    finally:
        postgres.execute(f"GRANT SELECT ON public.guarded TO {postgres.user}")
    told = f"{caught.value.message} {caught.value.hint}"
    assert "pg_guarded" in told and "'DE'" not in told and "public" not in told, told


def test_plain_comparisons_still_go_to_the_source(
    engine: Engine, postgres: Postgres, mariadb: MariaDB
) -> None:
    assert rows(engine, SAFE.format(table="pg_guarded")) == [2]
    assert rows(engine, SAFE.format(table="my_guarded")) == [2]
    for statement in (postgres.statements("LIKE 'D%'")[-1], mariadb.statements("LIKE 'D%'")[-1]):
        assert "IN (2, 3, 4)" in statement and "'DE'" in statement, statement


@pytest.mark.parametrize(
    "value", ["DE\\' OR 1=1 -- ", "DE' OR '1'='1", "DE\\", "DE'; SELECT 1; --", "D\u0000E"]
)
def test_an_attribute_breaks_out_of_no_source_dialect(engine: Engine, value: str) -> None:
    """MariaDB reads a backslash in a literal as an escape, PostgreSQL does not: the bound
    attribute must stay one literal in both, matching nothing."""
    evil = Identity("sre", {"country": value})
    for table in ("pg_guarded", "my_guarded"):
        result = engine.query(f"SELECT id FROM {table}", (), evil)
        assert [row for batch in result for row in batch.to_pylist()] == [], (table, value)
