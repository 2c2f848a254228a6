"""sqlglot registers a dialect before building it, so a thread could write SQL in the half-built
class while another loaded it: MariaDB was sent `SELECT * FROM "shop"."orders" LIMIT 0` when a
config's datasets loaded at once (connectors/dialects.py). Each check runs in a fresh
interpreter, where no dialect is loaded yet."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_sql_connectors_dialect_is_built_once_its_module_is_imported() -> None:
    loaded = fresh("""
        import sys
        import connectors.mysql, connectors.snowflake, connectors.postgres, sidecar.engine.dialect
        print(sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("sqlglot.dialects.")))
    """)
    assert {"mysql", "snowflake", "postgres", "duckdb"} <= set(eval(loaded))


def test_a_dialect_named_in_a_config_is_built_with_its_connector() -> None:
    loaded = fresh("""
        import sys
        from connectors.adbc import AdbcConnector
        from connectors.base import DatasetSource
        AdbcConnector(DatasetSource(
            name="t", scheme="adbc", location="t",
            params={"driver": "adbc_driver_sqlite", "dialect": "sqlite"},
        ))
        print("sqlglot.dialects.sqlite" in sys.modules)
    """)
    assert loaded == "True"


def test_threads_loading_datasets_of_one_source_at_once_all_write_its_dialect() -> None:
    """Without the loading lock, three interpreters in five had a thread write the generic
    dialect's quotes; four are run here, each switching threads as often as it can."""
    for _ in range(4):
        written = fresh("""
            import sys, threading
            from connectors.base import DatasetSource
            from connectors.mysql import MySqlConnector
            sys.setswitchinterval(1e-6)
            source = DatasetSource(name="orders", scheme="mysql", location="shop.orders", params={})
            barrier, texts = threading.Barrier(64), []
            def load():
                barrier.wait()
                connector = MySqlConnector(source)
                texts.append(connector.table().sql(connector.dialect))
            threads = [threading.Thread(target=load) for _ in range(64)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            print(sorted(set(texts)))
        """)
        assert written == "['`shop`.`orders`']"
