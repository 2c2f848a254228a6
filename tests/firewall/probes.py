"""The firewall's probes: one table, run on every interface (test_probes.py).

A probe runs SQL as an identity role; the client's name is appended to the role (`capped` runs
as `capped-http` over HTTP, `capped-asyncpg` over asyncpg), so limits that keep state (rate,
concurrency) start fresh on each interface. A probe expects rows or a refusal; a refusal is
checked for its code on each protocol, for naming the limit and the identity, and for its fix.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from tests.firewall.conftest import HASH_KEY

# The code each protocol carries for a kind of refusal.
WIRE: dict[str, dict[str, str]] = {
    # rows and bytes: the query must change (HTTP 400, INVALID_ARGUMENT)
    "size": {
        "http": "400", "psycopg": "53400", "asyncpg": "53400", "adbc": "INVALID_ARGUMENT",
        "mcp": "limit_exceeded", "tools": "limit_exceeded",
    },
    # rate and concurrency: the same request passes later (HTTP 429, Flight UNAVAILABLE)
    "later": {
        "http": "429", "psycopg": "53400", "asyncpg": "53400", "adbc": "IO",
        "mcp": "limit_exceeded", "tools": "limit_exceeded",
    },
    # a source's rate limit: the wait it asks for goes to the agent (HTTP 503 + Retry-After)
    "source": {
        "http": "503", "psycopg": "58030", "asyncpg": "58030", "adbc": "IO",
        "mcp": "source_error", "tools": "source_error",
    },
    "timeout": {
        "http": "504", "psycopg": "57014", "asyncpg": "57014", "adbc": "TIMEOUT",
        "mcp": "timeout", "tools": "timeout",
    },
}  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    """`kind` keys WIRE; `words` must be in the message and `fix` in the hint. "{identity}"
    stands for the identity the probe ran as."""

    kind: str
    words: tuple[str, ...]
    fix: str
    retry: bool = False


@dataclass(frozen=True)
class Missing:
    """A failure that must be exactly that of `sql`, which names `name` where the probe names
    `probed` (something the identity may not see): hidden looks like absent, word for word."""

    sql: str
    name: str
    probed: str


@dataclass(frozen=True)
class Probe:
    """`before` runs `sql` that many times first (each must pass); `hold` runs concurrently,
    started just before the probe, as the same identity; `midstream` says the refusal comes
    after the first rows (HTTP: a 200 response broken off). `missing` expects the failure of
    something that does not exist; `shows`/`hides` are texts the rows must (not) contain."""

    name: str
    role: str
    sql: str
    rows: list[dict[str, Any]] | None = None
    count: int | None = None
    refusal: Refusal | None = None
    before: int = 0
    hold: str | None = None
    midstream: bool = False
    skip: frozenset[str] = field(default_factory=frozenset)
    missing: Missing | None = None
    shows: tuple[str, ...] = ()
    hides: tuple[str, ...] = ()


MAX_ROWS = Refusal("size", ("max_rows", "20", '"{identity}"'), "add LIMIT or aggregate")
MAX_BYTES = Refusal("size", ("max_bytes", '"{identity}"'), "add LIMIT or aggregate")

PROBES = [
    Probe("free reads", "free", "SELECT count(*) AS n FROM orders", rows=[{"n": 1000}]),
    Probe("within max_rows", "capped", "SELECT id FROM events ORDER BY id LIMIT 20", count=20),
    Probe("max_rows at the first batch", "capped", "SELECT * FROM orders", refusal=MAX_ROWS),
    Probe(
        "max_rows mid-stream",
        "capped",
        "SELECT * FROM events",
        refusal=MAX_ROWS,
        midstream=True,
    ),
    Probe("aggregate under max_rows", "capped", "SELECT count(*) AS n FROM orders", count=1),
    Probe("max_bytes", "narrow", "SELECT * FROM orders", refusal=MAX_BYTES),
    Probe("within max_bytes", "narrow", "SELECT id FROM orders WHERE id < 3", count=3),
    Probe(
        "rate and burst",
        "paced",
        "SELECT 1 AS one",
        before=2,
        refusal=Refusal("later", ("rate limit", '"{identity}"'), "retry in", retry=True),
    ),
    Probe(
        "max_concurrent",
        "single",
        "SELECT 1 AS one",
        hold="SELECT * FROM slow",
        refusal=Refusal(
            "later", ("max_concurrent", '"{identity}"'), "wait for a running query", retry=True
        ),
    ),
    Probe(
        "a source's rate limit",
        "free",
        "SELECT * FROM limited",
        refusal=Refusal("source", ("HTTP 429",), "asks to wait 3600s", retry=True),
    ),
    Probe(
        "query_timeout of the identity",
        "hasty",
        "SELECT * FROM slow",
        refusal=Refusal("timeout", ("within 1s",), "limits.query_timeout"),
    ),
]


def hashed(value: str) -> str:
    """What the `hash` rule makes of a value: HMAC-SHA256 under the hash key, 16 hex chars."""
    return hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


ANNA, GUS, JAN = (hashed(f"{name}@example.com") for name in ("anna", "gus", "jan"))
DE_ORDERS = 28 + 27 * 3  # orders of customer-0, -3, -6 and -9

# Access policies (conftest.POLICIES): visibility, masks, hashes and row filters beneath every
# construct, and hidden things failing exactly as missing ones do.
PROBES += [
    Probe(
        "masked, hashed and filtered rows",
        "sre",
        "SELECT id, name, email, country FROM customers ORDER BY id",
        rows=[
            {"id": "customer-0", "name": "****", "email": ANNA, "country": "DE"},
            {"id": "customer-3", "name": "****", "email": ANNA, "country": "DE"},
            {
                "id": "customer-6",
                "name": "****",
                "email": hashed("gus@example.com"),
                "country": "DE",
            },
            {
                "id": "customer-9",
                "name": "****",
                "email": hashed("jan@example.com"),
                "country": "DE",
            },
        ],
    ),
    Probe(
        "SELECT * omits a denied column",
        "sre",
        "SELECT * FROM customers WHERE id = 'customer-0'",
        rows=[{"id": "customer-0", "name": "****", "email": ANNA, "country": "DE"}],
    ),
    Probe(
        "a denied column does not exist",
        "sre",
        "SELECT credit_limit FROM customers",
        missing=Missing("SELECT credit_limix FROM customers", "credit_limix", "credit_limit"),
    ),
    Probe(
        "a predicate sees the masked value",
        "sre",
        "SELECT count(*) AS n FROM customers WHERE name LIKE 'A%' OR name = 'Anna'",
        rows=[{"n": 0}],
    ),
    Probe(
        "hashes join",
        "sre",
        "SELECT count(*) AS n FROM customers a JOIN customers b ON a.email = b.email "
        "AND a.id < b.id",
        rows=[{"n": 1}],
    ),
    Probe(
        "row filter beneath a join",
        "sre",
        "SELECT count(*) AS n FROM orders o JOIN customers c ON c.id = o.customer",
        rows=[{"n": DE_ORDERS}],
    ),
    Probe(
        "row filter beneath a CTE and DISTINCT",
        "sre",
        "WITH c AS (SELECT country FROM customers) SELECT DISTINCT country FROM c",
        rows=[{"country": "DE"}],
    ),
    Probe(
        "row filter beneath a subquery",
        "sre",
        "SELECT count(*) AS n FROM orders WHERE customer IN (SELECT id FROM customers)",
        rows=[{"n": DE_ORDERS}],
    ),
    Probe(
        "row filter beneath a window",
        "sre",
        "SELECT max(r) AS n FROM (SELECT row_number() OVER (ORDER BY id) AS r FROM customers) t",
        rows=[{"n": 4}],
    ),
    Probe(
        "row filter beneath UNION",
        "sre",
        "SELECT country FROM customers UNION SELECT 'XX' ORDER BY 1",
        rows=[{"country": "DE"}, {"country": "XX"}],
    ),
    Probe(
        "row filter from the cache",
        "sre",
        "SELECT count(*) AS n, min(email) AS e FROM customers",
        before=1,
        rows=[{"n": 4, "e": min(ANNA, GUS, JAN)}],
    ),
    Probe(
        "EXPLAIN shows the policy, not the denied column",
        "sre",
        "EXPLAIN SELECT * FROM customers",
        shows=("access policy: row filter applied by the source; masked: name; hashed: email",),
        hides=("credit_limit",),
    ),
    Probe(
        "a view's datasets keep their rules for the caller",
        "sre",
        "SELECT count(*) AS n FROM vip",
        rows=[{"n": 0}],  # its credit_limit is denied to sre, so NULL beneath the view
    ),
    Probe(
        "a view runs with its definer's visibility",
        "bi",
        "SELECT id FROM vip ORDER BY id",
        rows=[{"id": f"customer-{i}"} for i in sorted(range(5, 12), key=str)],
    ),
    Probe(
        "a dataset beneath a view stays hidden",
        "bi",
        "SELECT * FROM customers",
        missing=Missing("SELECT * FROM customerz", "customerz", "customers"),
    ),
    Probe(
        "EXPLAIN of a view hides what lies beneath",
        "bi",
        "EXPLAIN SELECT * FROM vip",
        shows=("a dataset beneath view vip that you cannot see",),
        hides=("customers", "credit_limit", "parquet"),
    ),
    Probe(
        "information_schema lists what is visible",
        "bi",
        "SELECT table_name, column_name FROM information_schema.columns ORDER BY 1, 2",
        rows=[{"table_name": "vip", "column_name": name} for name in ("country", "id", "name")],
    ),
    Probe(
        "no suggestion of a hidden name",
        "sre",
        "SELECT * FROM event",
        missing=Missing("SELECT * FROM qqqqq", "qqqqq", "event"),
    ),
    Probe(
        "an attribute is a literal, not SQL",
        "evil",
        "SELECT count(*) AS n FROM customers",
        rows=[{"n": 0}],
    ),
    Probe(
        "deny by default",
        "stranger",
        "SELECT count(*) AS n FROM orders",
        missing=Missing("SELECT count(*) AS n FROM qqqqq", "qqqqq", "orders"),
    ),
    Probe(
        "deny by default lists nothing",
        "stranger",
        "SELECT table_name FROM information_schema.tables",
        rows=[],
    ),
]
