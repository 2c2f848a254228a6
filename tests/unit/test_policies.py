"""Policies at run time, in the engine over real files: what each identity sees, how masks and
row filters sit beneath the whole query, and how the configuration is checked."""

from __future__ import annotations

import copy
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from policies.access import Hasher, compile_filter
from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar.config import ConfigError, parse_config
from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError

HASH_KEY = "unit-test-hash-key"
SRE = Identity("sre", {"country": "DE"})
BI = Identity("bi")
EVIL = Identity("evil", {"country": "DE' OR '1'='1"})
NOBODY = Identity("intruder")
CUSTOMERS = [
    (1, "Anna", "anna@example.com", "DE", 500),
    (2, "Bert", "bert@example.com", "FR", 100),
    (3, "Carl", "carl@example.com", "DE", 900),
    (4, "Dora", "dora@example.com", "US", 50),
    (5, "Emil", "anna@example.com", "DE", None),
    (6, "Fay", None, "DE", 20),
]
ORDERS = [(10 + i, 1 + i % 5, float(10 * i), "paid" if i % 3 else "failed") for i in range(20)]

POLICIES: list[dict[str, Any]] = [
    {
        "identities": ["sre"],
        "datasets": ["customers", "orders", "vip", "order_facts", "by_country"],
        "columns": {
            "customers.name": "mask",
            "customers.email": "hash",
            "customers.credit_limit": "deny",
            "orders.amount": "mask",
        },
        "rows": {"customers": "country = {identity.country}"},
    },
    {
        "identities": ["evil"],
        "datasets": ["customers"],
        "rows": {"customers": "country = {identity.country}"},
    },
    {"identities": ["b*"], "datasets": ["vip", "order_facts"]},
]


