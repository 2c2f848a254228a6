"""The document and search sources in the conformance suite: MongoDB (nx-27017) and
Elasticsearch (osmem-server), each loaded with the types table as documents.

Both hold dates to the millisecond, and neither peer stores an exact decimal (nx-27017 has no
Decimal128, Elasticsearch no decimal type), so `dec` is a double there: filters on it, and
the shapes that use it, stay in the engine. Decimal128 is covered by the mockupdb tests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from connectors.base import DatasetSource
from tests.conformance.conftest import TYPES, Case, types_table
from tests.peers import free_port
from tests.peers.elasticsearch import Osmem
from tests.peers.mongodb import NxServer

DOCUMENT_CASES = ("mongodb", "elasticsearch")
# Shapes over `dec`, a double at these peers (see the module docstring), and ILIKE, whose case
# folding differs from the engine's beyond ASCII at both sources.
DOUBLE_DEC = frozenset({"lt", "between", "and_or", "ilike"})
ES_MAPPING = {
    "id": {"type": "long"},
    "i32": {"type": "integer"},
    "big": {"type": "long"},
    "dec": {"type": "double"},
    "f64": {"type": "double"},
    "txt": {"type": "keyword"},
    "flag": {"type": "boolean"},
    "day": {"type": "date"},
    "ts": {"type": "date"},
}


def _documents() -> list[dict[str, Any]]:
    rows = types_table().to_pylist()
    for row in rows:
        if row["dec"] is not None:
            row["dec"] = float(row["dec"])
    return rows


def build_document_case(name: str, request: pytest.FixtureRequest, root: Path) -> Case:
    if name == "mongodb":
        nx: NxServer = request.getfixturevalue("nx27017")
        docs = _documents()
        for doc in docs:
            if doc["day"] is not None:
                doc["day"] = dt.datetime.combine(doc["day"], dt.time())
        nx.load("shop.types", docs)
        down = f"mongodb://127.0.0.1:{free_port()}/"
        return Case(
            name,
            "mongodb",
            "shop.types",
            {"uri": nx.uri},
            TYPES,
            declared=TYPES,
            broken={
                "down": lambda: _source("mongodb", {"uri": down, "connect_timeout": "1s"}),
            },
            refuses=DOUBLE_DEC,
        )
    if name == "elasticsearch":
        es: Osmem = request.getfixturevalue("osmem")
        es.create("types", ES_MAPPING)
        docs = [
            {"_id": row["id"]} | {k: v for k, v in row.items() if v is not None}
            for row in _documents()
        ]
        es.load("types", docs)
        down = es.params(hosts=f"http://127.0.0.1:{free_port()}")
        return Case(
            name,
            "elasticsearch",
            "types",
            es.params(),
            TYPES,
            declared=TYPES,
            broken={"down": lambda: _source("elasticsearch", down)},
            # SQL dates over Elasticsearch dates are compared by the engine.
            refuses=DOUBLE_DEC | {"date"},
        )
    raise AssertionError(name)


def _source(scheme: str, params: dict[str, Any]) -> DatasetSource:
    return DatasetSource("types", scheme, "types", params, timeout=5.0)
