"""`az:` over Azurite: the table as CSV, its columns declared. No "down" case: Azure's client
retries an unreachable endpoint for its whole time limit."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.csv as pa_csv
import pytest

from tests.conformance.backends import Conf, file_sends, missing_file
from tests.conformance.data import TYPES, types_table
from tests.peers.objectstores import Azurite


class Azure(Conf):
    name = "azure"
    scheme = "az"
    secret_param = "account_key"

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: Azurite = request.getfixturevalue("azurite")
        buffer = io.BytesIO()
        pa_csv.write_csv(types_table(), buffer)
        peer.put("conformance/types.csv", buffer.getvalue())
        params = peer.params(null_values=[""])
        return cls(
            "//conformance/types.csv",
            params,
            TYPES,
            declared=TYPES,
            broken={"credentials": {"params": params | {"account_key": "d3Jvbmc="}}},
            sends=file_sends("csv az://conformance/types.csv"),
            errors={
                "missing": missing_file("az://conformance/", "types.csv"),
                "credentials": (
                    "access to az://conformance/types.csv denied for the key of account "
                    f"{params['account_name']} (params.account_key): …",
                    "check that this credential may list and read container conformance and "
                    "that its secret is right (params.account_key, params.sas_token, "
                    "params.client_secret); for a public container set params.anonymous: true",
                ),
            },
        )


CONF = Azure
