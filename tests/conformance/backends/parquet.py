"""`file:` over a local Parquet file: the file connector's own reader."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conformance.backends import Conf, file_sends, missing_file
from tests.conformance.data import TYPES, types_table


class Parquet(Conf):
    name = "parquet"
    scheme = "file"

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        pq.write_table(types_table(), root / "types.parquet")
        return cls(
            "types.parquet",
            {},
            TYPES,
            base_dir=root,
            sends=file_sends("parquet types.parquet"),
            errors={"missing": missing_file("", "types.parquet")},
        )


CONF = Parquet
