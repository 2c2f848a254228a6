"""One real `sidecar run` for the firewall probes, with an identity per role and interface.

The sidecar serves a 1000-row `orders` file, a 100-row `events` file in row groups of 10 (so a
result grows batch by batch and can pass a limit mid-stream), `slow`, an HTTP API that takes 2
seconds to answer, `limited`, one that rate limits for an hour, and for the access policies a
12-row `customers` file and the view `vip` over it: `sre` reads customers of its country (an API
key attribute) with names masked, emails hashed and credit limits denied; `bi` reads only the view;
`evil` carries an attribute written to break out of its row filter; `stranger` matches no policy;
`ops` (the operator's scraper) reads every identity's metrics and no data. The model's data tools
run on a Sidecar built in this process from the same sidecar.yaml (its own audit file): a model's
tool call runs exactly that code.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from sidecar.config import parse_config
from sidecar.runtime import Sidecar
from tests.firewall.clients import INTERFACES, Endpoints
from tests.http_api_server import ApiServer, Reply
from tests.process import SidecarProcess, free_port

ROLES = (
    *("free", "capped", "narrow", "paced", "single", "hasty", "sre", "bi", "evil", "stranger"),
    "ops",
)
ATTRIBUTES = {"sre": {"country": "DE"}, "evil": {"country": "DE' OR '1'='1"}}
SLOW_SECONDS = 2.0
SOURCE_TOKEN = "source-token-" + secrets.token_hex(8)
HASH_KEY = "hash-key-" + secrets.token_hex(8)
INLINE_KEY = "inline-key-" + secrets.token_hex(8)  # written into sidecar.yaml as it is
COUNTRIES = ("DE", "FR", "US")
NAMES = ("Anna", "Bert", "Carl", "Dora", "Emil", "Fay", "Gus", "Hana", "Ivo", "Jan", "Kim", "Lea")
POLICIES = [
    {
        "identities": ["sre-*"],
        "datasets": ["customers", "orders", "vip"],
        "columns": {
            "customers.name": "mask",
            "customers.email": "hash",
            "customers.credit_limit": "deny",
        },
        "rows": {"customers": "country = {identity.country}"},
    },
    {"identities": ["bi-*"], "datasets": ["vip"]},
    {
        "identities": ["evil-*"],
        "datasets": ["customers"],
        "rows": {"customers": "country = {identity.country}"},
    },
    {"identities": ["capped-*"], "datasets": ["*"], "limits": {"max_rows": 20}},
    {"identities": ["narrow-*"], "datasets": ["*"], "limits": {"max_bytes": "2KiB"}},
    {"identities": ["paced-*"], "datasets": ["*"], "limits": {"rate": "1/m", "burst": 2}},
    {"identities": ["single-*"], "datasets": ["*"], "limits": {"max_concurrent": 1}},
    {"identities": ["hasty-*"], "datasets": ["*"], "limits": {"query_timeout": "1s"}},
    {"identities": ["free-*"], "datasets": ["*"]},
    {"identities": ["ops-*"], "datasets": [], "metrics": "all"},
]


@dataclass(frozen=True)
class Firewall:
    process: SidecarProcess
    endpoints: Endpoints
    keys: dict[str, str]  # identity -> API key
    root: Path
    api: ApiServer

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def tools_audit(self) -> Path:
        return self.root / "audit-tools.jsonl"


def identity(role: str, interface: str) -> str:
    return f"{role}-{interface}"


def write_data(root: Path) -> None:
    orders = pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "customer": [f"customer-{i % 37}" for i in range(1000)],
            "amount": [float(i % 250) for i in range(1000)],
            "status": ["failed" if i % 10 == 0 else "paid" for i in range(1000)],
        }
    )
    pq.write_table(orders, root / "orders.parquet")
    events = pa.table({"id": pa.array(range(100), pa.int64()), "kind": ["click"] * 100})
    pq.write_table(events, root / "events.parquet", row_group_size=10)
    pq.write_table(customers(), root / "customers.parquet")


def customers() -> pa.Table:
    """customer-0 .. customer-11 (orders.customer's ids), countries DE, FR, US in turn; the DE
    customers customer-0 and customer-3 share an email, so their hashes are equal."""
    emails = [f"{name.lower()}@example.com" for name in NAMES]
    emails[3] = emails[0]
    return pa.table(
        {
            "id": [f"customer-{i}" for i in range(len(NAMES))],
            "name": list(NAMES),
            "email": emails,
            "country": [COUNTRIES[i % 3] for i in range(len(NAMES))],
            "credit_limit": pa.array([100 * i for i in range(len(NAMES))], pa.int64()),
        }
    )


def config(root: Path, api: ApiServer, keys: dict[str, str], audit: str) -> dict[str, object]:
    api_keys = [
        {"key": key, "identity": name, "attributes": ATTRIBUTES.get(name.split("-")[0], {})}
        for name, key in keys.items()
    ]
    return {
        "version": 1,
        "name": "firewall",
        "runtime": {
            "http": {"port": free_port()},
            "auth": {"api_keys": api_keys, "hash_key": HASH_KEY},
        },
        "views": [
            {
                "name": "vip",
                "sql": "SELECT id, name, country FROM customers WHERE credit_limit >= 500",
            }
        ],
        "datasets": [
            {"from": "file:orders.parquet", "name": "orders"},
            {"from": "file:events.parquet", "name": "events"},
            {"from": "file:customers.parquet", "name": "customers"},
            {
                "from": api.url("/slow"),
                "name": "slow",
                "params": {"retries": 0, "headers": {"Authorization": "${env:SOURCE_TOKEN}"}},
                "columns": [{"name": "x", "type": "bigint"}],
            },
            {
                "from": api.url(f"/limited?api_key={INLINE_KEY}"),
                "name": "limited",
                "params": {"retries": 0},
                "columns": [{"name": "x", "type": "bigint"}],
            },
        ],
        "policies": POLICIES,
        "audit": {"path": audit, "max_size": "1MiB", "backups": 2},
    }


@pytest.fixture(scope="package")
def firewall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Firewall]:
    root = tmp_path_factory.mktemp("firewall")
    write_data(root)
    keys = {
        identity(role, interface): f"key-{role}-{interface}-{secrets.token_hex(12)}"
        for role in ROLES
        for interface in INTERFACES
    }
    env = {"SOURCE_TOKEN": SOURCE_TOKEN}
    with ApiServer() as api, pytest.MonkeyPatch.context() as patch:
        api.route("/slow", Reply([{"x": 1}], delay=SLOW_SECONDS))
        api.route("/limited", Reply({"message": "slow down"}, 429, {"Retry-After": "3600"}))
        settings = config(root, api, keys, "audit.jsonl")
        (root / "sidecar.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        process = SidecarProcess(root / "sidecar.yaml", env=env)
        process.start(settings["runtime"]["http"]["port"])  # type: ignore[index]
        patch.setenv("SOURCE_TOKEN", SOURCE_TOKEN)
        local = Sidecar(parse_config(config(root, api, keys, "audit-tools.jsonl"), root))
        local.engine.load()
        endpoints = Endpoints(process.url, process.pg_port, process.flight_url, local)
        try:
            yield Firewall(process, endpoints, keys, root, api)
        finally:
            process.stop()
            local.engine.close()
            local.gateway.close()