def config_data(root: Path) -> dict[str, Any]:
    return {
        "name": "shop",
        "runtime": {
            "auth": {
                "hash_key": HASH_KEY,
                "api_keys": [
                    {"key": "k" * 20, "identity": "sre", "attributes": {"country": "DE"}},
                    {"key": "b" * 20, "identity": "bi"},
                    {
                        "key": "e" * 20,
                        "identity": "evil",
                        "attributes": {"country": "x' OR 'a'='a"},
                    },
                    {"key": "i" * 20, "identity": "intruder"},
                ],
            }
        },
        "datasets": [
            {"from": "file:customers.parquet", "name": "customers"},
            {"from": "file:orders.csv", "name": "orders"},
            {"from": "file:secrets.parquet", "name": "secrets"},
        ],
        "views": [
            {
                "name": "vip",
                "sql": "SELECT id, name, email, country, credit_limit FROM customers "
                "WHERE credit_limit >= 500",
            },
            {
                "name": "order_facts",
                "sql": "SELECT o.id, o.amount, c.country, c.email FROM orders o "
                "JOIN customers c ON c.id = o.customer_id",
            },
            {
                "name": "by_country",
                "sql": "SELECT country, count(*) AS n FROM customers GROUP BY 1",
            },
        ],
        "policies": POLICIES,
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root: Path = tmp_path_factory.mktemp("policies")
    columns = list(zip(*CUSTOMERS, strict=True))
    pq.write_table(
        pa.table(
            {
                "id": pa.array(columns[0], pa.int64()),
                "name": list(columns[1]),
                "email": list(columns[2]),
                "country": list(columns[3]),
                "credit_limit": pa.array(columns[4], pa.int64()),
            }
        ),
        root / "customers.parquet",
    )
    orders = list(zip(*ORDERS, strict=True))
    pacsv.write_csv(
        pa.table(
            {
                "id": pa.array(orders[0], pa.int64()),
                "customer_id": pa.array(orders[1], pa.int64()),
                "amount": list(orders[2]),
                "status": list(orders[3]),
            }
        ),
        root / "orders.csv",
    )
    pq.write_table(pa.table({"code": ["s3cr3t"]}), root / "secrets.parquet")
    return root


@pytest.fixture(scope="module")
def engine(root: Path) -> Engine:
    engine = Engine(parse_config(config_data(root), root))
    engine.load()
    assert engine.ready
    return engine


def rows(engine: Engine, sql: str, identity: Identity = SRE) -> list[dict[str, Any]]:
    result = engine.query(sql, (), identity)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


def error(engine: Engine, sql: str, identity: Identity = SRE) -> SidecarError:
    with pytest.raises(SidecarError) as caught:
        rows(engine, sql, identity)
    return caught.value


def digest(value: str) -> str:
    return hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


# ---- visibility --------------------------------------------------------------------------


def test_a_hidden_dataset_fails_exactly_as_a_missing_one(engine: Engine) -> None:
    hidden, missing = error(engine, "SELECT * FROM secrets"), error(engine, "SELECT * FROM secretz")
    assert hidden.code is missing.code is ErrorCode.UNDEFINED_TABLE
    assert hidden.message == missing.message.replace("secretz", "secrets")
    assert hidden.hint == missing.hint
    assert "secrets" not in (hidden.hint or "")
    assert "known tables: by_country, customers, order_facts, orders, vip" in (hidden.hint or "")


def test_did_you_mean_never_suggests_a_hidden_name(engine: Engine) -> None:
    unrestricted = error(engine, "SELECT * FROM secret", ANONYMOUS_IDENTITY)  # matches no entry
    assert "did you mean" not in (unrestricted.hint or "")
    assert "did you mean secrets" not in (error(engine, "SELECT * FROM secret").hint or "")
    assert "did you mean customers" in (error(engine, "SELECT * FROM customer").hint or "")


def test_deny_by_default_sees_nothing(engine: Engine) -> None:
    assert rows(engine, "SELECT table_name FROM information_schema.tables", NOBODY) == []
    failure = error(engine, "SELECT * FROM orders", NOBODY)
    assert failure.code is ErrorCode.UNDEFINED_TABLE
    assert failure.hint == "known tables: (none declared)"


def test_information_schema_show_and_describe_list_only_what_is_visible(engine: Engine) -> None:
    tables = rows(engine, "SELECT table_name FROM information_schema.tables ORDER BY 1")
    assert [row["table_name"] for row in tables] == [
        "by_country",
        "customers",
        "order_facts",
        "orders",
        "vip",
    ]
    assert [row["table_name"] for row in rows(engine, "SHOW TABLES", BI)] == ["order_facts", "vip"]
    columns = rows(
        engine,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'customers' ORDER BY ordinal_position",
    )
    assert columns == [
        {"column_name": "id", "data_type": "bigint"},
        {"column_name": "name", "data_type": "text"},
        {"column_name": "email", "data_type": "text"},
        {"column_name": "country", "data_type": "text"},
    ]
    described = rows(engine, "DESCRIBE customers")
    assert [row["column_name"] for row in described] == ["id", "name", "email", "country"]
    assert error(engine, "DESCRIBE secrets").code is ErrorCode.UNDEFINED_TABLE


def test_a_denied_column_does_not_exist(engine: Engine) -> None:
    assert list(rows(engine, "SELECT * FROM customers LIMIT 1")[0]) == [
        "id",
        "name",
        "email",
        "country",
    ]
    denied = error(engine, "SELECT credit_limit FROM customers")
    missing = error(engine, "SELECT credit_limitx FROM customers")
    assert denied.code is missing.code is ErrorCode.UNDEFINED_COLUMN
    assert denied.hint == missing.hint and "credit_limit" not in (denied.hint or "")
    qualified = error(engine, "SELECT c.credit_limit FROM customers c")
    assert "credit_limit" not in (qualified.hint or "")


# ---- masks -------------------------------------------------------------------------------


def test_mask_and_hash_values(engine: Engine) -> None:
    found = rows(engine, "SELECT id, name, email FROM customers ORDER BY id")
    assert found == [
        {"id": 1, "name": "****", "email": digest("anna@example.com")},
        {"id": 3, "name": "****", "email": digest("carl@example.com")},
        {"id": 5, "name": "****", "email": digest("anna@example.com")},
        {"id": 6, "name": "****", "email": None},
    ]
    assert rows(engine, "SELECT amount FROM orders LIMIT 2") == [{"amount": None}] * 2


def test_a_predicate_on_a_masked_column_sees_the_masked_value(engine: Engine) -> None:
    assert rows(engine, "SELECT count(*) AS n FROM customers WHERE name LIKE 'A%'") == [{"n": 0}]
    assert rows(engine, "SELECT count(*) AS n FROM customers WHERE name = '****'") == [{"n": 4}]
    assert rows(engine, "SELECT count(*) AS n FROM orders WHERE amount > 0") == [{"n": 0}]
    plan = engine.query("SELECT id FROM customers WHERE name LIKE 'A%'", (), SRE).plan
    assert [f.sql() for f in plan.scans[0].request.filters] == []  # never sent to the source


def test_a_contradiction_on_a_masked_column_is_no_rows(engine: Engine) -> None:
    """DataFusion folds `x = 1 AND x = 2` to a constant, handed to the masked scan as a bare
    scalar: no rows, not an internal error."""
    for where in ("amount = 3 AND amount = 4", "name = 'a' AND name = 'b'"):
        table = "orders" if where.startswith("amount") else "customers"
        assert rows(engine, f"SELECT count(*) AS n FROM {table} WHERE {where}") == [{"n": 0}]


def test_hash_stays_joinable_and_groupable(engine: Engine) -> None:
    pairs = "SELECT a.id AS a, b.id AS b FROM customers a JOIN customers b ON a.email = b.email "
    assert rows(engine, pairs + "AND a.id < b.id") == [{"a": 1, "b": 5}]
    grouped = "SELECT email, count(*) AS n FROM customers GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    assert rows(engine, grouped) == [{"email": digest("anna@example.com"), "n": 2}]
    across = "SELECT count(*) AS n FROM order_facts f JOIN customers c ON c.email = f.email"
    assert rows(engine, across) == [{"n": 20}]


def test_sorting_by_a_masked_column_cannot_pick_rows_at_the_source(engine: Engine) -> None:
    plan = engine.query("SELECT id FROM orders ORDER BY amount DESC LIMIT 1", (), SRE).plan
    assert plan.scans[0].request.limit is None and not plan.scans[0].request.order_by


# ---- row filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM customers ORDER BY id", [1, 3, 5, 6]),
        (
            "SELECT DISTINCT c.id FROM orders o JOIN customers c ON c.id = o.customer_id "
            "ORDER BY 1",
            [1, 3, 5],
        ),
        (
            "WITH de AS (SELECT id FROM customers) SELECT id FROM de WHERE id > 1 ORDER BY id",
            [3, 5, 6],
        ),
        (
            "SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers) ORDER BY id "
            "LIMIT 3",
            [10, 12, 14],
        ),
        ("SELECT id FROM customers UNION SELECT 99 ORDER BY 1", [1, 3, 5, 6, 99]),
        ("SELECT id FROM (SELECT id, row_number() OVER () AS r FROM customers) t ORDER BY r", None),
        ("SELECT count(*) AS id FROM customers", [4]),
        ("SELECT max(id) AS id FROM customers WHERE country <> 'DE'", [None]),
    ],
)
def test_row_filters_sit_beneath_the_whole_query(
    engine: Engine, sql: str, expected: list[int] | None
) -> None:
    found = [row["id"] for row in rows(engine, sql)]
    assert found == expected if expected is not None else sorted(found) == [1, 3, 5, 6]


