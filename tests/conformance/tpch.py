"""A small TPC-H-like database, generated deterministically, and where each table lives.

Not the official dbgen: the same tables, keys and value shapes at a tiny scale, so federated
queries have realistic joins, dates, decimals, NULLs and skew while the suite stays fast. The
tables are spread so that single-source queries (customer x orders in MySQL; nation x region x
part in PostgreSQL) and cross-source ones (orders in MySQL x lineitem in Iceberg x supplier in
Parquet) both occur.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pyarrow as pa

SCALE = 0.004
MONEY = pa.decimal128(15, 2)
REGIONS = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"]
NATIONS = [
    ("ALGERIA", 0), ("ARGENTINA", 1), ("BRAZIL", 1), ("CANADA", 1), ("EGYPT", 4),
    ("ETHIOPIA", 0), ("FRANCE", 3), ("GERMANY", 3), ("INDIA", 2), ("INDONESIA", 2),
    ("IRAN", 4), ("IRAQ", 4), ("JAPAN", 2), ("JORDAN", 4), ("KENYA", 0), ("MOROCCO", 0),
    ("MOZAMBIQUE", 0), ("PERU", 1), ("CHINA", 2), ("ROMANIA", 3), ("SAUDI ARABIA", 4),
    ("VIETNAM", 2), ("RUSSIA", 3), ("UNITED KINGDOM", 3), ("UNITED STATES", 1),
]  # fmt: skip
SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"]
PRIORITIES = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"]
SHIPMODES = ["AIR", "FOB", "MAIL", "RAIL", "REG AIR", "SHIP", "TRUCK"]
COLORS = ["almond", "antique", "aquamarine", "azure", "beige", "bisque", "black", "blue"]
TYPES = ["ECONOMY ANODIZED STEEL", "LARGE BRUSHED BRASS", "PROMO POLISHED COPPER",
         "STANDARD PLATED TIN", "SMALL BURNISHED NICKEL", "MEDIUM BRUSHED STEEL"]  # fmt: skip
START = dt.date(1992, 1, 1)
DAYS = 2400

PLACEMENT = {
    "customer": "mysql",
    "orders": "mysql",
    "nation": "postgres",
    "region": "postgres",
    "part": "postgres",
    "lineitem": "iceberg",
    "partsupp": "iceberg",
    "supplier": "parquet",
}


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(f"{rng.uniform(low, high):.2f}")


def generate(scale: float = SCALE, seed: int = 7) -> dict[str, pa.Table]:
    rng = random.Random(seed)
    n_supplier, n_customer = max(10, int(10_000 * scale)), max(30, int(150_000 * scale))
    n_part, n_orders = max(40, int(200_000 * scale)), max(100, int(1_500_000 * scale))
    tables: dict[str, pa.Table] = {}
    tables["region"] = pa.table({"r_regionkey": pa.array(range(5), pa.int64()), "r_name": REGIONS})
    tables["nation"] = pa.table(
        {
            "n_nationkey": pa.array(range(25), pa.int64()),
            "n_name": [name for name, _ in NATIONS],
            "n_regionkey": pa.array([region for _, region in NATIONS], pa.int64()),
        }
    )
    tables["supplier"] = pa.table(
        {
            "s_suppkey": pa.array(range(1, n_supplier + 1), pa.int64()),
            "s_name": [f"Supplier#{i:09d}" for i in range(1, n_supplier + 1)],
            "s_nationkey": pa.array([rng.randrange(25) for _ in range(n_supplier)], pa.int64()),
            "s_acctbal": pa.array([_money(rng, -999, 9999) for _ in range(n_supplier)], MONEY),
        }
    )
    tables["customer"] = pa.table(
        {
            "c_custkey": pa.array(range(1, n_customer + 1), pa.int64()),
            "c_name": [f"Customer#{i:09d}" for i in range(1, n_customer + 1)],
            "c_nationkey": pa.array([rng.randrange(25) for _ in range(n_customer)], pa.int64()),
            "c_acctbal": pa.array([_money(rng, -999, 9999) for _ in range(n_customer)], MONEY),
            "c_mktsegment": [rng.choice(SEGMENTS) for _ in range(n_customer)],
        }
    )
    tables["part"] = pa.table(
        {
            "p_partkey": pa.array(range(1, n_part + 1), pa.int64()),
            "p_name": [" ".join(rng.sample(COLORS, 2)) for _ in range(n_part)],
            "p_brand": [f"Brand#{rng.randint(1, 5)}{rng.randint(1, 5)}" for _ in range(n_part)],
            "p_type": [rng.choice(TYPES) for _ in range(n_part)],
            "p_size": pa.array([rng.randint(1, 50) for _ in range(n_part)], pa.int64()),
            "p_retailprice": pa.array([_money(rng, 900, 2000) for _ in range(n_part)], MONEY),
        }
    )
    partsupp = [
        (p, (p + i * (n_supplier // 4 + 1)) % n_supplier + 1)
        for p in range(1, n_part + 1)
        for i in range(4)
    ]
    tables["partsupp"] = pa.table(
        {
            "ps_partkey": pa.array([p for p, _ in partsupp], pa.int64()),
            "ps_suppkey": pa.array([s for _, s in partsupp], pa.int64()),
            "ps_availqty": pa.array([rng.randint(1, 9999) for _ in partsupp], pa.int64()),
            "ps_supplycost": pa.array([_money(rng, 1, 1000) for _ in partsupp], MONEY),
        }
    )
    orders, lines = _orders_and_lines(rng, n_orders, n_customer, n_part, n_supplier)
    tables["orders"] = orders
    tables["lineitem"] = lines
    return tables


def _orders_and_lines(
    rng: random.Random, n_orders: int, n_customer: int, n_part: int, n_supplier: int
) -> tuple[pa.Table, pa.Table]:
    order_rows, line_rows = [], []
    for key in range(1, n_orders + 1):
        ordered = START + dt.timedelta(days=rng.randrange(DAYS))
        created = dt.datetime.combine(ordered, dt.time()) + dt.timedelta(
            seconds=rng.randrange(86_400)
        )
        total = Decimal(0)
        statuses = set()
        for number in range(1, rng.randint(1, 7) + 1):
            quantity = Decimal(rng.randint(1, 50))
            price = _money(rng, 900, 2000) * quantity / 10
            price = price.quantize(Decimal("0.01"))
            discount = Decimal(rng.randint(0, 10)) / 100
            shipped = ordered + dt.timedelta(days=rng.randint(1, 121))
            received = shipped + dt.timedelta(days=rng.randint(1, 30))
            status = "F" if shipped <= dt.date(1995, 6, 17) else "O"
            statuses.add(status)
            line_rows.append(
                {
                    "l_orderkey": key,
                    "l_partkey": rng.randint(1, n_part),
                    "l_suppkey": rng.randint(1, n_supplier),
                    "l_linenumber": number,
                    "l_quantity": quantity,
                    "l_extendedprice": price,
                    "l_discount": discount,
                    "l_tax": Decimal(rng.randint(0, 8)) / 100,
                    "l_returnflag": rng.choice("RA") if status == "F" else "N",
                    "l_linestatus": status,
                    "l_shipdate": shipped,
                    "l_commitdate": ordered + dt.timedelta(days=rng.randint(30, 90)),
                    "l_receiptdate": received,
                    "l_shipmode": rng.choice(SHIPMODES),
                }
            )
            total += price
        order_rows.append(
            {
                "o_orderkey": key,
                "o_custkey": rng.randint(1, n_customer),
                "o_orderstatus": statuses.pop() if len(statuses) == 1 else "P",
                "o_totalprice": total,
                "o_orderdate": ordered,
                "o_orderpriority": rng.choice(PRIORITIES),
                "o_created_at": created,
                "o_comment": None if rng.random() < 0.2 else f"note {rng.randrange(1000)}",
            }
        )
    orders_schema = pa.schema(
        [
            ("o_orderkey", pa.int64()),
            ("o_custkey", pa.int64()),
            ("o_orderstatus", pa.string()),
            ("o_totalprice", MONEY),
            ("o_orderdate", pa.date32()),
            ("o_orderpriority", pa.string()),
            ("o_created_at", pa.timestamp("us")),
            ("o_comment", pa.string()),
        ]
    )
    lines_schema = pa.schema(
        [
            ("l_orderkey", pa.int64()),
            ("l_partkey", pa.int64()),
            ("l_suppkey", pa.int64()),
            ("l_linenumber", pa.int64()),
            ("l_quantity", MONEY),
            ("l_extendedprice", MONEY),
            ("l_discount", MONEY),
            ("l_tax", MONEY),
            ("l_returnflag", pa.string()),
            ("l_linestatus", pa.string()),
            ("l_shipdate", pa.date32()),
            ("l_commitdate", pa.date32()),
            ("l_receiptdate", pa.date32()),
            ("l_shipmode", pa.string()),
        ]
    )
    return (
        pa.Table.from_pylist(order_rows, schema=orders_schema),
        pa.Table.from_pylist(line_rows, schema=lines_schema),
    )


def sql_type(arrow_type: pa.DataType, dialect: str) -> str:
    """The column type each SQL peer stores a generated column as."""
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_timestamp(arrow_type):
        return "DATETIME(6)" if dialect == "mysql" else "TIMESTAMP"
    return "VARCHAR(100)" if dialect == "mysql" else "TEXT"
