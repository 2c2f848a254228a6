"""The object stores in the conformance suite: the types table as Parquet on moto's S3 and on
the GCS emulator, as CSV on Azurite, and as an Iceberg table whose warehouse is on S3.

They run the file connector's own code path, so they must push down exactly what local files
do. Broken cases: a wrong secret on S3 and Azure, an endpoint nobody listens on for S3 (GCS's
and Azure's clients retry an unreachable endpoint for their whole time limit instead).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pytest

from connectors.base import DatasetSource
from tests.conformance.conftest import TYPES, Case, types_table
from tests.peers import free_port
from tests.peers.iceberg import Iceberg
from tests.peers.objectstores import Azurite, GcsEmulator, MotoS3

OBJECT_STORE_CASES = ("s3", "gcs", "azure", "iceberg_s3")


def _broken(scheme: str, location: str, params: dict[str, Any]) -> Any:
    return lambda: DatasetSource("types", scheme, location, params, timeout=5.0)


def build_object_store_case(name: str, request: pytest.FixtureRequest, root: Path) -> Case:
    table = types_table()
    if name == "s3":
        moto: MotoS3 = request.getfixturevalue("moto_s3")
        moto.bucket("conformance")
        moto.put_parquet("conformance/types.parquet", table)
        location = "//conformance/types.parquet"
        unreachable = moto.params(endpoint=f"http://127.0.0.1:{free_port()}")
        return Case(
            name,
            "s3",
            location,
            moto.params(),
            TYPES,
            broken={
                "credentials": _broken("s3", location, moto.params(secret_access_key="wrong")),
                "down": _broken("s3", location, unreachable),
            },
            secret_param="secret_access_key",
        )
    if name == "gcs":
        gcs: GcsEmulator = request.getfixturevalue("gcs")
        gcs.put_parquet("lake/conformance/types.parquet", table)
        return Case(name, "gs", "//lake/conformance/types.parquet", gcs.params(), TYPES)
    if name == "azure":
        azurite: Azurite = request.getfixturevalue("azurite")
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer)
        azurite.put("conformance/types.csv", buffer.getvalue())
        location = "//conformance/types.csv"
        params = azurite.params(null_values=[""])
        return Case(
            name,
            "az",
            location,
            params,
            TYPES,
            declared=TYPES,
            broken={"credentials": _broken("az", location, params | {"account_key": "d3Jvbmc="})},
            secret_param="account_key",
        )
    ice: Iceberg = request.getfixturevalue("iceberg_s3")
    ice.write("conformance.types", table)
    return Case(
        name,
        "iceberg",
        "conformance.types",
        ice.params(),
        TYPES,
        refuses=frozenset({"ilike", "like_underscore", "f64"}),
    )
