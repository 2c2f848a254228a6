"""The firewall's probes: one table, run on every interface (test_probes.py).

A probe runs SQL as an identity role; the client's name is appended to the role (`capped` runs
as `capped-http` over HTTP, `capped-asyncpg` over asyncpg), so limits that keep state (rate,
concurrency) start fresh on each interface. A probe expects rows or a refusal; a refusal is
checked for its code on each protocol, for naming the limit and the identity, and for its fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The code each protocol carries for a kind of refusal.
WIRE: dict[str, dict[str, str]] = {
    # rows and bytes: the query must change (HTTP 400, INVALID_ARGUMENT)
    "size": {
        "http": "400", "psycopg": "53400", "asyncpg": "53400", "adbc": "INVALID_ARGUMENT",
        "tools": "limit_exceeded",
    },
    # rate and concurrency: the same request passes later (HTTP 429, Flight UNAVAILABLE)
    "later": {
        "http": "429", "psycopg": "53400", "asyncpg": "53400", "adbc": "IO",
        "tools": "limit_exceeded",
    },
    "timeout": {
        "http": "504", "psycopg": "57014", "asyncpg": "57014", "adbc": "TIMEOUT",
        "tools": "timeout",
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
class Probe:
    """`before` runs `sql` that many times first (each must pass); `hold` runs concurrently,
    started just before the probe, as the same identity; `midstream` says the refusal comes
    after the first rows (HTTP: a 200 response broken off)."""

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
        "query_timeout of the identity",
        "hasty",
        "SELECT * FROM slow",
        refusal=Refusal("timeout", ("within 1s",), "limits.query_timeout"),
    ),
]
