"""A sidecar serving one Parquet file as keyed copies to five identities, one per kind of
policy a lookup must keep (none, max_rows, rate, a masked column, a row filter), with an
audit log: the world of the lookup-lane tests over the pg wire and Flight SQL."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

ROLES = ("free", "capped", "paced", "masked", "rowf")


def role_keys() -> dict[str, str]:
    return {role: f"key-{role}-{secrets.token_hex(8)}" for role in ROLES}


def config(
    name: str, port: int, keys: dict[str, str], datasets: list[dict[str, Any]]
) -> dict[str, Any]:
    """sidecar.yaml for `datasets` (each with a `secret` and a `country` column), an API key
    per role, the roles' policies over every dataset and an audit log in audit.jsonl."""
    names = [dataset["name"] for dataset in datasets]
    return {
        "version": 1,
        "name": name,
        "runtime": {
            "http": {"port": port},
            "auth": {
                "api_keys": [
                    {"key": key, "identity": role, "attributes": {"country": "DE"}}
                    for role, key in keys.items()
                ]
            },
        },
        "datasets": datasets,
        "policies": [
            {"identities": ["free"], "datasets": ["*"]},
            {"identities": ["capped"], "datasets": ["*"], "limits": {"max_rows": 5}},
            {"identities": ["paced"], "datasets": ["*"], "limits": {"rate": "1/m", "burst": 3}},
            {
                "identities": ["masked"],
                "datasets": ["*"],
                "columns": {f"{name}.secret": "mask" for name in names},
            },
            {
                "identities": ["rowf"],
                "datasets": ["*"],
                "rows": {name: "country = {identity.country}" for name in names},
            },
        ],
        "audit": {"path": "audit.jsonl"},
    }


def index_bytes(url: str, key: str, dataset: str = "pk") -> int:
    """The bytes of a dataset's key indexes, as /v1/status reports them."""
    status = httpx.get(f"{url}/v1/status", headers={"Authorization": f"Bearer {key}"}).json()
    found = {d["name"]: d for d in status["datasets"]}[dataset]
    return found["acceleration"]["key_index_bytes"] or 0


def audited(root: Path, sql: str, identity: str, count: int) -> list[dict[str, Any]]:
    """The audit lines of `sql` by `identity`, once there are `count` (written off the
    statement's path, so a moment later)."""
    deadline = time.monotonic() + 10
    while True:
        lines = (root / "audit.jsonl").read_text().splitlines()
        found = [
            entry
            for entry in map(json.loads, lines)
            if entry.get("sql") == sql and entry.get("identity") == identity
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
