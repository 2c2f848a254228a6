"""A dataset whose source failed stays failed while its source is opened again: its copy is
never shown ready with the old error beside it (a status read mid-retry did)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.config import parse_config
from sidecar.engine import Engine, catalog
from sidecar.engine.catalog import State


def test_a_failed_source_is_not_ready_while_it_is_opened_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "t.parquet")
    dataset = {"from": "file:t.parquet", "name": "t", "acceleration": {"engine": "arrow"}}
    engine = Engine(parse_config({"datasets": [dataset]}, tmp_path))
    engine.load()
    entry = engine.catalog.datasets["t"]
    (tmp_path / "t.parquet").unlink()
    entry.connector = None  # as after a restart with the source gone
    assert not entry._open()
    assert (entry.state, entry.last_error is not None) == (State.STALE, True)
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "t.parquet")
    seen = []
    opened = catalog.open_connector

    def watched(source: Any) -> Any:
        seen.append((entry.state, entry.last_error))
        return opened(source)

    monkeypatch.setattr(catalog, "open_connector", watched)
    assert entry._open()
    [(state, error)] = seen
    assert state is State.STALE and error is not None
    assert (entry.state, entry.last_error) == (State.READY, None)
