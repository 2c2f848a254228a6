"""`s3:` over moto's S3: the table as Parquet, read by the file connector's own code path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.backends import Conf, file_sends
from tests.conformance.data import TYPES, types_table
from tests.peers import free_port
from tests.peers.objectstores import MotoS3


class S3(Conf):
    name = "s3"
    scheme = "s3"
    secret_param = "secret_access_key"

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: MotoS3 = request.getfixturevalue("moto_s3")
        peer.bucket("conformance")
        peer.put_parquet("conformance/types.parquet", types_table())
        return cls(
            "//conformance/types.parquet",
            peer.params(),
            TYPES,
            broken={
                "credentials": {"params": peer.params(secret_access_key="wrong")},
                "down": {"params": peer.params(endpoint=f"http://127.0.0.1:{free_port()}")},
            },
            sends=file_sends("parquet s3://conformance/types.parquet"),
        )


CONF = S3
