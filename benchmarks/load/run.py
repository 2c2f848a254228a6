"""`make bench-load`: the load benchmark of benchmarks/README.md, end to end.

Generates TPC-H data with tpchgen-cli (scale factor 0.1: 150k orders, 600k line items, 15k
customers), starts a MariaDB and a PostgreSQL of their own on free ports as the "replicas"
(the test suite's peer code, with statement logging off and pg_stat_statements loaded), loads
the tables with their primary keys and the secondary indexes an order system's replica has,
then runs `sidecar bench` against each with this directory's workload and sidecar configs.
Results, report and plots go to benchmarks/load/results/<replica>/.

    python benchmarks/load/run.py [--scale 0.1] [--agents 1,8,32,64] [--duration 30s]
        [--interface pg] [--replicas mariadb,postgres] [--out benchmarks/load/results]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from tests.peers import mariadb, postgres  # noqa: E402

TABLES = {
    "nation": "n_nationkey INTEGER PRIMARY KEY, n_name CHAR(25) NOT NULL, "
    "n_regionkey INTEGER NOT NULL, n_comment VARCHAR(152)",
    "supplier": "s_suppkey INTEGER PRIMARY KEY, s_name CHAR(25) NOT NULL, "
    "s_address VARCHAR(40) NOT NULL, s_nationkey INTEGER NOT NULL, s_phone CHAR(15) NOT NULL, "
    "s_acctbal DECIMAL(15,2) NOT NULL, s_comment VARCHAR(101) NOT NULL",
    "customer": "c_custkey INTEGER PRIMARY KEY, c_name VARCHAR(25) NOT NULL, "
    "c_address VARCHAR(40) NOT NULL, c_nationkey INTEGER NOT NULL, c_phone CHAR(15) NOT NULL, "
    "c_acctbal DECIMAL(15,2) NOT NULL, c_mktsegment CHAR(10) NOT NULL, "
    "c_comment VARCHAR(117) NOT NULL",
    "orders": "o_orderkey INTEGER PRIMARY KEY, o_custkey INTEGER NOT NULL, "
    "o_orderstatus CHAR(1) NOT NULL, o_totalprice DECIMAL(15,2) NOT NULL, "
    "o_orderdate DATE NOT NULL, o_orderpriority CHAR(15) NOT NULL, o_clerk CHAR(15) NOT NULL, "
    "o_shippriority INTEGER NOT NULL, o_comment VARCHAR(79) NOT NULL",
    "lineitem": "l_orderkey INTEGER NOT NULL, l_partkey INTEGER NOT NULL, "
    "l_suppkey INTEGER NOT NULL, l_linenumber INTEGER NOT NULL, "
    "l_quantity DECIMAL(15,2) NOT NULL, l_extendedprice DECIMAL(15,2) NOT NULL, "
    "l_discount DECIMAL(15,2) NOT NULL, l_tax DECIMAL(15,2) NOT NULL, "
    "l_returnflag CHAR(1) NOT NULL, l_linestatus CHAR(1) NOT NULL, l_shipdate DATE NOT NULL, "
    "l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL, l_shipinstruct CHAR(25) NOT NULL, "
    "l_shipmode CHAR(10) NOT NULL, l_comment VARCHAR(44) NOT NULL, "
    "PRIMARY KEY (l_orderkey, l_linenumber)",
}
# The indexes a replica behind an order system has: foreign keys and the time columns.
INDEXES = (
    ("orders", "o_custkey"),
    ("orders", "o_orderdate"),
    ("lineitem", "l_suppkey"),
    ("lineitem", "l_shipdate"),
    ("lineitem", "l_receiptdate"),
    ("customer", "c_nationkey"),
    ("supplier", "s_nationkey"),
)


def generate(scale: float) -> Path:
    """TPC-H CSV files, made once per scale factor and kept (git-ignored) for later runs."""
    target = HERE / ".data" / f"sf{scale:g}"
    if all((target / f"{table}.csv").exists() for table in TABLES):
        return target
    program = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    target.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [program, "csv", "-s", f"{scale:g}", "-o", str(target), "--tables", ",".join(TABLES)],
        check=True,
    )
    print(f"generated TPC-H sf{scale:g} in {time.perf_counter() - started:.1f}s: {target}")
    return target


def load_mariadb(server: mariadb.MariaDB, data: Path) -> None:
    started = time.perf_counter()
    statements = ["CREATE DATABASE tpch"]
    for table, columns in TABLES.items():
        statements += [
            f"CREATE TABLE tpch.{table} ({columns}) ENGINE=InnoDB",
            f"LOAD DATA INFILE '{data / f'{table}.csv'}' INTO TABLE tpch.{table} "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' "
            "IGNORE 1 LINES",
        ]
    statements += [f"CREATE INDEX {t}_{c} ON tpch.{t} ({c})" for t, c in INDEXES]
    server.execute(*statements)
    for table in TABLES:
        server.fetch(f"ANALYZE TABLE tpch.{table}")
    print(f"loaded MariaDB in {time.perf_counter() - started:.1f}s")


def load_postgres(server: postgres.Postgres, data: Path) -> None:
    import psycopg

    started = time.perf_counter()
    server.execute(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        f"GRANT pg_read_all_stats TO {server.user}",
    )
    params = server.params()
    with psycopg.connect(**params, autocommit=True) as connection:
        for table, columns in TABLES.items():
            connection.execute(f"CREATE TABLE {table} ({columns})")
            with (
                connection.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER)") as copy,
                (data / f"{table}.csv").open("rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        for table, column in INDEXES:
            connection.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
        for table in TABLES:
            connection.execute(f"VACUUM ANALYZE {table}")
    print(f"loaded PostgreSQL in {time.perf_counter() - started:.1f}s")


def bench(config: str, args: argparse.Namespace, out: Path, env: dict[str, str]) -> int:
    """`sidecar bench` from the repository root, with paths relative to it in its results."""
    here = HERE.relative_to(REPO)
    command = [sys.executable, "-m", "sidecar", "bench", "-c", str(here / config)]
    command += ["--workload", str(here / "workload.yaml"), "--agents", args.agents]
    command += ["--duration", args.duration, "--interface", args.interface]
    command += ["--out", os.path.relpath(out.resolve(), REPO)]
    print("$ " + " ".join(command[1:]), flush=True)
    env = {**os.environ, **env, "PYTHONPATH": str(REPO)}  # this checkout's sidecar, always
    return subprocess.run(command, env=env, cwd=REPO).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--agents", default="1,8,32,64")
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--interface", default="pg")
    parser.add_argument("--replicas", default="mariadb,postgres")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    data = generate(args.scale)
    replicas = [name.strip() for name in args.replicas.split(",")]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        if "mariadb" in replicas:
            (root / "mariadb").mkdir()
            options = ("--innodb-buffer-pool-size=512M", "--max-connections=300")
            with mariadb.running(root / "mariadb", general_log=False, options=options) as server:
                load_mariadb(server, data)
                env = {"TPCH_MARIADB_PORT": str(server.port),
                       "TPCH_MARIADB_PASSWORD": server.password}  # fmt: skip
                failures += bench("mariadb.yaml", args, args.out / "mariadb", env) != 0
        if "postgres" in replicas:
            settings = ("shared_preload_libraries=pg_stat_statements", "max_connections=300",
                        "shared_buffers=256MB")  # fmt: skip
            with postgres.running(root / "postgres", log_statements=False, settings=settings) as pg:
                load_postgres(pg, data)
                env = {"TPCH_POSTGRES_PORT": str(pg.port), "TPCH_POSTGRES_PASSWORD": pg.password}
                failures += bench("postgres.yaml", args, args.out / "postgres", env) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
