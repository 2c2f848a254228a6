"""Every engine's copy gives back every common type exactly and filters it as SQL does."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.config import parse_config
from sidecar.engine import Engine
from tests.acceleration import ENGINES, AccelerationEngine
from tests.acceleration.data import FILTERS, expected_ids, types_table


def engine_for(root: Path, accel: AccelerationEngine, mode: str) -> Engine:
    config = parse_config(
        {
            "datasets": [
                {
                    "from": "file:types.parquet",
                    "name": "types",
                    "acceleration": accel.settings(mode=mode),
                }
            ]
        },
        root,
    )
    engine = Engine(config)
    engine.load()
    return engine


@pytest.fixture(
    scope="module",
    params=[(engine, mode) for engine in ENGINES for mode in engine.modes],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def copy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[AccelerationEngine, Engine, Path]:
    accel, mode = request.param
    root = tmp_path_factory.mktemp(f"types-{accel}-{mode}")
    pq.write_table(types_table(), root / "types.parquet")
    engine = engine_for(root, accel, mode)
    request.addfinalizer(engine.close)
    return accel, engine, root


def table(engine: Engine, sql: str) -> pa.Table:
    result = engine.query(sql)
    return pa.Table.from_batches(list(result), schema=result.schema)


def test_every_type_comes_back_exactly(copy: tuple[AccelerationEngine, Engine, Path]) -> None:
    _, engine, _ = copy
    answer = table(engine, "SELECT * FROM types ORDER BY id")
    assert answer.schema == types_table().schema
    assert answer.to_pylist() == types_table().to_pylist()


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_keep_exactly_the_rows_sql_keeps(
    copy: tuple[AccelerationEngine, Engine, Path], name: str
) -> None:
    _, engine, _ = copy
    predicate = FILTERS[name]
    answer = table(engine, f"SELECT id FROM types WHERE {predicate} ORDER BY id")
    assert answer.column("id").to_pylist() == expected_ids(predicate)


def test_a_restarted_file_copy_keeps_every_type(
    copy: tuple[AccelerationEngine, Engine, Path],
) -> None:
    accel, engine, root = copy
    if engine.config.datasets[0].acceleration.mode != "file":
        pytest.skip("only a file copy outlives its process")
    engine.close()
    (root / "types.parquet").rename(root / "gone.parquet")
    try:
        restarted = engine_for(root, accel, "file")
        assert restarted.ready
        answer = table(restarted, "SELECT * FROM types ORDER BY id")
        assert answer.to_pylist() == types_table().to_pylist()
        assert answer.schema == types_table().schema
        restarted.close()
    finally:
        (root / "gone.parquet").rename(root / "types.parquet")
