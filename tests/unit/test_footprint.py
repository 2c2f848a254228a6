"""A sidecar holds in memory only the modules its config needs: a fresh process builds it as
`sidecar run` does, loads it, answers queries, and reports which heavy modules it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

HEAVY = (
    "pandas",
    "elasticsearch",
    "pymongo",
    "llama_cpp",
    "tantivy",
    "usearch",
    "duckdb",
    "prompt_toolkit",
    "mysql",
    "pyiceberg",
    "httpx",
    "rich",
)
SCRIPT = f"""
import json, sys
from pathlib import Path
import sidecar.cli  # what `sidecar run` imports before anything else
from sqlglot import parse_one
from sidecar.config import load_config
from sidecar.runtime import Sidecar
side = Sidecar(load_config(Path(sys.argv[1])))
side.engine.load()
for sql in ("SELECT count(*) FROM t", *sys.argv[3:]):
    if sys.argv[2] == "pg":  # routed first, as a Postgres wire session does
        side.pg.catalog.routes_to_shadow(parse_one(sql, read="postgres"))
    list(side.engine.query(sql))
print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))
"""


def fresh(script: str, env: dict[str, str] | None = None) -> str:
    """What `script` prints in a fresh interpreter, which has imported nothing yet."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout


def heavy_modules(
    root: Path, datasets: list[dict], *queries: str, interface: str = "engine"
) -> list[str]:
    notes = [f"note {i}" for i in range(100)]
    pq.write_table(pa.table({"id": list(range(100)), "note": notes}), root / "t.parquet")
    (root / "sidecar.yaml").write_text(yaml.safe_dump({"version": 1, "datasets": datasets}))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root / "sidecar.yaml"), interface, *queries],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("interface", ["engine", "pg"])
def test_a_parquet_sidecar_imports_no_heavy_module(tmp_path: Path, interface: str) -> None:
    """Over the Postgres wire too: a statement naming only datasets is routed without the
    shadow catalog's DuckDB (building it cost the first query 0.3-0.5 s)."""
    lookup = "SELECT * FROM t WHERE id = 3"
    datasets = [{"from": "file:t.parquet", "name": "t"}]
    assert heavy_modules(tmp_path, datasets, lookup, interface=interface) == []


@pytest.mark.parametrize(
    ("extra", "query", "needed"),
    [
        ({"acceleration": {"primary_key": "id"}}, "SELECT * FROM t WHERE id = 3", ["duckdb"]),
        ({"search": {"text": ["note"]}}, "SELECT * FROM text_search('t', 'note', 1)", ["tantivy"]),
    ],
)
def test_a_feature_imports_what_it_needs(
    tmp_path: Path, extra: dict, query: str, needed: list[str]
) -> None:
    dataset = {"from": "file:t.parquet", "name": "t", **extra}
    assert heavy_modules(tmp_path, [dataset], query) == needed


@pytest.mark.parametrize(("operator", "expected"), [(None, "0"), ("1", "1")])
def test_mimalloc_gives_pages_back_unless_the_operator_says_otherwise(
    operator: str | None, expected: str
) -> None:
    """Arrow's and DataFusion's mimalloc read the setting when they load: `import sidecar` sets
    it before anything imports them, and leaves an operator's own value alone."""
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_ARENA_EAGER_COMMIT"}
    if operator is not None:
        env["MIMALLOC_ARENA_EAGER_COMMIT"] = operator
    script = "import os, sys, sidecar; print(os.environ['MIMALLOC_ARENA_EAGER_COMMIT'])"
    assert fresh(script, env).strip() == expected


def test_run_imports_no_other_command() -> None:
    """`sidecar bench` and `sidecar inject` add their arguments only when they are the command."""
    script = (
        "import sys\nfrom sidecar.cli import build_parser\n"
        "parser = build_parser()\nparser.parse_args(['run'])\n"
        "others = ('sidecar.bench', 'sidecar.inject')\n"
        "print(sorted(m for m in sys.modules if m.startswith(others)))\n"
        "bench = parser.parse_args(['bench', '--workload', 'w.yaml'])\n"
        "print(bench.agents, 'sidecar.bench.command' in sys.modules)\n"
    )
    assert fresh(script).splitlines() == ["[]", "1,8,32,64 True"]


def test_only_the_configs_connectors_build_their_params_models() -> None:
    """Built on first use, once, also when the datasets' threads all ask at the same moment:
    each gets its own connector's model, never the half-built base."""
    script = (
        "import json\nfrom concurrent.futures import ThreadPoolExecutor\n"
        "from connectors.params import PARAMS, checked\n"
        "with ThreadPoolExecutor(8) as pool:\n"
        "    got = list(pool.map(lambda _: checked('file', {'format': 'csv'}), range(8)))\n"
        "print(json.dumps([sorted({type(p).__name__ for p in got}), {p.format for p in got} == "
        "{'csv'}, sorted(s for s, m in PARAMS.items() if m.__pydantic_complete__)]))\n"
    )
    assert json.loads(fresh(script)) == [["FileParams"], True, ["file"]]
