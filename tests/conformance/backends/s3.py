"""`s3:` over moto's S3: the table as Parquet, read by the file connector's own code path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.backends import Conf, file_sends, missing_file
from tests.conformance.data import TYPES, types_table
from tests.peers import free_port
from tests.peers.objectstores import MotoS3


class S3(Conf):
    name = "s3"
    scheme = "s3"
    secret_param = "secret_access_key"
    private_params = ("access_key_id",)

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: MotoS3 = request.getfixturevalue("moto_s3")
        peer.bucket("conformance")
        peer.put_parquet("conformance/types.parquet", types_table())
        down = f"http://127.0.0.1:{free_port()}"
        where = "s3://conformance/types.parquet"
        credentials = (
            f"access to {where} denied for the access key in params.access_key_id: …",
            "check that this credential may list and read bucket conformance and that its "
            "secret is right (params.access_key_id, params.secret_access_key, "
            "params.session_token); for a public bucket set params.anonymous: true",
        )
        return cls(
            "//conformance/types.parquet",
            peer.params(),
            TYPES,
            broken={
                "credentials": {"params": peer.params(secret_access_key="wrong")},
                "down": {"params": peer.params(endpoint=down)},
            },
            sends=file_sends(f"parquet {where}"),
            errors={
                "missing": missing_file("s3://conformance/", "types.parquet"),
                "credentials": credentials,
                "down": (
                    f"cannot reach {down}: …",
                    "check params.endpoint and the network path to the store",
                ),
            },
        )


CONF = S3
