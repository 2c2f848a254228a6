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
- **cold start**: from launching `sidecar run` (the demo) to /v1/ready answering 200, in wall
  time and in the CPU time the process had used by then (less sensitive to other processes);
- both **as installed** (bytecode compiled, as pip leaves a wheel and as the floor's packages
  are: a first, uncounted run writes it under a temporary PYTHONPYCACHEPREFIX) and **from
  source** with no bytecode cache (a checkout with PYTHONDONTWRITEBYTECODE=1, as here, compiles
  every module of the sidecar at each start);
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


def run_sidecar(
    args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[float, float, float, list[str]]:
    """Seconds to /v1/ready (wall, then CPU), idle RSS (MiB) a second later, heavy modules."""
    port = free_port()
    command = [sys.executable, "-m", "sidecar", "run", *args, "--http-port", str(port)]
    command += ["--flight-port", str(free_port()), "--pg-port", str(free_port())]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
        cpu = cpu_seconds(process.pid)
        time.sleep(1.0)
        rss = rss_mib(Path(f"/proc/{process.pid}/status").read_text())
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        held = [name for name, marker in HEAVY.items() if marker in maps]
    finally:
        process.terminate()
        process.wait(timeout=10)
    return ready, cpu, rss, held


def cpu_seconds(pid: int) -> float:
    """User plus system time a process has used (/proc/PID/stat's utime and stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def environments(root: Path) -> dict[str, dict[str, str]]:
    """The two ways a sidecar starts: as installed (bytecode compiled) and from source."""
    source = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    source["PYTHONDONTWRITEBYTECODE"] = "1"
    installed = {k: v for k, v in source.items() if k != "PYTHONDONTWRITEBYTECODE"}
    installed["PYTHONPYCACHEPREFIX"] = str(root / "bytecode")
    return {"as installed": installed, "from source": source}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pq.write_table(pa.table({"id": list(range(10_000))}), root / "t.parquet")
        config = {"version": 1, "name": "fp", "datasets": [{"from": "file:t.parquet", "name": "t"}]}
        (root / "sidecar.yaml").write_text(yaml.safe_dump(config))
        floors = [
            min(import_floor(script) for _ in range(options.repeats))
            for script in (FLOOR, DEMO_FLOOR)
        ]
        runs: dict[str, list[tuple[float, float, float, list[str]]]] = {}
        (root / "demo").mkdir()  # no sidecar.yaml there: `sidecar run` serves the demo
        for mode, env in environments(root).items():
            if mode == "as installed":  # writes the bytecode the counted runs read
                run_sidecar([], root / "demo", env)
            for label, args, cwd in (
                ("one Parquet dataset", ["-c", "sidecar.yaml"], root),
                ("the demo", [], root / "demo"),
            ):
                runs[f"{label}, {mode}"] = [
                    run_sidecar(args, cwd, env) for _ in range(options.repeats)
                ]
    print(f"\nimport floors: Parquet-only {floors[0]:.0f} MiB, the demo's {floors[1]:.0f} MiB\n")
    print("| sidecar | idle RSS | over its floor | to /v1/ready | CPU by then | heavy modules |")
    print("|---|---|---|---|---|---|")
    for label, results in runs.items():
        floor = floors[1] if label.startswith("the demo") else floors[0]
        ready = min(run[0] for run in results)
        cpu = min(run[1] for run in results)
        rss = min(run[2] for run in results)
        held = ", ".join(results[0][3]) or "none"
        print(
            f"| {label} | {rss:.0f} MiB | +{rss - floor:.0f} MiB | {ready:.2f} s | {cpu:.2f} s "
            f"| {held} |"
        )


if __name__ == "__main__":
    main()
