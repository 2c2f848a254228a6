"""A pod's stop: SIGTERM ends `sidecar run` cleanly, after its servers and audit log closed."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.process import SidecarProcess, free_port


def test_sigterm_closes_everything_and_exits_zero(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": list(range(10))}), tmp_path / "t.parquet")
    port = free_port()
    config = {
        "runtime": {"http": {"port": port}},
        "datasets": [{"from": "file:t.parquet", "name": "t"}],
        "audit": {"path": "audit.jsonl"},
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    sidecar = SidecarProcess(tmp_path / "sidecar.yaml")
    try:
        url = sidecar.start(port)
        answers = [httpx.post(f"{url}/v1/sql", content=f"SELECT {i} AS n") for i in range(20)]
        assert all(answer.status_code == 200 for answer in answers)
        assert sidecar.process is not None
        sidecar.process.send_signal(signal.SIGTERM)
        assert sidecar.process.wait(timeout=30) == 0, sidecar.output
    finally:
        sidecar.stop()
    assert "Traceback" not in sidecar.output
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sorted(line["sql"] for line in lines) == sorted(f"SELECT {i} AS n" for i in range(20))
