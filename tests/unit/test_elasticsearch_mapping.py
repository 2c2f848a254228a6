"""Elasticsearch mappings as schemas, and predicates as Query DSL, without a server: which
fields may be pushed (and why not), SQL's NULLs, LIKE escapes, sorts with NULLs placed."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from connectors.documents import Unsupported, condition
from connectors.elasticsearch.mapping import QueryCompiler, declared, from_mappings, wildcard

LOGS_A = {
    "ts": {"type": "date"},
    "level": {"type": "keyword"},
    "message": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
    "title": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 8}}},
    "latency": {"type": "float"},
    "bytes": {"type": "long"},
    "host": {"properties": {"name": {"type": "keyword"}, "ip": {"type": "ip"}}},
    "spans": {"type": "nested", "properties": {"id": {"type": "keyword"}}},
    "lower": {"type": "keyword", "normalizer": "lowercase"},
}
LOGS_B = {
    "ts": {"type": "date"},
    "level": {"type": "keyword"},
    "bytes": {"type": "integer"},
    "code": {"type": "keyword"},
    "message": {"type": "text"},
}
MAPPED = from_mappings([LOGS_A, LOGS_B], flatten=False)
COMPILER = QueryCompiler(MAPPED.schema, MAPPED.columns)
ONLY_A = from_mappings([LOGS_A], flatten=False)
COMPILER_A = QueryCompiler(ONLY_A.schema, ONLY_A.columns)


def predicate(sql: str) -> exp.Expression:
    where = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    for column in list(where.this.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return where.this


def dsl(sql: str, compiler: QueryCompiler = COMPILER) -> Any:
    return compiler.compile(condition(predicate(sql), compiler.schema))


def test_schema_from_mappings_of_an_index_pattern() -> None:
    schema = MAPPED.schema
    assert schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("bytes").type == pa.int64()  # long and integer
    assert schema.field("host").type == pa.struct([("name", pa.string()), ("ip", pa.string())])
    assert schema.field("spans").type == pa.list_(pa.struct([("id", pa.string())]))
    assert schema.names[-3:] == ["_id", "_index", "_score"]
    flat = from_mappings([LOGS_A], flatten=True)
    assert "host.name" in flat.schema.names and flat.columns["host.name"].exact_field == "host.name"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("level = 'ERROR'", {"term": {"level": "ERROR"}}),
        (
            "level <> 'ERROR'",
            {
                "bool": {
                    "filter": [{"exists": {"field": "level"}}],
                    "must_not": [{"term": {"level": "ERROR"}}],
                }
            },
        ),
        ("NOT level <> 'ERROR'", {"term": {"level": "ERROR"}}),
        ("level IS NULL", {"bool": {"must_not": [{"exists": {"field": "level"}}]}}),
        ("bytes >= 10", {"range": {"bytes": {"gte": 10}}}),
        ("NOT bytes >= 10", {"range": {"bytes": {"lt": 10}}}),
        ("level IN ('A', 'B')", {"terms": {"level": ["A", "B"]}}),
        ("level LIKE 'ER%'", {"prefix": {"level": {"value": "ER"}}}),
        ("level LIKE '%R_R*'", {"wildcard": {"level": {"value": "*R?R\\*"}}}),
        (
            "ts >= '2026-03-14 14:00:00'",
            {"range": {"ts": {"gte": 1773496800000, "format": "epoch_millis"}}},
        ),
        (
            "level = 'A' OR bytes < 3",
            {
                "bool": {
                    "should": [{"term": {"level": "A"}}, {"range": {"bytes": {"lt": 3}}}],
                    "minimum_should_match": 1,
                }
            },
        ),
        (
            "NOT (level = 'A' AND bytes < 3)",
            {
                "bool": {
                    "should": [
                        {
                            "bool": {
                                "filter": [{"exists": {"field": "level"}}],
                                "must_not": [{"term": {"level": "A"}}],
                            }
                        },
                        {"range": {"bytes": {"gte": 3}}},
                    ],
                    "minimum_should_match": 1,
                }
            },
        ),
        ("title = 'short'", {"term": {"title.keyword": "short"}}),
        ("_id IN ('a', 'b')", {"terms": {"_id": ["a", "b"]}}),
    ],
)
def test_predicates_become_exact_query_dsl(sql: str, expected: Any) -> None:
    assert dsl(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "latency > 1.5",  # float: indexed rounded to 32 bits
        "lower = 'x'",  # normalised keyword
        "code = 'x'",  # keyword in one index of the pattern, missing in the other: fine…
        "title = 'a longer title'",  # …but over ignore_above it was never indexed
        "title <> 'short'",
        "title LIKE 's%'",
        "level ILIKE 'e%'",
        "bytes > 2.5",
        "ts > '2026-03-14 14:00:00.000001'",
        "_score > 1",
        "_id <> 'a'",
        "message @@ 'x' OR level = 'A'",
    ],
)
def test_what_cannot_be_exact_stays_in_the_engine(sql: str) -> None:
    if sql.startswith("code"):
        assert dsl(sql) == {"term": {"code": "x"}}
        return
    with pytest.raises(Unsupported):
        dsl(sql)


def test_text_is_compared_through_its_keyword_sub_field() -> None:
    assert dsl("message = 'disk full'", COMPILER_A) == {"term": {"message.raw": "disk full"}}
    with pytest.raises(Unsupported):  # one index of the pattern has no keyword sub-field
        dsl("message = 'disk full'")


def test_full_text_match() -> None:
    single = condition(predicate("message @@ 'pool timeout'"), MAPPED.schema)
    assert COMPILER.match(single) == {"match": {"message": "pool timeout"}}
    several = condition(predicate("MATCH(message, level) AGAINST ('pool')"), MAPPED.schema)
    assert COMPILER.match(several) == {
        "multi_match": {"query": "pool", "fields": ["message", "level"]}
    }


def test_sorts_place_nulls_like_sql() -> None:
    assert COMPILER.sort_key("ts", descending=True, nulls_first=True) == {
        "ts": {"order": "desc", "missing": "_first", "unmapped_type": "date"}
    }
    assert COMPILER_A.sort_key("message", descending=False, nulls_first=False) == {
        "message.raw": {"order": "asc", "missing": "_last", "unmapped_type": "keyword"}
    }
    assert COMPILER.sort_key("_score", descending=True, nulls_first=True) == {
        "_score": {"order": "desc"}
    }
    assert COMPILER.sort_key("title", descending=False, nulls_first=False) is None
    assert COMPILER.sort_key("latency", descending=False, nulls_first=False) is None


def test_declared_columns_keep_pushdown_only_where_types_compare_alike() -> None:
    wanted = pa.schema([("ts", pa.timestamp("us")), ("bytes", pa.int32()), ("level", pa.int64())])
    compiler = QueryCompiler(wanted, declared(wanted, MAPPED).columns)
    assert dsl("bytes = 3", compiler) == {"term": {"bytes": 3}}
    assert "range" in dsl("ts < '2026-03-15'", compiler)
    with pytest.raises(Unsupported):
        dsl("level = 3", compiler)


def test_wildcard_escapes_its_own_metacharacters() -> None:
    assert wildcard("a*b?c\\d%_") == "a\\*b\\?c\\\\d*?"
