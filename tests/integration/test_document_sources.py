"""MongoDB (nx-27017), Elasticsearch (osmem-server) and GitHub (a local fake) through the
engine: SQL answers checked against DuckDB over the same rows, nested fields, a join of all
three with a Parquet file, pushdown seen at the peers, and failures that stay contained."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from connectors.base import DatasetSource, ScanRequest
from connectors.elasticsearch import ElasticsearchConnector
from connectors.mongodb import MongoConnector
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import SidecarError
from tests.conformance.results import engine_rows, same_rows
from tests.peers import free_port
from tests.peers.elasticsearch import SENT, Osmem, osmem  # noqa: F401
from tests.peers.github import TOKEN, GitHubApi, github_api  # noqa: F401
from tests.peers.mongodb import NxServer, nx27017  # noqa: F401

START = dt.datetime(2026, 3, 14, 14, 0)
STATUSES = ["paid", "failed", "pending", None]
CITIES = ["Paris", "Oslo", "Lyon"]
LOG_INDEX = "shop-logs-2026.03.14"


def orders() -> list[dict[str, Any]]:
    rows = []
    for i in range(1, 61):
        row: dict[str, Any] = {
            "order_id": i,
            "customer_id": i % 7,
            "status": STATUSES[i % 4],
            "amount": round(i * 3.25, 2),
            "created_at": START + dt.timedelta(minutes=i),
            "payment": {"provider": "stripe" if i % 3 else "adyen", "attempts": i % 3},
            "items": [{"sku": f"sku-{i % 5}", "qty": 1 + i % 2}],
        }
        if i % 10 == 0:
            del row["payment"]
            row["created_at"] = None
        rows.append(row)
    return rows


def logs() -> list[dict[str, Any]]:
    rows = []
    for i in range(1, 121):
        failed = i % 4 == 2
        rows.append(
            {
                "_id": f"log-{i}",
                "ts": (START + dt.timedelta(seconds=30 * i)).isoformat() + "Z",
                "level": "ERROR" if failed else "INFO",
                "service": "order-service" if i % 2 else "payment-service",
                "order_id": i // 2,
                "message": "PaymentClient: timeout acquiring connection from pool"
                if failed
                else f"processed request {i}",
            }
        )
    return rows


LOG_MAPPING = {
    "ts": {"type": "date"},
    "level": {"type": "keyword"},
    "service": {"type": "keyword"},
    "order_id": {"type": "long"},
    "message": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
}


@pytest.fixture(scope="module")
def world(
    nx27017: NxServer,  # noqa: F811
    osmem: Osmem,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    root: Path = tmp_path_factory.mktemp("documents")
    nx27017.load("shop.orders", orders())
    nx27017.load(
        "shop.events",
        [
            {"kind": "deploy", "version": "2.14.0", "at": START},
            {"kind": "rollback", "version": 2, "by": {"name": "priya"}},
            {"kind": "alert", "tags": ["payments", "p1"]},
        ],
    )
    osmem.create(LOG_INDEX, LOG_MAPPING)
    osmem.create("shop-logs-2026.03.15", LOG_MAPPING | {"order_id": {"type": "integer"}})
    osmem.load(LOG_INDEX, logs())
    osmem.load("shop-logs-2026.03.15", [{"_id": "late", "level": "WARN", "order_id": 999}])
    customers = pa.table(
        {
            "customer_id": pa.array(range(7), pa.int64()),
            "name": [f"customer {i}" for i in range(7)],
            "segment": ["vip" if i % 3 == 0 else "regular" for i in range(7)],
        }
    )
    pq.write_table(customers, root / "customers.parquet")
    return {"root": root, "mongo": nx27017.uri, "es": osmem, "customers": customers}


def engine_for(
    world: dict[str, Any],
    extra: list[dict[str, Any]] | None = None,
    runtime: dict[str, Any] | None = None,
) -> Engine:
    datasets = [
        {"from": "mongodb:shop.orders", "name": "orders", "params": {"uri": world["mongo"]}},
        {
            "from": "mongodb:shop.orders",
            "name": "orders_flat",
            "params": {"uri": world["mongo"], "flatten": True},
        },
        {"from": "mongodb:shop.events", "name": "events", "params": {"uri": world["mongo"]}},
        {"from": "elasticsearch:shop-logs-*", "name": "logs", "params": world["es"].params()},
        {"from": "file:customers.parquet", "name": "customers"},
    ]
    config = parse_config(
        {"name": "sre", "datasets": datasets + (extra or []), "runtime": runtime or {}},
        world["root"],
    )
    engine = Engine(config)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engine(world: dict[str, Any]) -> Engine:
    engine = engine_for(world)
    assert engine.ready, {e.name: e.error for e in engine.catalog.datasets.values()}
    return engine


def duck(world: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    flat = [
        {k: row.get(k) for k in ("order_id", "customer_id", "status", "amount", "created_at")}
        for row in orders()
    ]
    connection.register("orders", pa.Table.from_pylist(flat))
    log_rows = [{k: v for k, v in row.items() if k != "_id"} for row in logs()]
    for row in log_rows:
        row["ts"] = dt.datetime.fromisoformat(row["ts"].rstrip("Z"))
    log_rows.append({"level": "WARN", "order_id": 999})
    connection.register("logs", pa.Table.from_pylist(log_rows))
    connection.register("customers", world["customers"])
    return connection


MONGO_QUERIES = [
    "SELECT order_id, amount FROM orders WHERE status = 'failed' AND amount > 50",
    "SELECT order_id FROM orders WHERE status <> 'paid'",
    "SELECT order_id FROM orders WHERE NOT (status = 'paid' OR status = 'pending')",
    "SELECT order_id FROM orders WHERE status IS NULL",
    "SELECT order_id FROM orders WHERE status LIKE 'p%d' AND amount BETWEEN 10 AND 100",
    "SELECT order_id FROM orders WHERE status NOT IN ('paid', 'failed')",
    "SELECT order_id FROM orders WHERE created_at >= '2026-03-14 14:30:00'",
    "SELECT status, count(*) AS n, sum(amount) AS total FROM orders GROUP BY status",
]


@pytest.mark.parametrize("sql", MONGO_QUERIES)
def test_mongodb_answers_like_sql(world: dict[str, Any], engine: Engine, sql: str) -> None:
    want = duck(world).sql(sql).fetchall()
    assert same_rows(engine_rows(engine, sql), want)


def test_mongodb_top_n_is_pushed_and_exact(world: dict[str, Any], engine: Engine) -> None:
    sql = (
        "SELECT o.order_id FROM orders o "
        "ORDER BY o.created_at DESC NULLS FIRST, o.order_id NULLS FIRST LIMIT 8"
    )
    got = engine_rows(engine, sql)
    want = duck(world).sql(sql.replace("o.", "").replace("orders o", "orders")).fetchall()
    assert got == want  # NULLs first, as PostgreSQL orders DESC
    plan = engine.explain(sql)
    assert 'find({"created_at": null}' in plan and '.sort({"order_id": 1}).limit(8)' in plan
    assert '.sort({"created_at": -1, "order_id": 1}).limit(8)' in plan


def test_grouped_queries_fit_one_aggregate(world: dict[str, Any]) -> None:
    """The connector side of aggregate pushdown, against nx-27017. AVG is left out: nx-27017
    averages NULLs as zeros."""
    sql = (
        "SELECT status, count(*), count(created_at), sum(customer_id), max(created_at) "
        "FROM orders WHERE order_id > 5 GROUP BY status"
    )
    mongo = MongoConnector(
        DatasetSource("orders", "mongodb", "shop.orders", {"uri": world["mongo"]})
    )
    select = sqlglot.parse_one(sql, read="postgres")
    assert isinstance(select, exp.Select)
    answer = mongo.aggregate(select)
    assert answer is not None
    got = [tuple(row.values()) for row in answer.open().read_all().to_pylist()]
    assert same_rows(got, duck(world).sql(sql).fetchall())


# What nx-27017 computes right: it does not evaluate the `$ifNull` keys of a compound `_id`
# (GROUP BY two columns) and averages NULLs as zeros, so those are the mockupdb tests' part.
GROUPED_QUERIES = [
    "SELECT count(*) FROM orders",
    "SELECT count(created_at), count(status) FROM orders",
    "SELECT sum(customer_id), avg(amount), min(created_at), max(order_id) FROM orders",
    "SELECT count(*), max(created_at) FROM orders WHERE order_id > 1000",
    "SELECT status, count(*), sum(customer_id), avg(amount), min(order_id) FROM orders "
    "GROUP BY status",
    "SELECT customer_id, count(created_at), max(created_at) FROM orders "
    "WHERE status = 'paid' AND order_id > 20 GROUP BY customer_id",
    "SELECT customer_id AS c, count(*) AS n FROM orders GROUP BY 1 ORDER BY n DESC, c LIMIT 3",
    "SELECT customer_id, sum(order_id) AS total FROM orders GROUP BY customer_id "
    "HAVING sum(order_id) > 250 AND customer_id <> 3 ORDER BY total DESC",
    "SELECT DISTINCT count(*) AS n FROM orders GROUP BY customer_id ORDER BY n",
]


@pytest.mark.parametrize("sql", GROUPED_QUERIES)
def test_grouped_queries_run_as_one_aggregate(
    world: dict[str, Any], engine: Engine, sql: str
) -> None:
    result = engine.query(sql)
    got = [tuple(row.values()) for batch in result for row in batch.to_pylist()]
    want = duck(world).sql(sql).fetchall()
    assert result.plan.grouped is not None
    assert same_rows(got, want)
    if "ORDER BY" in sql:
        assert got == want


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT status, count(DISTINCT customer_id) FROM orders GROUP BY status",
        "SELECT status, max(amount) FROM orders GROUP BY status",  # MongoDB orders NaN lowest
        "SELECT status, count(*) FROM orders GROUP BY status HAVING max(order_id) > 57",
        "SELECT c.segment, count(*) FROM orders o JOIN customers c "
        "ON c.customer_id = o.customer_id GROUP BY c.segment",
    ],
)
def test_grouped_queries_that_do_not_fit_are_grouped_by_the_engine(
    world: dict[str, Any], engine: Engine, sql: str
) -> None:
    result = engine.query(sql)
    got = [tuple(row.values()) for batch in result for row in batch.to_pylist()]
    assert result.plan.grouped is None
    assert same_rows(got, duck(world).sql(sql).fetchall())


def test_only_the_groups_travel(engine: Engine) -> None:
    text = engine.explain(
        "ANALYZE SELECT customer_id, count(*) AS n FROM orders WHERE order_id > 5 "
        "GROUP BY customer_id ORDER BY n DESC LIMIT 2"
    )
    assert (
        'orders AS orders, grouped by the source: mongodb shop.orders: aggregate([{"$match": '
        '{"order_id": {"$gt": 5}}}, {"$group": {"_id": "$customer_id", "c1": {"$sum": 1}}}'
    ) in text
    assert 'ORDER BY "orders_groups"."o1" DESC LIMIT 2' in text
    assert "fetched: 7 rows in 1 batches" in text  # 7 customers, not 55 orders


def test_answers_do_not_depend_on_the_pipeline(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names (count(*) when unaliased) and types as DataFusion plans them without the source."""
    engine = engine_for(world, runtime={"results_cache": {"enabled": False}})
    sql = (
        "SELECT status, count(*), count(created_at) AS dated, sum(customer_id), avg(amount), "
        "max(created_at) FROM orders GROUP BY status ORDER BY status NULLS FIRST"
    )
    pushed = engine.query(sql)
    grouped = pa.Table.from_batches(list(pushed), schema=pushed.schema)
    monkeypatch.setattr(MongoConnector, "aggregate", lambda self, select: None)
    ordinary = engine.query(sql)
    scanned = pa.Table.from_batches(list(ordinary), schema=ordinary.schema)
    assert pushed.plan.grouped is not None and ordinary.plan.grouped is None
    assert grouped.schema == scanned.schema
    assert grouped.schema.names[:3] == ["status", "count(*)", "dated"]
    assert same_rows(
        [tuple(row.values()) for row in grouped.to_pylist()],
        [tuple(row.values()) for row in scanned.to_pylist()],
    )


