"""The MongoDB connector against mockupdb: the exact commands sent, BSON types, inference,
SQL's NULL logic in find() filters, and errors that never show the URI's password."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from bson import Decimal128, ObjectId
from sqlglot import exp

from connectors.base import DatasetSource, ScanRequest, SourceError
from connectors.mongodb import MongoConnector
from sidecar.config import parse_config
from sidecar.engine import Engine
from tests.peers.mongodb import MockMongo, mockmongo, mockmongo_server  # noqa: F401

OID = ObjectId("65f1a2b3c4d5e6f708192a3b")
ORDERS = [
    {
        "_id": OID,
        "status": "failed",
        "amount": Decimal128("12.50"),
        "qty": 2,
        "price": 1.5,
        "at": dt.datetime(2026, 3, 14, 14, 2, 51, 123000),
        "address": {"city": "Paris", "zip": "75001"},
        "tags": ["vip", "eu"],
        "items": [{"sku": "a", "qty": 1}],
        "day": dt.datetime(2026, 3, 14),
    },
    {
        "_id": ObjectId("65f1a2b3c4d5e6f708192a3c"),
        "status": "paid",
        "amount": Decimal128("7"),
        "qty": 3.5,
        "price": 2.0,
        "at": None,
        "address": {"city": "Oslo", "country": "NO"},
        "tags": [],
        "note": "first order",
        "day": dt.datetime(2026, 3, 15),
    },
    {"_id": ObjectId("65f1a2b3c4d5e6f708192a3d"), "status": None, "qty": 1, "price": 3.0},
]


def predicate(sql: str) -> exp.Expression:
    where = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    for column in list(where.this.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return where.this


def ordered(sql: str) -> exp.Ordered:
    key = sqlglot.parse_one(f"SELECT 1 FROM t ORDER BY {sql}", read="postgres").args["order"]
    first = key.expressions[0]
    first.set("this", exp.column(first.this.name, quoted=True))
    return first


def connector(mock: MockMongo, **params: Any) -> MongoConnector:
    source = DatasetSource(
        "orders", "mongodb", "shop.orders", {"uri": mock.uri, "connect_timeout": "2s"} | params
    )
    return MongoConnector(source)


def test_schema_is_inferred_and_unified_across_documents(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    schema = connector(mockmongo, sample_size=50).schema()
    assert schema.field("_id").type == pa.string()
    assert schema.field("amount").type == pa.decimal128(38, 2)
    assert schema.field("qty").type == pa.float64()
    assert schema.field("at").type == pa.timestamp("ms", tz="UTC")
    address = schema.field("address").type
    assert [f.name for f in address] == ["city", "zip", "country"]
    assert schema.field("tags").type == pa.list_(pa.string())
    assert schema.field("items").type == pa.list_(
        pa.struct([("sku", pa.string()), ("qty", pa.int64())])
    )
    assert schema.names[0] == "_id" and "note" in schema.names
    sample = next(c for c in mockmongo.commands if "aggregate" in c)
    assert sample["pipeline"] == [{"$sample": {"size": 50}}]


def test_values_keep_their_bson_meaning(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    rows = connector(mockmongo).scan(ScanRequest()).read_all().to_pylist()
    first = rows[0]
    assert first["_id"] == str(OID)
    assert first["amount"] == Decimal("12.50")
    assert first["at"] == dt.datetime(2026, 3, 14, 14, 2, 51, 123000, tzinfo=dt.UTC)
    assert first["address"] == {"city": "Paris", "zip": "75001", "country": None}
    assert rows[2]["address"] is None and rows[2]["tags"] is None
    assert rows[1]["qty"] == 3.5 and rows[0]["qty"] == 2.0


def test_flattened_columns_are_dotted_paths(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    mongo = connector(mockmongo, flatten=True)
    assert {"address.city", "address.zip", "address.country"} <= set(mongo.schema().names)
    request = ScanRequest(
        projection=["address.city"], filters=[predicate("\"address.city\" = 'Oslo'")]
    )
    assert mongo.accepts_filter(request.filters[0])
    mongo.scan(request).read_all()
    find = mockmongo.finds()[-1]
    assert find["filter"] == {"address.city": "Oslo"}
    assert find["projection"] == {"address.city": 1, "_id": 0}


def test_the_find_command_carries_filter_projection_sort_and_limit(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    mongo = connector(mockmongo)
    filters = [predicate("status = 'failed'"), predicate("amount >= 10.1"), predicate("price < 2")]
    assert all(mongo.accepts_filter(f) for f in filters)
    request = ScanRequest(
        projection=["_id", "status", "amount"], filters=filters, limit=5, order_by=[ordered("at")]
    )
    mongo.scan(request).read_all()
    find = mockmongo.finds()[-1]
    assert find["find"] == "orders" and find["$db"] == "shop"
    assert _plain(find["filter"]) == {
        "$and": [
            {"status": "failed"},
            {"amount": {"$gte": Decimal128("10.1")}},
            {"price": {"$lt": 2}},
            {"price": {"$ne": "NaN"}},
        ]
    }
    assert find["projection"] == {"_id": 1, "status": 1, "amount": 1}
    # Ascending with NULLs last is not MongoDB's order: the engine sorts, so no top-N here.
    assert "sort" not in find and "limit" not in find
    request = ScanRequest(projection=["_id"], limit=5, order_by=[ordered("at NULLS FIRST")])
    mongo.scan(request).read_all()
    assert mockmongo.finds()[-1]["sort"] == {"at": 1} and mockmongo.finds()[-1]["limit"] == 5


def test_descending_top_n_reads_nulls_first_then_sorted_values(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    mongo = connector(mockmongo)
    request = ScanRequest(projection=["_id"], limit=5, order_by=[ordered("at DESC")])
    mongo.scan(request).read_all()
    nulls, values = mockmongo.finds()[-2:]
    assert nulls["filter"] == {"at": None} and nulls["limit"] == 5 and "sort" not in nulls
    # The double answered 3 documents for the NULLs, so 2 are left for the sorted values.
    assert values["filter"] == {"at": {"$ne": None}} and values["sort"] == {"at": -1}
    assert values["limit"] == 2


FILTERS = [
    ("status = 'failed'", {"status": "failed"}),
    ("status <> 'failed'", {"status": {"$nin": ["failed", None]}}),
    ("NOT status = 'failed'", {"status": {"$nin": ["failed", None]}}),
    ("status IS NULL", {"status": None}),
    ("status IS NOT NULL", {"status": {"$ne": None}}),
    ("status IN ('a', 'b')", {"status": {"$in": ["a", "b"]}}),
    ("status NOT IN ('a', 'b')", {"status": {"$nin": ["a", "b", None]}}),
    ("status LIKE 'fa_l%'", {"status": {"$regex": r"^fa[\s\S]l[\s\S]*(?![\s\S])"}}),
    (
        "status NOT LIKE 'f%'",
        {
            "$and": [
                {"status": {"$ne": None}},
                {"$nor": [{"status": {"$regex": r"^f[\s\S]*(?![\s\S])"}}]},
            ]
        },
    ),
    (
        "NOT (status = 'a' OR status = 'b')",
        {"$and": [{"status": {"$nin": ["a", None]}}, {"status": {"$nin": ["b", None]}}]},
    ),
    ("amount > 10", {"amount": {"$gt": 10}}),
    ("NOT amount > 10", {"amount": {"$lte": 10}}),
    ("amount BETWEEN 1 AND 2.5", {"amount": {"$gte": 1}, "$and": [{"amount": {"$lte": 2.5}}]}),
    ("price >= 2", {"$or": [{"price": {"$gte": 2}}, {"price": float("nan")}]}),
    ("_id = '65f1a2b3c4d5e6f708192a3b'", {"_id": OID}),
    ("at >= '2026-03-14'", {"at": {"$gte": dt.datetime(2026, 3, 14, tzinfo=dt.UTC)}}),
]


@pytest.mark.parametrize(("sql", "expected"), FILTERS, ids=[sql for sql, _ in FILTERS])
def test_filters_keep_sql_null_logic(mockmongo: MockMongo, sql: str, expected: Any) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    mongo = connector(mockmongo)
    assert mongo.accepts_filter(predicate(sql))
    mongo.scan(ScanRequest(projection=["_id"], filters=[predicate(sql)])).read_all()
    got = mockmongo.finds()[-1]["filter"]
    assert _plain(got) == _plain(_merged(expected)), got


def _merged(expected: dict[str, Any]) -> dict[str, Any]:
    """BETWEEN over one field is one `$and` of both bounds."""
    if "$and" in expected and "amount" in expected:
        return {"$and": [{"amount": expected["amount"]}, *expected["$and"]]}
    return expected


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


@pytest.mark.parametrize(
    "sql",
    [
        "status ILIKE 'f%'",  # PCRE's case folding is not the engine's beyond ASCII
        "qty > 'x'",
        "_id = 'not-an-object-id'",
        "at > '2026-03-14 00:00:00.000001'",  # BSON dates have milliseconds
        "status IN ('a', NULL)",
        "note || 'x' = 'y'",
    ],
)
def test_untranslatable_filters_stay_in_the_engine(mockmongo: MockMongo, sql: str) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    assert not connector(mockmongo).accepts_filter(predicate(sql))


def test_mixed_types_are_text_and_not_pushed(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = [{"_id": 1, "code": 7}, {"_id": 2, "code": "A7"}, {"_id": "x"}]
    mongo = connector(mockmongo)
    assert mongo.schema().field("code").type == pa.string()
    assert not mongo.accepts_filter(predicate("code = '7'"))
    assert mongo.scan(ScanRequest(projection=["code"])).read_all().column(0).to_pylist() == [
        "7",
        "A7",
        None,
    ]


def test_a_value_that_does_not_fit_names_the_field(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    mongo = connector(mockmongo)
    mongo.schema()
    mockmongo.documents = [{"_id": OID, "qty": "three"}]
    with pytest.raises(SourceError) as caught:
        mongo.scan(ScanRequest(projection=["qty"])).read_all()
    assert "qty" in str(caught.value) and "three" in str(caught.value)
    assert "sample_size" in (caught.value.hint or "")


def test_refused_credentials_never_show_the_password(mockmongo: MockMongo) -> None:  # noqa: F811
    uri = mockmongo.uri.replace("mongodb://", "mongodb://reader:s3cret-pw@")
    with pytest.raises(SourceError) as caught:
        connector(mockmongo, uri=uri).schema()
    text = f"{caught.value} {caught.value.hint}"
    assert "s3cret-pw" not in text
    assert "password" in (caught.value.hint or "")


def test_an_unreachable_server_is_a_source_error_without_the_password() -> None:
    source = DatasetSource(
        "orders",
        "mongodb",
        "shop.orders",
        {"uri": "mongodb://reader:s3cret-pw@127.0.0.1:9/", "connect_timeout": "300ms"},
    )
    with pytest.raises(SourceError) as caught:
        MongoConnector(source).schema()
    assert "cannot reach MongoDB" in str(caught.value) and caught.value.hint
    assert "s3cret-pw" not in f"{caught.value} {caught.value.hint}"


@pytest.mark.parametrize(
    ("params", "location", "fragment"),
    [
        ({}, "shop.orders", "params.uri is required"),
        ({"uri": "mongodb://h"}, "shop", "must name a database and a collection"),
        ({"uri": "mongodb://h", "sample_size": 0}, "shop.orders", "sample_size"),
        (
            {"uri": "mongodb://h", "flaten": True},
            "shop.orders",
            "params.flaten: unknown mongodb param; did you mean 'flatten'",
        ),
    ],
)
def test_bad_params_say_what_to_write(params: dict[str, Any], location: str, fragment: str) -> None:
    with pytest.raises(SourceError, match=fragment):
        MongoConnector(DatasetSource("orders", "mongodb", location, params))


def test_engine_sends_the_query_shape_to_mongodb(mockmongo: MockMongo, tmp_path: Any) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    uri = mockmongo.uri
    config = parse_config(
        {
            "name": "shop",
            "datasets": [{"from": "mongodb:shop.orders", "name": "orders", "params": {"uri": uri}}],
        },
        tmp_path,
    )
    engine = Engine(config)
    engine.load()
    result = engine.query(
        "SELECT o.status, o.amount FROM orders o WHERE o.status = 'failed' AND o.amount > 10 "
        "ORDER BY o.amount DESC NULLS LAST LIMIT 1"
    )
    rows = pa.Table.from_batches(list(result), schema=result.schema).to_pylist()
    assert rows == [{"status": "failed", "amount": Decimal("12.50")}]
    find = mockmongo.finds()[-1]
    assert find["filter"] == {"amount": {"$gt": 10}, "status": "failed"}
    assert find["sort"] == {"amount": -1} and find["limit"] == 1
    assert find["projection"] == {"status": 1, "amount": 1, "_id": 0}
    text = engine.explain("SELECT status FROM orders WHERE status = 'paid'")
    assert 'find({"status": "paid"}' in text


def test_a_grouped_query_becomes_one_aggregate_pipeline(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    mongo = connector(mockmongo)
    select = sqlglot.parse_one(
        "SELECT o.status, count(*), count(o.at), sum(o.qty), min(o.at) FROM orders o "
        "WHERE o.status <> 'x' GROUP BY o.status",
        read="postgres",
    )
    aggregation = mongo.plan_aggregate(select)
    assert aggregation is not None
    assert aggregation.pipeline[0] == {"$match": {"status": {"$nin": ["x", None]}}}
    group = aggregation.pipeline[1]["$group"]
    assert group["_id"] == "$status" and group["c1"] == {"$sum": 1}
    assert group["c3"] == {"$sum": "$qty"} and group["c4"] == {"$min": "$at"}
    project = aggregation.pipeline[2]["$project"]
    assert project["o3"] == {"$cond": [{"$gt": ["$c3n", 0]}, "$c3", None]}  # SUM of none is NULL
    answer = mongo.aggregate(select)
    assert answer is not None and answer.description == f"mongodb shop.orders: {aggregation.text()}"
    mockmongo.documents = [{"o0": "failed", "o1": 2, "o2": 1, "o3": 5.5, "o4": None}]
    rows = answer.open().read_all().to_pylist()
    assert rows == [{"o0": "failed", "o1": 2, "o2": 1, "o3": 5.5, "o4": None}]
    sent = next(c for c in reversed(mockmongo.commands) if "aggregate" in c)
    assert sent["pipeline"] == aggregation.pipeline


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT status, count(*) FROM orders GROUP BY status ORDER BY 2",
        "SELECT status, count(DISTINCT qty) FROM orders GROUP BY status",
        "SELECT price, count(*) FROM orders GROUP BY price",  # doubles: NaN groups differently
        "SELECT max(price) FROM orders",
        "SELECT avg(amount) FROM orders",  # Decimal128: MongoDB's average is exact
        "SELECT status, sum(note) FROM orders GROUP BY status",
        "SELECT count(*) FROM orders WHERE status ILIKE 'f%'",
        "SELECT o.status FROM orders o JOIN orders p ON o._id = p._id GROUP BY o.status",
    ],
)
def test_queries_that_do_not_fit_a_pipeline(mockmongo: MockMongo, sql: str) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    select = sqlglot.parse_one(sql, read="postgres")
    assert isinstance(select, exp.Select) and connector(mockmongo).aggregate(select) is None


def test_an_ungrouped_aggregate_over_nothing_is_one_row(mockmongo: MockMongo) -> None:  # noqa: F811
    mockmongo.documents = ORDERS
    select = sqlglot.parse_one("SELECT count(*), sum(qty) FROM orders", read="postgres")
    assert isinstance(select, exp.Select)
    answer = connector(mockmongo).aggregate(select)
    assert answer is not None
    mockmongo.documents = []
    assert answer.open().read_all().to_pylist() == [{"o0": 0, "o1": None}]


def test_engine_sends_a_grouped_query_as_one_aggregate(mockmongo: MockMongo, tmp_path: Any) -> None:  # noqa: F811
    """Two keys and AVG, which nx-27017 gets wrong: the exact command, and the engine's HAVING,
    ORDER BY and LIMIT over the groups MongoDB answers."""
    mockmongo.documents = ORDERS
    config = parse_config(
        {
            "name": "shop",
            "datasets": [
                {"from": "mongodb:shop.orders", "name": "orders", "params": {"uri": mockmongo.uri}}
            ],
        },
        tmp_path,
    )
    engine = Engine(config)
    engine.load()
    march = dt.datetime(2026, 3, 14)
    mockmongo.documents = [
        {"o0": "failed", "o1": march, "o2": 3, "o3": 2.0},
        {"o0": "paid", "o1": march, "o2": 1, "o3": 3.5},
        {"o0": None, "o1": None, "o2": 5, "o3": 1.25},
        {"o0": "b", "o1": march, "o2": 3, "o3": None},
    ]
    mockmongo.commands.clear()
    result = engine.query(
        "SELECT o.status, o.day, count(*) AS n, avg(o.qty) FROM orders o WHERE o.status <> 'x' "
        "GROUP BY o.status, o.day HAVING count(*) > 1 ORDER BY n DESC, 1 LIMIT 2"
    )
    table = pa.Table.from_batches(list(result), schema=result.schema)
    utc = march.replace(tzinfo=dt.UTC)
    assert table.to_pylist() == [
        {"status": None, "day": None, "n": 5, "avg(o.qty)": 1.25},
        {"status": "b", "day": utc, "n": 3, "avg(o.qty)": None},
    ]
    assert table.schema.field("day").type == pa.timestamp("ms", tz="UTC")
    [sent] = mockmongo.commands
    assert sent["aggregate"] == "orders" and sent["$db"] == "shop"
    assert sent["cursor"] == {"batchSize": 1000}
    assert sent["pipeline"] == [
        {"$match": {"status": {"$nin": ["x", None]}}},
        {
            "$group": {
                "_id": {
                    "status": {"$ifNull": ["$status", None]},
                    "day": {"$ifNull": ["$day", None]},
                },
                "c2": {"$sum": 1},
                "c3": {"$avg": "$qty"},
            }
        },
        {"$project": {"_id": 0, "o0": "$_id.status", "o1": "$_id.day", "o2": "$c2", "o3": "$c3"}},
    ]
