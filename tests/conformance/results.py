"""Comparing query answers from two engines: the same rows, numbers equal to within 1e-6.

Engines type the same answer differently (DataFusion's decimal average keeps six decimals,
DuckDB's is a double; DataFusion's EXTRACT is a float, DuckDB's an integer), so values are
normalised before comparing, and rows are compared as multisets.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from sidecar.engine import Engine


def engine_rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    """Batch by batch: DataFusion may type a batch's decimals wider than the result schema."""
    return [tuple(row.values()) for batch in engine.query(sql) for row in batch.to_pylist()]


def normalise(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal | int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(f"{v:.3f}" if isinstance(v, float) else repr(v) for v in row)


def same_rows(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> bool:
    left = sorted((tuple(normalise(v) for v in row) for row in got), key=_key)
    right = sorted((tuple(normalise(v) for v in row) for row in want), key=_key)
    if len(left) != len(right):
        return False
    return all(_same_row(a, b) for a, b in zip(left, right, strict=True))


def _same_row(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6):
                return False
        elif x != y:
            return False
    return True
