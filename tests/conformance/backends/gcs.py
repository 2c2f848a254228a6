"""`gs:` over the GCS emulator: the table as Parquet. No broken cases: GCS's client retries an
unreachable endpoint for its whole time limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.backends import Conf, file_sends, missing_file
from tests.conformance.data import TYPES, types_table
from tests.peers.objectstores import GcsEmulator


class Gcs(Conf):
    name = "gcs"
    scheme = "gs"

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: GcsEmulator = request.getfixturevalue("gcs")
        peer.put_parquet("lake/conformance/types.parquet", types_table())
        sends = file_sends("parquet gs://lake/conformance/types.parquet")
        missing = missing_file("gs://lake/conformance/", "types.parquet")
        return cls(
            "//lake/conformance/types.parquet",
            peer.params(),
            TYPES,
            sends=sends,
            errors={"missing": missing},
        )


CONF = Gcs
