"""`file:` over a local CSV file, its columns declared (CSV has no types of its own)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pa_csv
import pytest

from tests.conformance.backends import Conf, file_sends, missing_file
from tests.conformance.data import TYPES, types_table


class Csv(Conf):
    name = "csv"
    scheme = "file"

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        pa_csv.write_csv(types_table(), root / "types.csv")
        params = {"null_values": [""]}
        sends = file_sends("csv types.csv")
        return cls(
            "types.csv",
            params,
            TYPES,
            declared=TYPES,
            base_dir=root,
            sends=sends,
            errors={"missing": missing_file("", "types.csv")},
        )


CONF = Csv