def test_a_view_runs_with_the_definers_visibility_and_the_callers_rules(engine: Engine) -> None:
    # bi sees the view but neither dataset under it, and has no rules: the view's whole answer
    assert [row["id"] for row in rows(engine, "SELECT id FROM vip ORDER BY id", BI)] == [1, 3]
    assert error(engine, "SELECT * FROM customers", BI).code is ErrorCode.UNDEFINED_TABLE
    # sre's row filter and masks hold beneath the view; its denied column reads as NULL there
    assert rows(engine, "SELECT * FROM vip ORDER BY id") == []
    facts = rows(engine, "SELECT country, email, amount FROM order_facts ORDER BY id LIMIT 1")
    assert facts == [{"country": "DE", "email": digest("anna@example.com"), "amount": None}]
    assert rows(engine, "SELECT * FROM by_country") == [{"country": "DE", "n": 4}]


def test_explain_hides_what_lies_beneath_a_view(engine: Engine) -> None:
    text = engine.explain("SELECT * FROM order_facts", (), BI)
    assert "customers" not in text and "orders" not in text
    assert "a dataset beneath view order_facts that you cannot see" in text
    own = engine.explain("SELECT id FROM customers WHERE id > 1", (), SRE)
    assert "access policy: row filter applied by the source; masked: name; hashed: email" in own
    assert "credit_limit" not in own


def test_explain_analyze_counts_only_the_callers_rows(engine: Engine) -> None:
    text = "\n".join(row["plan"] for row in rows(engine, "EXPLAIN ANALYZE SELECT * FROM customers"))
    assert "fetched: 4 rows" in text


