"""An Iceberg warehouse made by pyiceberg with a SQL catalog (SQLite) in a temporary folder.

A REST catalog peer is not started: the one REST server on PyPI (lakana-server) is a whole
platform (bootstrap tokens, environments, its own database) that conflicts with fakesnow's
pins; the connector's REST path is pyiceberg's own `load_catalog(type=rest)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.peers import unavailable

CATALOG_NAME = "sidecar"


@dataclass
class Iceberg:
    """A SQL catalog in `root`; the warehouse is a local folder unless `warehouse` is a bucket
    (`s3://warehouse/`), reached with the FileIO properties in `storage`."""

    root: Path
    warehouse: str | None = None
    storage: dict[str, str] = field(default_factory=dict)

    @property
    def catalog_params(self) -> dict[str, str]:
        return {
            "name": CATALOG_NAME,
            "type": "sql",
            "uri": f"sqlite:///{self.root}/catalog.db",
            "warehouse": self.warehouse or f"file://{self.root}/warehouse",
        } | self.storage

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"catalog": self.catalog_params} | extra

    def catalog(self) -> Any:
        from pyiceberg.catalog import load_catalog

        properties = dict(self.catalog_params)
        return load_catalog(properties.pop("name"), **properties)

    def write(self, identifier: str, table: pa.Table) -> Any:
        """Create (or replace) the table and append the rows as one snapshot."""
        catalog = self.catalog()
        namespace = identifier.rsplit(".", 1)[0]
        catalog.create_namespace_if_not_exists(namespace)
        if catalog.table_exists(identifier):
            catalog.drop_table(identifier)
        created = catalog.create_table(identifier, schema=table.schema)
        created.append(table)
        return created


@pytest.fixture(scope="session")
def iceberg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Iceberg]:
    try:
        import pyiceberg.catalog.sql  # noqa: F401
    except ImportError:
        unavailable("pyiceberg[sql-sqlite]", "pip install -e '.[dev]', or run make test")
    root = tmp_path_factory.mktemp("iceberg")
    (root / "warehouse").mkdir()
    yield Iceberg(root)