def test_nested_fields_are_queryable(engine: Engine) -> None:
    rows = engine_rows(
        engine,
        "SELECT order_id, payment['provider'], items[1]['sku'] FROM orders "
        "WHERE order_id IN (3, 10) ORDER BY order_id",
    )
    assert rows == [(3, "adyen", "sku-3"), (10, None, "sku-0")]
    flat = engine_rows(
        engine,
        "SELECT count(*) FROM orders_flat WHERE \"payment.provider\" = 'adyen' "
        'AND "payment.attempts" = 0',
    )
    assert flat == [(18,)]
    text = engine.explain("SELECT order_id FROM orders_flat WHERE \"payment.provider\" = 'adyen'")
    assert '{"payment.provider": "adyen"}' in text


def test_heterogeneous_documents_get_one_schema(engine: Engine) -> None:
    described = {row[0]: row[1] for row in engine_rows(engine, "DESCRIBE events")}
    assert described["version"] == "text"  # "2.14.0" and 2
    assert described["at"] == "timestamp with time zone"
    assert described["by"] == "json" and described["tags"] == "text[]"
    rows = engine_rows(engine, "SELECT kind, version, by['name'] FROM events ORDER BY kind")
    assert rows == [("alert", None, None), ("deploy", "2.14.0", None), ("rollback", "2", "priya")]


