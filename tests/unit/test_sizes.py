"""sizes.Sizer gives pyarrow's own `nbytes` of every slice of a batch, without asking it."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest

from sidecar.engine.sizes import Sizer

ROWS = 120


def maybe(value: object, i: int) -> object:
    return None if i % 7 == 3 else value


def batch() -> pa.RecordBatch:
    n = range(ROWS)
    return pa.record_batch(
        {
            "i64": pa.array([maybe(i, i) for i in n], pa.int64()),
            "i64_no_nulls": pa.array(n, pa.int64()),
            "i8": pa.array([maybe(i % 100, i) for i in n], pa.int8()),
            "f32": pa.array([maybe(i * 0.5, i) for i in n], pa.float32()),
            "bool": pa.array([maybe(i % 3 == 0, i) for i in n]),
            "bool_no_nulls": pa.array([i % 3 == 0 for i in n]),
            "text": pa.array([maybe("x" * (i % 11), i) for i in n]),
            "large_text": pa.array([maybe("y" * (i % 5), i) for i in n], pa.large_string()),
            "bytes": pa.array([maybe(b"z" * (i % 4), i) for i in n], pa.binary()),
            "ts": pa.array(
                [maybe(dt.datetime(2020, 1, 1) + dt.timedelta(seconds=i), i) for i in n],
                pa.timestamp("us", "UTC"),
            ),
            "date": pa.array([maybe(dt.date(2020, 1, 1), i) for i in n], pa.date32()),
            "decimal": pa.array([maybe(Decimal(i) / 8, i) for i in n], pa.decimal128(20, 5)),
            "fixed": pa.array([maybe(uuid.UUID(int=i).bytes, i) for i in n], pa.binary(16)),
        }
    )


@pytest.mark.parametrize("offset", [0, 5, 9])
def test_every_slice_is_sized_as_pyarrow_sizes_it(offset: int) -> None:
    base = batch().slice(offset)
    sizer = Sizer.of(base)
    assert sizer is not None
    chosen = random.Random(offset)
    for _ in range(400):
        start = chosen.randrange(0, base.num_rows)
        stop = chosen.randrange(start, min(base.num_rows, start + 20) + 1)
        assert sizer.size(start, stop) == base.slice(start, stop - start).nbytes, (start, stop)


def test_other_layouts_are_left_to_pyarrow() -> None:
    assert Sizer.of(pa.record_batch({"list": pa.array([[1], [2, 3]])})) is None
    assert Sizer.of(pa.record_batch({"dict": pa.array(["a", "b"]).dictionary_encode()})) is None
    assert Sizer.of(pa.record_batch({"null": pa.nulls(2)})) is None
