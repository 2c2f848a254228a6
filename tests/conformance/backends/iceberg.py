"""`iceberg:` over a pyiceberg SQL catalog on local files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import TYPES, types_table
from tests.peers.iceberg import Iceberg

# What each standard scan asks of pyiceberg.
ICEBERG_SENDS = {
    "limit": "iceberg conformance.types columns=[id] "
    "row_filter=GreaterThan(term=Reference(name='i32'), literal=LongLiteral(2)) limit=2",
    "lookup": "iceberg conformance.types columns=[id, txt] "
    "row_filter=EqualTo(term=Reference(name='i32'), literal=LongLiteral(3)) limit=5",
}
ICEBERG_MISSING = (
    "iceberg: conformance.typos does not exist",
    "did you mean types? tables in conformance: types",
)
# pyiceberg's row filters match LIKE only as a prefix (no ILIKE, no `_`), and compare NaN as
# IEEE does where the engine orders it above every number (so no float filters).
ICEBERG_REFUSES = frozenset({"ilike", "like_underscore", "f64"})


class IcebergConf(Conf):
    name = "iceberg"
    scheme = "iceberg"
    refuses = ICEBERG_REFUSES

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: Iceberg = request.getfixturevalue("iceberg")
        peer.write("conformance.types", types_table())
        missing = {"name": "x", "type": "sql", "uri": f"sqlite:///{root}/missing/catalog.db"}
        return cls(
            "conformance.types",
            peer.params(),
            TYPES,
            broken={"down": {"params": {"catalog": missing}}},
            sends=ICEBERG_SENDS,
            errors={
                "missing": ICEBERG_MISSING,
                "down": (
                    "iceberg conformance.types: OperationalError: (sqlite3.OperationalError) "
                    "unable to open database file",
                    "check params.catalog (uri, warehouse) and that the catalog is reachable",
                ),
            },
        )


CONF = IcebergConf