def test_a_row_filter_goes_to_the_source_when_it_takes_it(engine: Engine) -> None:
    [scan] = engine.query("SELECT id FROM customers", (), SRE).plan.scans
    assert scan.restriction is not None
    assert [f.sql() for f in scan.restriction.pushed] == ["\"country\" = 'DE'"]
    assert scan.restriction.residual is None


def test_a_row_filter_the_source_cannot_take_is_applied_by_the_sidecar(root: Path) -> None:
    data = config_data(root)
    data["policies"] = [
        {
            "identities": ["sre"],
            "datasets": ["customers"],
            "rows": {"customers": "lower(country) = lower({identity.country})"},
        }
    ]
    engine = Engine(parse_config(data, root))
    engine.load()
    result = engine.query("SELECT id FROM customers ORDER BY id LIMIT 2", (), SRE)
    [scan] = result.plan.scans
    assert scan.restriction is not None and scan.restriction.residual is not None
    assert scan.request.limit is None  # a limit at the source would cut before the filter
    assert [row["id"] for row in pa.Table.from_batches(list(result)).to_pylist()] == [1, 3]
    assert rows(engine, "SELECT count(*) AS n FROM customers", SRE) == [{"n": 4}]


def test_a_broken_view_names_no_dataset_the_caller_cannot_see(root: Path) -> None:
    """A view resolves with its definer's visibility: when its SQL names a relation that does
    not exist, the error's did-you-mean must not list the definer's catalog to the caller."""
    data = config_data(root)
    data["views"].append({"name": "stale", "sql": "SELECT code FROM secret"})
    data["policies"] = [{"identities": ["bi"], "datasets": ["stale"]}]
    engine = Engine(parse_config(data, root))
    engine.load()
    failure = error(engine, "SELECT * FROM stale", BI)
    assert failure.code is ErrorCode.QUERY and "view stale is invalid" in failure.message
    told = f"{failure.message} {failure.hint}"
    assert "secrets" not in told and "customers" not in told, told


def test_an_attribute_is_a_literal_not_sql(engine: Engine) -> None:
    assert rows(engine, "SELECT * FROM customers", EVIL) == []
    assert rows(engine, "SELECT * FROM customers", Identity("evil", {"country": "DE"}))


def test_the_results_cache_is_kept_per_identity_and_policy(engine: Engine) -> None:
    sql = "SELECT id, country FROM customers ORDER BY id"
    assert engine.cache is not None
    de, us = Identity("sre", {"country": "DE"}), Identity("sre", {"country": "US"})
    first = rows(engine, sql, de)
    assert rows(engine, sql, us) == [{"id": 4, "country": "US"}]
    assert rows(engine, sql, de) == first
    assert engine.query(sql, (), de).cache_status == "HIT"


# ---- the policy model and its checks ---------------------------------------------------


def test_first_matching_entry_wins_and_globs_match(engine: Engine) -> None:
    assert engine.access.match("bi") == (2, engine.config.policies[2])
    assert engine.access.match("sre") is not None and engine.access.match("sre")[0] == 0
    assert engine.access.match("intruder") is None


def test_star_matches_anonymous(root: Path) -> None:
    data = config_data(root)
    data["runtime"]["auth"]["api_keys"] = []
    data["policies"] = [{"identities": ["*"], "datasets": ["orders"]}]
    engine = Engine(parse_config(data, root))
    engine.load()
    assert [r["table_name"] for r in rows(engine, "SHOW TABLES", ANONYMOUS_IDENTITY)] == ["orders"]


def test_without_policies_everyone_reads_everything(root: Path) -> None:
    data = config_data(root)
    del data["policies"]
    engine = Engine(parse_config(data, root))
    engine.load()
    assert rows(engine, "SELECT code FROM secrets", NOBODY) == [{"code": "s3cr3t"}]
    assert engine.query("SELECT * FROM customers", (), NOBODY).plan.scans[0].restriction is None


def test_filters_are_parsed_once_and_bound_as_literals() -> None:
    row = compile_filter("region = {identity.region} AND owner = {identity}")
    bound = row.bind(Identity("ann", {"region": "it's"}))
    assert bound.sql() == "\"region\" = 'it''s' AND \"owner\" = 'ann'"
    assert row.attributes == {"region"} and row.columns == {"region", "owner"}