ES_QUERIES = [
    "SELECT order_id FROM logs WHERE level = 'ERROR' AND service = 'order-service'",
    "SELECT count(*) FROM logs WHERE level <> 'INFO'",
    "SELECT order_id FROM logs WHERE ts >= '2026-03-14 14:30:00' AND order_id < 70",
    "SELECT order_id FROM logs WHERE service LIKE 'pay%' AND NOT level IN ('ERROR')",
    "SELECT level, count(*) FROM logs GROUP BY level",
]


@pytest.mark.parametrize("sql", ES_QUERIES)
def test_elasticsearch_answers_like_sql(world: dict[str, Any], engine: Engine, sql: str) -> None:
    want = duck(world).sql(sql).fetchall()
    assert same_rows(engine_rows(engine, sql), want)


def test_elasticsearch_receives_the_query_dsl(world: dict[str, Any], engine: Engine) -> None:
    before = len(SENT)
    sql = "SELECT l.order_id FROM logs l WHERE l.level = 'ERROR' ORDER BY l.ts LIMIT 3"
    assert len(engine_rows(engine, sql)) == 3
    bodies = [b for b in world["es"].searches("shop-logs-*")][-1:]
    assert len(SENT) > before and bodies
    body = bodies[0]
    assert body["query"] == {"bool": {"filter": [{"term": {"level": "ERROR"}}]}}
    assert body["size"] == 3 and set(body["_source"]) == {"order_id", "ts", "level"}
    assert body["sort"] == [{"ts": {"order": "asc", "missing": "_last", "unmapped_type": "date"}}]


