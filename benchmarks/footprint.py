"""Footprint: a sidecar's idle memory against the import floor of what its config needs, and
the demo's cold start.

- **import floor**: a fresh interpreter importing only the modules a Parquet-only sidecar
  cannot do without (pyarrow's dataset, Parquet and Flight modules, DataFusion, sqlglot,
  uvicorn, Starlette, pydantic, PyYAML), pandas kept out as the sidecar keeps it out; the
  demo's floor adds what its datasets need (pyarrow's CSV and JSON readers, tantivy); measured
  with the allocator settings the sidecar gives itself (`sidecar.footprint.ALLOCATOR_SETTINGS`),
  which lower the floor too, so the difference is the sidecar's own;
- **idle RSS** of a real `sidecar run` once /v1/ready answers and a second has passed: with one
  Parquet dataset, and the built-in demo (six datasets, three views, a search index);
- **cold start**: from launching `sidecar run` (the demo) to /v1/ready answering 200;
- which heavy modules each process holds (pandas, the Elasticsearch client, pymongo,
  llama_cpp, tantivy, usearch, DuckDB), read from the running process's memory maps.

Best (lowest) of --repeats runs of each, since other processes on this machine only add time.

    python benchmarks/footprint.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.footprint import ALLOCATOR_SETTINGS
from tests.process import free_port

FLOOR = (
    "import sys, importlib.abc\n"
    "class NoPandas(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.split('.')[0] == 'pandas':\n"
    "            raise ImportError(name)\n"
    "sys.meta_path.insert(0, NoPandas())\n"
    "import pyarrow.dataset, pyarrow.parquet, pyarrow.flight, datafusion, sqlglot\n"
    "import uvicorn, starlette.applications, pydantic, yaml\n"
    "sys.meta_path.pop(0)\n"
    "print(open('/proc/self/status').read())\n"
)
DEMO_FLOOR = FLOOR.replace(
    "import uvicorn,", "import pyarrow.csv, pyarrow.json, tantivy\nimport uvicorn,"
)
# shared objects whose presence in a process's memory maps shows the module was imported
HEAVY = {
    "pandas": "pandas/_libs",
    "elasticsearch": "elastic_transport",
    "pymongo": "bson/_cbson",
    "llama_cpp": "llama_cpp",
    "tantivy": "tantivy",
    "usearch": "usearch",
    "duckdb": "_duckdb",
}


def rss_mib(status: str) -> float:
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def import_floor(script: str) -> float:
    env = {**os.environ, **ALLOCATOR_SETTINGS}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    return rss_mib(done.stdout)


def run_sidecar(args: list[str], cwd: Path) -> tuple[float, float, list[str]]:
    """Seconds to /v1/ready, idle RSS (MiB) a second later, heavy modules mapped."""
    port = free_port()
    command = [sys.executable, "-m", "sidecar", "run", *args, "--http-port", str(port)]
    command += ["--flight-port", str(free_port()), "--pg-port", str(free_port())]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sidecar exited: {command}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        ready = time.perf_counter() - started
        time.sleep(1.0)
        rss = rss_mib(Path(f"/proc/{process.pid}/status").read_text())
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        held = [name for name, marker in HEAVY.items() if marker in maps]
    finally:
        process.terminate()
        process.wait(timeout=10)
    return ready, rss, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pq.write_table(pa.table({"id": list(range(10_000))}), root / "t.parquet")
        config = {"version": 1, "name": "fp", "datasets": [{"from": "file:t.parquet", "name": "t"}]}
        (root / "sidecar.yaml").write_text(yaml.safe_dump(config))
        floors = [
            min(import_floor(script) for _ in range(args.repeats)) for script in (FLOOR, DEMO_FLOOR)
        ]
        parquet = [run_sidecar(["-c", "sidecar.yaml"], root) for _ in range(args.repeats)]
        (root / "demo").mkdir()  # no sidecar.yaml there: `sidecar run` serves the demo
        demo = [run_sidecar([], root / "demo") for _ in range(args.repeats)]
    print(f"\nimport floors: Parquet-only {floors[0]:.0f} MiB, the demo's {floors[1]:.0f} MiB\n")
    print("| sidecar | idle RSS | over its floor | to /v1/ready | heavy modules loaded |")
    print("|---|---|---|---|---|")
    for label, runs, floor in (
        ("one Parquet dataset", parquet, floors[0]),
        ("the demo", demo, floors[1]),
    ):
        ready = min(run[0] for run in runs)
        rss = min(run[1] for run in runs)
        held = ", ".join(runs[0][2]) or "none"
        print(f"| {label} | {rss:.0f} MiB | +{rss - floor:.0f} MiB | {ready:.2f} s | {held} |")


if __name__ == "__main__":
    main()