def checked(root: Path, policies: list[dict[str, Any]], **auth: Any) -> list[str]:
    data = config_data(root)
    data["policies"] = policies
    data["runtime"]["auth"].update(auth)
    try:
        parse_config(copy.deepcopy(data), root)
    except ConfigError as failure:
        return str(failure).splitlines()
    return []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            {"identities": ["sre"], "datasets": ["custmers"]},
            "policies[0].datasets[0]: unknown dataset 'custmers'; did you mean customers?",
        ),
        (
            {"identities": ["sre"], "datasets": ["customers"], "rows": {"customers": "a = ("}},
            "policies[0].rows.customers: invalid filter SQL:",
        ),
        (
            {"identities": ["sre"], "datasets": ["customers"], "rows": {"customers": "x = 1"}},
            "",
        ),
        (
            {
                "identities": ["bi"],
                "datasets": ["customers"],
                "rows": {"customers": "country = {identity.country}"},
            },
            "policies[0].rows.customers: {identity.country} is not set for identity 'bi'",
        ),
        (
            {
                "identities": ["sre"],
                "datasets": ["customers"],
                "rows": {"customers": "country = '{identity.country}'"},
            },
            "policies[0].rows.customers: write {identity...} without quotes",
        ),
        (
            {"identities": ["sre"], "datasets": ["vip"], "columns": {"vip.email": "mask"}},
            "policies[0].columns.vip.email: vip is a view;",
        ),
        (
            {"identities": ["sre"], "datasets": ["orders"], "columns": {"customers.email": "deny"}},
            "policies[0].columns.customers.email: customers is not among this entry's datasets",
        ),
    ],
)
def test_config_check_locates_policy_errors(
    root: Path, policy: dict[str, Any], expected: str
) -> None:
    problems = checked(root, [policy])
    if expected:
        assert any(line.startswith(expected) for line in problems), problems
    else:
        assert problems == []


def test_hash_needs_a_key(root: Path) -> None:
    problems = checked(
        root,
        [
            {
                "identities": ["sre"],
                "datasets": ["customers"],
                "columns": {"customers.email": "hash"},
            }
        ],
        hash_key=None,
    )
    assert problems == [
        "policies[0].columns.customers.email: hash needs a key: set runtime.auth.hash_key "
        "(e.g. ${env:SIDECAR_HASH_KEY})"
    ]


def test_loaded_schemas_check_columns_and_filters(root: Path, engine: Engine) -> None:
    data = config_data(root)
    data["policies"] = [
        {
            "identities": ["sre"],
            "datasets": ["customers"],
            "columns": {"customers.emial": "hash"},
            "rows": {"customers": "contry = {identity.country}"},
        }
    ]
    other = Engine(parse_config(data, root))
    other.load()
    assert other.policy_problems() == [
        "policies[0].columns.customers.emial: customers has no column 'emial'; did you mean "
        "email? (columns: id, name, email, country, credit_limit)",
        "policies[0].rows.customers: customers has no column 'contry'; did you mean country? "
        "(columns: id, name, email, country, credit_limit)",
    ]
    assert engine.policy_problems() == []


def test_hash_takes_every_type_and_keeps_nulls() -> None:
    hasher = Hasher(HASH_KEY.encode())
    hashed = hasher.array(pa.array([[1, 2], [1, 2], None, [3]])).to_pylist()
    assert hashed[0] == hashed[1] != hashed[3] and hashed[2] is None
    assert hasher.array(pa.array([7], pa.int64())).to_pylist() == [digest("7")]
    assert hasher.array(pa.chunked_array([["a"], ["a"]])).to_pylist() == [digest("a")] * 2


def test_a_source_error_is_told_without_the_statement_it_echoes_or_the_filter_values() -> None:
    """libpq quotes the statement after "Query was:" and MySQL after "near": the row filter
    and its values stand there; denied column names and the filter's values anywhere else."""
    from sqlglot import exp

    from sidecar.engine.restriction import Restriction

    restriction = Restriction(
        "customers",
        pa.schema([("id", pa.int64())]),
        row_filter=exp.condition("country = 'DE' AND tier > 250"),
        denied=frozenset({"salary"}),
    )
    pg = (
        'permission denied for column salary\nQuery was: COPY (SELECT "id" FROM t WHERE '
        "\"country\" = 'DE') TO STDOUT"
    )
    assert restriction.scrub(pg) == "permission denied for column ***"
    mysql = "You have an error in your SQL syntax; near 'country = 'DE'' at line 1 (tier 250)"
    said = restriction.scrub(mysql)
    assert said.startswith("You have an error in your SQL syntax; near (the statement sent")
    assert "DE" not in said and "250" not in said and "country" not in said
