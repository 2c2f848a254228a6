"""The shared table as documents, for MongoDB (nx-27017) and Elasticsearch (osmem-server).

Both hold dates to the millisecond, and neither peer stores an exact decimal (nx-27017 has no
Decimal128, Elasticsearch no decimal type), so `dec` is a double there: filters on it, and
the shapes that use it, stay in the engine. Decimal128 is covered by the mockupdb tests.
"""

from __future__ import annotations

from typing import Any

from tests.conformance.data import types_table

# Shapes over `dec`, a double at these peers (see the module docstring), and ILIKE, whose case
# folding differs from the engine's beyond ASCII at both sources.
DOUBLE_DEC = frozenset({"lt", "between", "and_or", "ilike"})


def documents() -> list[dict[str, Any]]:
    rows = types_table().to_pylist()
    for row in rows:
        if row["dec"] is not None:
            row["dec"] = float(row["dec"])
    return rows
