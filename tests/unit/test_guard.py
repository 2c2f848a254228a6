"""The read-only guard: hostile SQL is refused with a reason naming it, real queries pass."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from policies.guard import HINT, check, parse
from sidecar.errors import ErrorCode, SidecarError


def guard(sql: str) -> exp.Expression:
    return check(sql, parse(sql))


def refusal(sql: str) -> SidecarError:
    with pytest.raises(SidecarError) as caught:
        guard(sql)
    return caught.value


# Each hostile statement with the fragment its refusal must contain: the construct's own name.
HOSTILE: list[tuple[str, str]] = [
    # DDL
    ("CREATE TABLE t (a int)", "CREATE TABLE is not allowed"),
    ("CREATE TABLE t AS SELECT * FROM orders", "CREATE TABLE ... AS is not allowed"),
    ("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'", "CREATE EXTERNAL TABLE"),
    ("CREATE VIEW v AS SELECT 1", "CREATE VIEW ... AS is not allowed"),
    ("CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", "CREATE FUNCTION"),
    ("CREATE MACRO m(a) AS a + 1", "CREATE MACRO is not allowed"),
    ("CREATE SECRET s (TYPE S3, KEY_ID 'x')", "CREATE SECRET is not allowed"),
    ("CREATE INDEX i ON orders (id)", "CREATE INDEX is not allowed"),
    ("ALTER TABLE orders ADD COLUMN x int", "ALTER TABLE is not allowed"),
    ("ALTER TABLE orders RENAME TO o2", "ALTER TABLE is not allowed"),
    ("DROP TABLE orders", "DROP TABLE is not allowed"),
    ("drop view if exists v", "DROP VIEW is not allowed"),
    ("TRUNCATE orders", "TRUNCATE is not allowed"),
    ("COMMENT ON TABLE orders IS 'x'", "COMMENT ON is not allowed"),
    # DML, including the forms sqlglot cannot parse and the ones hidden inside a query
    ("INSERT INTO orders VALUES (1)", "INSERT is not allowed: it writes data"),
    ("INSERT OR REPLACE INTO orders VALUES (1)", "INSERT is not allowed"),
    ("UPDATE orders SET total = 0", "UPDATE is not allowed"),
    ("DELETE FROM orders", "DELETE is not allowed"),
    ("MERGE INTO orders USING s ON orders.id = s.id WHEN MATCHED THEN DELETE", "MERGE is not"),
    ("REPLACE INTO orders VALUES (1)", "REPLACE is not allowed"),
    ("UPSERT INTO orders VALUES (1)", "UPSERT is not allowed"),
    ("SELECT * INTO backup FROM orders", "SELECT ... INTO is not allowed"),
    ("SELECT 1 INTO TEMP x", "SELECT ... INTO is not allowed"),
    ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone", "DELETE inside WITH"),
    ("WITH x AS (INSERT INTO orders VALUES (1) RETURNING *) SELECT * FROM x", "INSERT inside WITH"),
    ("WITH x AS (UPDATE orders SET total = 0 RETURNING *) SELECT 1", "UPDATE inside WITH"),
    # Engine statements that reach files, other databases or code
    ("COPY orders TO '/tmp/out.csv'", "COPY is not allowed"),
    ("COPY (SELECT 1) TO PROGRAM 'rm -rf /'", "COPY is not allowed"),
    ("COPY orders FROM '/etc/passwd'", "COPY is not allowed"),
    ("COPY (SELECT 1) TO STDOUT", "TO STDOUT (psql's \\copy) is not served either: send its query"),
    ("ATTACH 'other.duckdb' AS other", "ATTACH is not allowed"),
    ("ATTACH DATABASE 'x' AS y", "ATTACH is not allowed"),
    ("DETACH other", "DETACH is not allowed"),
    ("INSTALL httpfs", "INSTALL is not allowed"),
    ("FORCE INSTALL httpfs", "FORCE is not allowed"),
    ("LOAD httpfs", "LOAD is not allowed"),
    ("LOAD '/tmp/evil.so'", "LOAD is not allowed"),
    ("PRAGMA database_list", "PRAGMA is not allowed"),
    ("PRAGMA threads=64", "PRAGMA is not allowed"),
    ("CALL pragma_version()", "CALL is not allowed"),
    ("EXPORT DATABASE '/tmp/dump'", "EXPORT is not allowed"),
    ("IMPORT DATABASE '/tmp/dump'", "IMPORT is not allowed"),
    ("DO $$ BEGIN PERFORM 1; END $$", "DO is not allowed"),
    ("PREPARE p AS DELETE FROM orders", "PREPARE is not allowed"),
    ("EXECUTE p", "EXECUTE is not allowed"),
    # Session, privileges, maintenance
    ("SET search_path TO evil", "SET is not allowed"),
    ("SET VARIABLE x = 1", "SET is not allowed"),
    ("RESET ALL", "RESET is not allowed"),
    ("BEGIN", "BEGIN is not allowed"),
    ("START TRANSACTION", "START is not allowed"),
    ("COMMIT", "COMMIT is not allowed"),
    ("ROLLBACK", "ROLLBACK is not allowed"),
    ("USE other", "USE is not allowed"),
    ("GRANT SELECT ON orders TO public", "GRANT is not allowed"),
    ("REVOKE SELECT ON orders FROM public", "REVOKE is not allowed"),
    ("VACUUM orders", "VACUUM is not allowed"),
    ("ANALYZE orders", "ANALYZE is not allowed"),
    ("CHECKPOINT", "CHECKPOINT is not allowed"),
    ("LOCK TABLE orders", "LOCK is not allowed"),
    # More than one statement, however harmless
    ("SELECT 1; DROP TABLE orders", "one statement per request: found 2 (SELECT, DROP)"),
    ("SELECT 1; SELECT 2", "one statement per request: found 2 (SELECT, SELECT)"),
    ("SELECT E'it\\'s'; DROP TABLE orders", "one statement per request"),
    ("SELECT 1 -- a comment ends at a carriage return\r; DROP TABLE t", "one statement per"),
    # Locking reads
    ("SELECT * FROM orders FOR UPDATE", "SELECT ... FOR UPDATE is not allowed"),
    ("SELECT * FROM orders FOR SHARE", "SELECT ... FOR SHARE is not allowed"),
    ("SELECT * FROM orders FOR NO KEY UPDATE SKIP LOCKED", "FOR NO KEY UPDATE is not allowed"),
    # Table functions that read files or other systems
    ("SELECT * FROM read_csv('/etc/passwd')", "function read_csv() is not allowed"),
    ("SELECT * FROM read_csv_auto('s3://bucket/x.csv')", "function read_csv_auto()"),
    ("SELECT * FROM read_parquet(['a.parquet', 'b.parquet'])", "function read_parquet()"),
    ("SELECT * FROM parquet_scan('x.parquet')", "function parquet_scan()"),
    ("SELECT * FROM read_json('x.json')", "function read_json()"),
    ("SELECT * FROM read_json_auto('x.json')", "function read_json_auto()"),
    ("SELECT * FROM read_ndjson('x.ndjson')", "function read_ndjson()"),
    ("SELECT content FROM read_text('/etc/shadow')", "function read_text()"),
    ("SELECT * FROM read_blob('~/.ssh/id_rsa')", "function read_blob()"),
    ("SELECT * FROM read_xlsx('x.xlsx')", "function read_xlsx()"),
    ("SELECT * FROM sqlite_scan('x.db', 't')", "function sqlite_scan()"),
    ("SELECT * FROM postgres_scan('host=evil', 'public', 't')", "function postgres_scan()"),
    ("SELECT * FROM mysql_scan('x')", "function mysql_scan()"),
    ("SELECT * FROM iceberg_scan('s3://b/t')", "function iceberg_scan()"),
    ("SELECT * FROM delta_scan('s3://b/t')", "function delta_scan()"),
    ("SELECT * FROM glob('/etc/*')", "function glob() is not allowed"),
    ("SELECT * FROM query('DROP TABLE orders')", "function query() is not allowed"),
    ("SELECT * FROM duckdb_secrets()", "function duckdb_secrets() is not allowed"),
    ("SELECT * FROM json_each('{}')", "table function json_each() is not allowed"),
    ("SELECT * FROM $1", "$1 cannot be used as a table"),
    # File paths and URLs posing as table names
    ("SELECT * FROM 'orders.csv'", "table name 'orders.csv' looks like a file path or URL"),
    ('SELECT * FROM "s3://bucket/x.parquet"', "table name 's3://bucket/x.parquet' looks like"),
    ('SELECT * FROM "https://example.com/data.json"', "'https://example.com/data.json'"),
    ('SELECT * FROM "/etc/passwd"', "table name '/etc/passwd' looks like a file path"),
    ('SELECT * FROM "C:\\data\\x.csv"', "table name 'C:\\data\\x.csv' looks like"),
    ('SELECT * FROM "data.csv.gz"', "table name 'data.csv.gz'"),
    ('SELECT * FROM orders JOIN "../secrets.parquet" s ON true', "'../secrets.parquet'"),
    ("SELECT * FROM orders, 'x.parquet'", "table name 'x.parquet'"),
    ('SELECT * FROM s3."bucket/key"', "table name 'bucket/key'"),
    ('TABLE "x.csv"', "table name 'x.csv'"),
    ("DESCRIBE 'x.csv'", "table name 'x.csv'"),
    ('SHOW "/etc/passwd"', "table name '/etc/passwd'"),
    # Dangerous scalar functions anywhere in a query
    ("SELECT pg_read_file('/etc/passwd')", "function pg_read_file() is not allowed"),
    ("SELECT pg_catalog.pg_read_binary_file('/etc/passwd')", "function pg_read_binary_file()"),
    ("SELECT * FROM pg_ls_dir('/')", "function pg_ls_dir() is not allowed"),
    ("SELECT pg_stat_file('/etc/passwd')", "function pg_stat_file() is not allowed"),
    ("SELECT lo_import('/etc/passwd')", "function lo_import() is not allowed"),
    ("SELECT lo_export(16384, '/tmp/x')", "function lo_export() is not allowed"),
    ("SELECT dblink_exec('host=evil', 'DROP TABLE x')", "function dblink_exec() is not allowed"),
    ("SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)", "function dblink()"),
    ("SELECT getenv('AWS_SECRET_ACCESS_KEY')", "function getenv() is not allowed"),
    ("SELECT pg_sleep(3600)", "function pg_sleep() is not allowed: it stalls on purpose"),
    ("SELECT pg_sleep_for('1 hour')", "function pg_sleep_for() is not allowed"),
    ("SELECT set_config('search_path', 'evil', false)", "function set_config() is not"),
    ("SELECT nextval('seq')", "function nextval() is not allowed"),
    ("SELECT setval('seq', 1)", "function setval() is not allowed"),
    ("SELECT query_to_xml('DELETE FROM orders', true, true, '')", "function query_to_xml()"),
    ("SELECT (SELECT pg_read_file('/etc/passwd'))", "function pg_read_file()"),
    ("SELECT * FROM orders WHERE id IN (SELECT nextval('s'))", "function nextval()"),
    ("SELECT upper(getenv('HOME'))", "function getenv()"),
    ("SELECT * FROM orders ORDER BY (SELECT pg_sleep(10))", "function pg_sleep()"),
    ("SELECT count(*) OVER (PARTITION BY pg_sleep(1)) FROM orders", "function pg_sleep()"),
    ("VALUES (pg_sleep(1))", "function pg_sleep()"),
    ("SELECT 'x'.read_text()", "function read_text()"),
    # Recursion into set operations, laterals and ROWS FROM
    ("SELECT 1 UNION ALL SELECT * FROM read_csv('x')", "function read_csv()"),
    ("SELECT * FROM orders o, LATERAL read_csv(o.path) r", "function read_csv()"),
    (
        "SELECT * FROM orders CROSS JOIN LATERAL (SELECT * FROM read_parquet(orders.path)) r",
        "function read_parquet()",
    ),
    ("SELECT * FROM ROWS FROM (generate_series(1, 2), read_csv('x'))", "function read_csv()"),
    # Obfuscation: case, comments, invisible and look-alike characters
    ("SeLeCt * FrOm ReAd_CsV('x')", "function read_csv()"),
    ("/* harmless */ DROP /* really */ TABLE orders", "DROP TABLE is not allowed"),
    ("-- just a comment\nDELETE FROM orders", "DELETE is not allowed"),
    ("DROP\u200bTABLE orders", "U+200B (ZERO WIDTH SPACE) at position 5"),
    ("SELECT 1\uff1b DROP TABLE orders", "U+FF1B (FULLWIDTH SEMICOLON)"),
    ("SELECT 1\u037e DROP TABLE orders", "U+037E (GREEK QUESTION MARK)"),
    ("SELECT\u00a0* FROM orders", "U+00A0 (NO-BREAK SPACE)"),
    ("SELECT 1 \u202e-- ;ELBAT PORD", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("SELECT 1\x00; DROP TABLE orders", "U+0000 (control character)"),
    ("SELECT 1 -- c\u2028DROP TABLE orders", "U+2028 (LINE SEPARATOR)"),
    # EXPLAIN, SHOW and DESCRIBE only wrap what would be allowed on its own
    ("EXPLAIN DELETE FROM orders", "EXPLAIN DELETE is not allowed"),
    ("EXPLAIN ANALYZE DELETE FROM orders", "EXPLAIN DELETE is not allowed"),
    ("EXPLAIN (ANALYZE, FORMAT JSON) UPDATE orders SET total = 0", "EXPLAIN UPDATE is not"),
    ("EXPLAIN CREATE TABLE t AS SELECT 1", "EXPLAIN CREATE TABLE ... AS is not allowed"),
    ("EXPLAIN COPY orders TO '/tmp/x'", "EXPLAIN COPY is not allowed"),
    ("EXPLAIN EXPLAIN SELECT 1", "EXPLAIN EXPLAIN is not allowed"),
    ("EXPLAIN ANALYZE SELECT * FROM read_csv('/etc/passwd')", "function read_csv()"),
    (
        "EXPLAIN ANALYZE WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x",
        "DELETE inside WITH",
    ),
    ("SHOW SELECT * FROM read_csv('x')", "SHOW accepts only names"),
    ("DESCRIBE SELECT * FROM read_csv('x')", "function read_csv()"),
]

ALLOWED: list[str] = [
    "SELECT 1",
    "select 1;",
    "SELECT 1;;",
    "  -- leading comment\nSELECT * FROM orders /* trailing */",
    "SELECT id, total FROM orders WHERE total > 10 ORDER BY total DESC LIMIT 5",
    "SELECT customer, sum(total) AS spent FROM orders GROUP BY customer HAVING sum(total) > 100",
    "SELECT id, rank() OVER (PARTITION BY customer ORDER BY total DESC) FROM orders",
    "SELECT id, sum(total) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM orders",
    "WITH big AS (SELECT * FROM orders WHERE total > 100) SELECT count(*) FROM big",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r",
    "WITH read_stats(n) AS (SELECT 1) SELECT * FROM read_stats",
    "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN regions USING (rid)",
    "SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE vip)",
    "SELECT (SELECT max(total) FROM orders) AS top",
    "SELECT * FROM orders WHERE EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = orders.id)",
    "SELECT 1 UNION SELECT 2 INTERSECT SELECT 2 EXCEPT SELECT 3",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM (VALUES (1), (2)) AS v(x)",
    "TABLE orders",
    "SELECT * FROM generate_series(1, 10) AS g(n)",
    "SELECT * FROM range(5)",
    "SELECT * FROM unnest(ARRAY[1, 2, 3]) WITH ORDINALITY AS u(x, n)",
    "SELECT o.id, g.n FROM orders o CROSS JOIN LATERAL generate_series(1, o.quantity) AS g(n)",
    "SELECT * FROM orders o, LATERAL (SELECT * FROM items i WHERE i.order_id = o.id LIMIT 1) f",
    "SELECT 'DROP TABLE orders; --' AS note",
    "SELECT 'a;b' AS s, $$;DELETE FROM orders;$$ AS t",
    "SELECT E'it\\'s; DROP TABLE x' AS s",
    'SELECT "weird;name" FROM orders',
    "SELECT count(*) FROM orders WHERE note LIKE '%read_csv(%'",
    "SELECT read_count, lo_watermark FROM orders",
    'SELECT \'zero\u200bwidth\', "caf\u00e9", "\ufeffid" FROM orders',
    "SELECT\tid,\r\n total\fFROM orders",
    "SELECT * FROM information_schema.tables WHERE table_schema = 'public'",
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders'",
    "SELECT * FROM pg_catalog.pg_tables",
    "SELECT current_setting('search_path'), version(), current_user",
    "SELECT CAST(total AS text), total::int, coalesce(note, '') FROM orders",
    "SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END FROM orders",
    "SELECT DISTINCT ON (customer) customer, total FROM orders ORDER BY customer, total DESC",
    "SELECT * FROM orders FETCH FIRST 5 ROWS ONLY",
    "SeLeCt * FrOm orders",
    "EXPLAIN SELECT * FROM orders",
    "EXPLAIN ANALYZE SELECT * FROM orders",
    "explain analyze verbose select 1",
    "EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) SELECT * FROM orders",
    "EXPLAIN (ANALYZE true, BUFFERS off) SELECT 1",
    "EXPLAIN FORMAT tree SELECT 1",
    "EXPLAIN (SELECT 1)",
    "EXPLAIN WITH x AS (SELECT 1) SELECT * FROM x",
    "SHOW TABLES",
    "SHOW search_path",
    "SHOW ALL",
    "SHOW COLUMNS FROM orders",
    "SHOW FUNCTIONS LIKE 'date%'",
    "DESCRIBE orders",
    "DESC orders",
    "DESCRIBE SELECT * FROM orders",
]


@pytest.mark.parametrize(("sql", "fragment"), HOSTILE)
def test_hostile_sql_is_forbidden_with_a_reason_naming_it(sql: str, fragment: str) -> None:
    error = refusal(sql)

    assert error.code is ErrorCode.FORBIDDEN, error.message
    assert fragment in error.message
    assert error.hint is not None and error.hint.endswith(HINT)


@pytest.mark.parametrize("sql", ALLOWED)
def test_read_only_sql_passes_and_is_returned(sql: str) -> None:
    statements = parse(sql)

    allowed = check(sql, statements)

    assert allowed is next(s for s in statements if s is not None)


def test_hostile_corpus_is_large_enough_to_mean_something() -> None:
    assert len(HOSTILE) >= 60
    assert len(ALLOWED) >= 25


def test_refusals_explain_why_not_just_what() -> None:
    assert "it writes data, and this sidecar is read-only" in refusal("DELETE FROM t").message
    assert "bypassing the declared datasets" in refusal("SELECT * FROM read_csv('x')").message
    assert "Postgres wire server handles SET" in refusal("SET x = 1").message
    assert (
        "EXPLAIN ANALYZE runs the statement it explains" in refusal("EXPLAIN DROP TABLE t").message
    )


@pytest.mark.parametrize(
    ("sql", "position"),
    [
        ("SELECT 1; DROP TABLE t", 11),
        ("SELECT a, pg_read_file('x') FROM t", 11),
        ('SELECT * FROM "x.csv"', 15),
        ("EXPLAIN SELECT * FROM read_csv('x')", 23),
        ("EXPLAIN ANALYZE DELETE FROM t", 17),
        ("  DROP TABLE t", 3),
        ("SELECT 1\u200b", 9),
    ],
)
def test_refusals_point_at_the_offending_construct(sql: str, position: int) -> None:
    assert refusal(sql).position == position


def test_multiple_statements_hint_says_to_split_them() -> None:
    error = refusal("SELECT 1; SELECT 2")

    assert error.hint == f"Send each statement as its own request. {HINT}"


def test_path_refusal_hint_points_at_declared_datasets() -> None:
    error = refusal("SELECT * FROM 'x.csv'")

    assert error.hint is not None and error.hint.startswith("Query a declared dataset by its name")


@pytest.mark.parametrize("sql", ["", "   ", ";", ";;", "-- only a comment", "/* c */ ;"])
def test_empty_sql_is_an_invalid_request(sql: str) -> None:
    error = refusal(sql)

    assert error.code is ErrorCode.INVALID_REQUEST
    assert error.message.startswith("empty query")


def test_statements_from_plain_sqlglot_are_accepted_too() -> None:
    sql = "SHOW TABLES"

    assert isinstance(check(sql, sqlglot.parse(sql, read="postgres")), exp.Command)


def test_duckdb_dialect_is_guarded_the_same_way() -> None:
    sql = "SELECT * FROM range(3) UNION ALL SELECT * FROM glob('/etc/*')"

    with pytest.raises(SidecarError, match=r"function glob\(\) is not allowed"):
        check(sql, parse(sql, dialect="duckdb"), dialect="duckdb")


def test_syntax_error_points_at_the_token() -> None:
    with pytest.raises(SidecarError) as caught:
        parse("SELECT * FROM WHERE a = 1")

    error = caught.value
    assert error.code is ErrorCode.SYNTAX
    assert error.message == "syntax error at or near 'WHERE' (line 1, column 15)"
    assert error.position == 15
    assert error.hint is not None and "Expected table name but got 'WHERE'" in error.hint
    assert "<Token" not in error.hint


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT status, count(*) FROM orders GROUP BY", "an expression after 'GROUP BY'"),
        ("SELECT * FROM orders o JOIN customers c ON", "a condition after 'ON'"),
        ("SELECT * FROM", "a table after 'FROM'"),
        ("SELECT * FROM orders WHERE id = 1 AND", "a condition after 'AND'"),
        ("SELECT * FROM orders LIMIT", "a row count after 'LIMIT'"),
        ("SELECT id FROM orders WHERE id IN (1, 2", "a closing parenthesis ')'"),
        ("SELECT 1 +\n", "an expression after '+'"),
        ("EXPLAIN ANALYZE SELECT * FROM orders UNION;", "a query after 'UNION'"),
    ],
)
def test_a_statement_cut_short_is_a_syntax_error_at_its_end(sql: str, expected: str) -> None:
    error = refusal(sql)

    end = len(sql.rstrip(" \n;"))
    assert error.code is ErrorCode.SYNTAX
    assert error.message.startswith("syntax error at end of input (line ")
    assert error.message.endswith(f"expected {expected}")
    assert error.position == end + 1


def test_a_keyword_after_as_is_a_name_that_may_end_a_statement() -> None:
    assert check("SELECT 1 AS full", parse("SELECT 1 AS full"))


def test_syntax_error_position_counts_across_lines() -> None:
    sql = "SELECT a\nFROM t\nWHERE a = = 1"

    with pytest.raises(SidecarError) as caught:
        parse(sql)

    assert caught.value.message == "syntax error at or near '=' (line 3, column 11)"
    assert caught.value.position == sql.rindex("=") + 1


def test_unterminated_string_is_a_syntax_error() -> None:
    with pytest.raises(SidecarError) as caught:
        parse("SELECT 'abc")

    assert caught.value.code is ErrorCode.SYNTAX
    assert "unterminated" in caught.value.message


def test_syntax_error_inside_explain_points_into_the_original_sql() -> None:
    error = refusal("EXPLAIN ANALYZE SELECT * FROM ) x")

    assert error.code is ErrorCode.SYNTAX
    assert error.message == "syntax error at or near ')' (line 1, column 31)"
    assert error.position == 31


@pytest.mark.parametrize(("sql", "fragment"), [("EXPLAIN", "EXPLAIN must"), ("SHOW", "SHOW must")])
def test_explain_and_show_need_something_to_act_on(sql: str, fragment: str) -> None:
    error = refusal(sql)

    assert error.code is ErrorCode.SYNTAX
    assert error.message.startswith(fragment)


def test_unparseable_sql_without_a_forbidden_construct_stays_a_syntax_error() -> None:
    error = refusal("SELEC 1")

    assert error.code is ErrorCode.SYNTAX
    assert error.position == 1
    assert "did you mean SELECT" in (error.hint or "")


@pytest.mark.parametrize(
    ("sql", "word", "hint"),
    [
        ('""', '''""''', ""),
        ('"x"', '''"x"''', ""),
        ('"select" 1', '''"select"''', "did you mean SELECT"),
        ("''", "''", ""),
        ("E'\\n' || $1", "E'\\n'", ""),
        ("-1", "-", ""),
        ("NULL", "NULL", ""),
    ],
)
def test_a_statement_led_by_a_value_or_a_quoted_name_is_a_syntax_error_at_it(
    sql: str, word: str, hint: str
) -> None:
    """`""` and `''` as a whole statement failed with an IndexError (a 500, "a bug in the
    sidecar"), and `"x"` or `-1` were refused as forbidden statements named X and -; PostgreSQL
    reads each as a syntax error at its first token."""
    error = refusal(sql)

    assert error.code is ErrorCode.SYNTAX
    assert error.message.startswith(f"syntax error at or near '{word}'") and error.position == 1
    assert hint in (error.hint or "")


def test_placeholders_before_a_trailing_empty_string_parse() -> None:
    sql = "SELECT * FROM t WHERE a = $1 AND b = ''"
    assert check(sql, parse(sql)).sql(dialect="postgres").endswith("b = ''")


def test_dollar_then_a_digit_is_a_placeholder_not_a_dollar_quote() -> None:
    """pgjdbc writes `IN (?,?)` as `IN ($1,$2)`; a dollar quote's tag never starts with a digit."""
    (select,) = parse("SELECT $a$x,$1$a$, $$y$$ FROM t WHERE id IN ($1,$2) AND v = $3+$4")
    assert select is not None
    assert sorted(p.sql("postgres") for p in select.find_all(exp.Parameter)) == [
        "$1",
        "$2",
        "$3",
        "$4",
    ]
    assert sorted(s.this for s in select.find_all(exp.RawString)) == ["x,$1", "y"]
