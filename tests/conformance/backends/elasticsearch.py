"""`elasticsearch:` over osmem-server, the table as documents; its search bodies recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import TYPES
from tests.conformance.documents import DOUBLE_DEC, documents
from tests.peers import free_port
from tests.peers.elasticsearch import Osmem

MAPPING = {
    "id": {"type": "long"},
    "i32": {"type": "integer"},
    "big": {"type": "long"},
    "dec": {"type": "double"},
    "f64": {"type": "double"},
    "txt": {"type": "keyword"},
    "flag": {"type": "boolean"},
    "day": {"type": "date"},
    "ts": {"type": "date"},
}

# The search body of each standard scan (one page each).
BODIES: dict[str, dict[str, Any]] = {
    "limit": {
        "query": {"bool": {"filter": [{"range": {"i32": {"gt": 2}}}]}},
        "_source": ["id"],
        "size": 2,
    },
    "lookup": {
        "query": {"bool": {"filter": [{"term": {"i32": 3}}]}},
        "_source": ["id", "txt"],
        "size": 5,
    },
    "top": {
        "query": {"match_all": {}},
        "_source": ["id", "txt"],
        "size": 3,
        "sort": [{"txt": {"order": "desc", "missing": "_first", "unmapped_type": "keyword"}}],
    },
}


class Elasticsearch(Conf):
    name = "elasticsearch"
    scheme = "elasticsearch"
    # SQL dates over Elasticsearch dates are compared by the engine.
    refuses = DOUBLE_DEC | {"date"}
    orders = True
    timestamp_unit = "ms"  # Elasticsearch dates

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: Osmem = request.getfixturevalue("osmem")
        peer.create("types", MAPPING)
        docs = [
            {"_id": row["id"]} | {k: v for k, v in row.items() if v is not None}
            for row in documents()
        ]
        peer.load("types", docs)
        down = peer.params(hosts=f"http://127.0.0.1:{free_port()}")
        return cls(
            "types",
            peer.params(),
            TYPES,
            declared=TYPES,
            broken={"down": {"params": down}},
            peer=peer,
            sends={
                k: f"elasticsearch POST /types/_search {json.dumps(b)} (one page)"
                for k, b in BODIES.items()
            },
            receives={k: [json.dumps(b, sort_keys=True)] for k, b in BODIES.items()},
            errors={
                "missing": (
                    "index typos does not exist: index_not_found_exception: no such index [typos]",
                    "did you mean types? indices: types",
                ),
                "down": (
                    "cannot reach Elasticsearch for types: ConnectionError",
                    "check params.hosts and that the cluster is up and reachable",
                ),
            },
        )

    def received(self) -> list[str]:
        return [json.dumps(body, sort_keys=True) for body in self.peer.searches("types")]


CONF = Elasticsearch
