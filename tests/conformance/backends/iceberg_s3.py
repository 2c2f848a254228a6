"""`iceberg:` with its warehouse on moto's S3: the Iceberg reader over an object store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.backends import Conf
from tests.conformance.backends.iceberg import ICEBERG_MISSING, ICEBERG_REFUSES, ICEBERG_SENDS
from tests.conformance.data import TYPES, types_table
from tests.peers.iceberg import Iceberg


class IcebergS3(Conf):
    name = "iceberg_s3"
    scheme = "iceberg"
    refuses = ICEBERG_REFUSES

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: Iceberg = request.getfixturevalue("iceberg_s3")
        peer.write("conformance.types", types_table())
        errors = {"missing": ICEBERG_MISSING}
        return cls("conformance.types", peer.params(), TYPES, sends=ICEBERG_SENDS, errors=errors)


CONF = IcebergS3