def scan_all(world: dict[str, Any], node: str, index: str) -> list[Any]:
    params = world["es"].params(node_class=node, page_size=7)
    es = ElasticsearchConnector(DatasetSource("logs", "elasticsearch", index, params))
    return es.scan(ScanRequest(projection=["_id"])).read_all().column(0).to_pylist()


def test_deep_reads_scroll_or_search_after_a_point_in_time(world: dict[str, Any]) -> None:
    before = len(SENT)
    scrolled = scan_all(world, "osmem", "shop-logs-*")
    assert len(scrolled) == 121 and len(set(scrolled)) == 121
    targets = [target for _, target, _ in SENT[before:]]
    assert any("/_search/scroll" in t for t in targets) and any("scroll=" in t for t in targets)
    before = len(SENT)
    paged = scan_all(world, "osmem-pit", LOG_INDEX)
    assert sorted(paged) == sorted(f"log-{i}" for i in range(1, 121))
    bodies = [b for b in world["es"].searches(None) if "pit" in b]
    assert any("search_after" in b for b in bodies)
    assert any(t.startswith(f"/{LOG_INDEX}/_pit") for _, t, _ in SENT[before:])


def predicate(sql: str) -> exp.Expression:
    where = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    for column in list(where.this.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return where.this


def test_full_text_match_is_a_scored_search(world: dict[str, Any]) -> None:
    """`message @@ 'text'` at the connector: a match query, scored."""
    es = ElasticsearchConnector(
        DatasetSource("logs", "elasticsearch", "shop-logs-*", world["es"].params())
    )
    match = predicate("message @@ 'timeout pool'")
    assert es.accepts_filter(match) and es.accepts_filter(predicate("MATCH(message) AGAINST('x')"))
    key = sqlglot.parse_one("SELECT 1 FROM t ORDER BY _score DESC", read="postgres")
    ordered = key.args["order"].expressions[0]
    ordered.set("this", exp.column("_score", quoted=True))
    request = ScanRequest(
        projection=["_id", "_score"], filters=[match], limit=5, order_by=[ordered]
    )
    rows = es.scan(request).read_all().to_pylist()
    assert len(rows) == 5 and all(row["_score"] > 0 for row in rows)
    assert [r["_score"] for r in rows] == sorted((r["_score"] for r in rows), reverse=True)
    body = world["es"].searches("shop-logs-*")[-1]
    assert body["query"] == {"bool": {"must": [{"match": {"message": "timeout pool"}}]}}
    assert not es.accepts_filter(predicate("NOT message @@ 'timeout'"))


def test_full_text_search_from_sql(engine: Engine) -> None:
    sql = (
        "SELECT _id, _score, message FROM logs WHERE message @@ 'timeout pool' "
        "AND level = 'ERROR' ORDER BY _score DESC LIMIT 3"
    )
    result = engine.query(sql)
    rows = pa.Table.from_batches(list(result), schema=result.schema).to_pylist()
    assert len(rows) == 3 and all("timeout" in row["message"] for row in rows)
    assert [r["_score"] for r in rows] == sorted((r["_score"] for r in rows), reverse=True)
    logs = result.plan.scans[0].request
    assert logs.limit == 3 and any(f.find(exp.MatchAgainst) for f in logs.filters)
    counted = engine.query("SELECT count(*) AS n FROM logs WHERE message @@ 'timeout'")
    assert pa.Table.from_batches(list(counted)).to_pylist() == [{"n": 30}]
    with pytest.raises(SidecarError) as outside:
        engine.query("SELECT * FROM logs WHERE message @@ 'timeout' OR level = 'WARN'")
    assert "search source" in outside.value.message


def test_mongo_elasticsearch_and_parquet_join(world: dict[str, Any], engine: Engine) -> None:
    sql = (
        "SELECT c.segment, count(DISTINCT o.order_id) AS orders, count(*) AS errors "
        "FROM orders o JOIN logs l ON l.order_id = o.order_id "
        "JOIN customers c ON c.customer_id = o.customer_id "
        "WHERE l.level = 'ERROR' AND o.status = 'failed' GROUP BY c.segment"
    )
    want = duck(world).sql(sql).fetchall()
    assert want and same_rows(engine_rows(engine, sql), want)


def test_github_runbooks_next_to_the_data(world: dict[str, Any], github_api: GitHubApi) -> None:  # noqa: F811
    extra = [
        {
            "from": "github:acme/shop/files",
            "name": "runbooks",
            "params": github_api.params(path="runbooks", include="*.md"),
        }
    ]
    engine = engine_for(world, extra)
    rows = engine_rows(
        engine, "SELECT path, title FROM runbooks WHERE content ILIKE '%PAYMENT_POOL_SIZE%'"
    )
    assert rows == [("runbooks/payments.md", "Payment timeouts and connection pool exhaustion")]
    listed = engine_rows(engine, "SELECT path FROM runbooks ORDER BY path")
    assert listed == [("runbooks/deploys.md",), ("runbooks/payments.md",)]


def test_a_down_source_fails_only_its_queries_without_secrets(
    world: dict[str, Any],
    github_api: GitHubApi,  # noqa: F811
) -> None:
    port = free_port()
    extra = [
        {
            "from": "mongodb:shop.orders",
            "name": "orders_replica",
            "params": {
                "uri": f"mongodb://reader:hunter2-secret@127.0.0.1:{port}/",
                "connect_timeout": "300ms",
            },
        },
        {
            "from": "elasticsearch:shop-logs-*",
            "name": "logs_replica",
            "params": world["es"].params(hosts=f"http://127.0.0.1:{port}", api_key="es-key-42"),
        },
        {
            "from": "github:acme/shop/issues",
            "name": "issues",
            "params": github_api.params(token="ghp_wrong-token-999"),
        },
    ]
    engine = engine_for(world, extra)
    for table in ("orders_replica", "logs_replica", "issues"):
        with pytest.raises(SidecarError) as caught:
            engine_rows(engine, f"SELECT count(*) FROM {table}")
        text = f"{caught.value.message} {caught.value.hint}"
        assert table in text
        for secret in ("hunter2-secret", "es-key-42", "ghp_wrong-token-999", TOKEN):
            assert secret not in text
    assert engine_rows(engine, "SELECT count(*) FROM orders") == [(60,)]
    assert engine_rows(engine, "SELECT count(*) FROM logs") == [(121,)]
