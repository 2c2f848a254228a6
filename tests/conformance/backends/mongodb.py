"""`mongodb:` over nx-27017, the table as documents (dates as BSON datetimes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import TYPES
from tests.conformance.documents import DOUBLE_DEC, documents
from tests.peers import free_port
from tests.peers.mongodb import NxServer

PROJECTION = '{"id": 1, "txt": 1, "_id": 0}'
# NULLs first on a descending sort: the NULL documents, then the rest in order.
SENDS = {
    "limit": 'mongodb shop.types: find({"i32": {"$gt": 2}}, {"id": 1, "_id": 0}).limit(2)',
    "lookup": f'mongodb shop.types: find({{"i32": 3}}, {PROJECTION}).limit(5)',
    "top": f'mongodb shop.types: find({{"txt": null}}, {PROJECTION}).limit(3) then '
    f'find({{"txt": {{"$ne": null}}}}, {PROJECTION}).sort({{"txt": -1}}).limit(3)',
}


class MongoDb(Conf):
    name = "mongodb"
    scheme = "mongodb"
    refuses = DOUBLE_DEC
    orders = True
    timestamp_unit = "ms"  # BSON datetimes

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: NxServer = request.getfixturevalue("nx27017")
        docs = documents()
        for doc in docs:
            if doc["day"] is not None:
                doc["day"] = dt.datetime.combine(doc["day"], dt.time())
        peer.load("shop.types", docs)
        port = free_port()
        down = {"uri": f"mongodb://127.0.0.1:{port}/", "connect_timeout": "1s"}
        return cls(
            "shop.types",
            {"uri": peer.uri},
            TYPES,
            declared=TYPES,
            broken={"down": {"params": down}},
            sends=SENDS,
            errors={
                "missing": (
                    "collection shop.typos does not exist",
                    "did you mean types? collections in shop: types",
                ),
                "down": (
                    f"cannot reach MongoDB for shop.types: 127.0.0.1:{port}: [Errno 111] "
                    "Connection refused…",
                    "check the host in params.uri and that the server is up and reachable",
                ),
            },
        )


CONF = MongoDb
