"""Texts that differ only in their compared literals: read once, then answered from their
pattern (engine/patterns.py) exactly as a text parsed afresh is answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies.access import unrestricted
from policies.identity import ANONYMOUS_IDENTITY, Authenticator, Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.engine.lookups import LookupResult
from sidecar.engine.patterns import _lexed
from sidecar.errors import SidecarError
from sidecar.gateway import Gateway
from sidecar.gateway.audit import AuditLog
from sidecar.metrics import Metrics
from sidecar.servers.pgwire.commands import Statement
from sidecar.servers.pgwire.server import PgServer
from sidecar.servers.pgwire.session_functions import SessionValues
from sidecar.servers.pgwire.statements import Analyzer

ROWS = 300
SRE = Identity("sre", {"country": "DE"})


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    rows = pa.table(
        {
            "id": pa.array(range(0, 2 * ROWS, 2), pa.int64()),
            "code": pa.array(["O'Brien" if i % 7 == 0 else f"c{i % 9}" for i in range(ROWS)]),
            "amount": pa.array([i / 8 for i in range(ROWS)]),
            "country": pa.array(["DE" if i % 2 else "FR" for i in range(ROWS)]),
        }
    )
    pq.write_table(rows, tmp_path / "t.parquet")
    policies = [
        {"identities": ["sre"], "datasets": ["ta"], "rows": {"ta": "country = {identity.country}"}},
        {"identities": ["*"], "datasets": ["ta"]},
    ]
    data = {
        "name": "shop",
        "runtime": {"auth": {"hash_key": "unit-test-hash-key"}},
        "datasets": [
            {"from": "file:t.parquet", "name": "ta", "acceleration": {"primary_key": "id"}}
        ],
        "policies": policies,
    }
    engine = Engine(parse_config(data, tmp_path))
    engine.load()
    yield engine
    engine.close()


def answer(engine: Engine, sql: str, identity: Identity | None = None) -> list[dict[str, object]]:
    result = engine.query(sql, [], identity) if identity else engine.query(sql, [])
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


def fresh(engine: Engine, sql: str, identity: Identity | None = None) -> list[dict[str, object]]:
    grant = engine.access.grant(identity) if identity else unrestricted()
    result = engine.run(sql, [], grant, cached=False)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


def counting_reads(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    read = engine.statements.read

    def counted(sql: str) -> object:
        reads.append(sql)
        return read(sql)

    monkeypatch.setattr(engine.statements, "read", counted)
    return reads


def test_a_text_of_a_pattern_read_before_is_answered_without_parsing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = "SELECT id, code, amount FROM ta WHERE id = {}"
    for key in (2, 4, 6):
        answer(engine, sql.format(key))
    deadline = time.monotonic() + 10
    while engine.lookups.size("ta") is None:  # built behind the first lookups
        assert time.monotonic() < deadline, "the key index was not built"
        time.sleep(0.01)
    reads = counting_reads(engine, monkeypatch)
    texts = [sql.format(key) for key in (0, 8, 9, 598, 600, 10**12)]
    answers = [answer(engine, text) for text in texts]
    assert isinstance(engine.query(sql.format(10), []), LookupResult)
    at_once = engine.lookup(sql.format(12), [], ANONYMOUS_IDENTITY)  # as an event loop asks
    assert at_once is not None and at_once.arrow().to_pylist()[0]["id"] == 12
    assert reads == [], "a text of a known pattern was parsed"
    assert answers == [fresh(engine, text) for text in texts]
    assert [len(rows) for rows in answers] == [1, 1, 0, 1, 0, 0]


def test_every_other_literal_must_be_the_one_read(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LIMIT, a string in a function: not the plan's slots, so another value is another
    text to read, never the answer of the one read before."""
    limited = "SELECT id FROM ta WHERE id >= {} ORDER BY id LIMIT {}"
    answer(engine, limited.format(10, 3))
    answer(engine, limited.format(12, 3))
    reads = counting_reads(engine, monkeypatch)
    assert answer(engine, limited.format(20, 3)) == [{"id": 20}, {"id": 22}, {"id": 24}]
    assert reads == []
    assert len(answer(engine, limited.format(20, 5))) == 5
    assert len(reads) == 1
    padded = "SELECT id, lpad(code, {}, '*') AS c FROM ta WHERE code = '{}' ORDER BY id"
    answer(engine, padded.format(9, "c1"))
    for width, code in ((9, "c2"), (4, "c2"), (9, "O''Brien")):
        text = padded.format(width, code)
        assert answer(engine, text) == fresh(engine, text) != []


def test_literals_of_another_kind_are_read_again(engine: Engine) -> None:
    """An integer's pattern does not answer a float, a negative number or an integer past
    BIGINT: each is planned as itself, as a fresh text is."""
    sql = "SELECT id, amount FROM ta WHERE id = {}"
    answer(engine, sql.format(4))
    answer(engine, sql.format(6))
    for written in ("4.0", "4.5", "-4", "99999999999999999999", "'8'", "1e1"):
        text = sql.format(written)
        try:
            expected = fresh(engine, text)
        except SidecarError as error:
            with pytest.raises(SidecarError) as raised:
                answer(engine, text)
            assert raised.value.code == error.code
            continue
        assert answer(engine, text) == expected, written


def test_a_pattern_is_kept_for_one_grant(engine: Engine) -> None:
    """Read by an unrestricted identity, the pattern never answers one with a row filter."""
    sql = "SELECT id, country FROM ta WHERE id = {}"
    for key in (2, 4, 6, 8):
        answer(engine, sql.format(key))
    for key in (2, 4, 10, 12):
        text = sql.format(key)
        assert answer(engine, text, SRE) == fresh(engine, text, SRE)
        assert all(row["country"] == "DE" for row in answer(engine, text, SRE))
    assert answer(engine, sql.format(4), SRE) == []


def test_a_text_with_comments_is_read_each_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = "SELECT id FROM ta /* agent 7 */ WHERE id = {}"
    answer(engine, sql.format(2))
    answer(engine, sql.format(4))
    reads = counting_reads(engine, monkeypatch)
    assert answer(engine, sql.format(6)) == [{"id": 6}]
    assert len(reads) == 1


def test_the_size_bound_holds_for_a_text_of_a_known_pattern(engine: Engine) -> None:
    sql = "SELECT id FROM ta WHERE code = '{}'"
    answer(engine, sql.format("c1"))
    answer(engine, sql.format("c2"))
    with pytest.raises(SidecarError, match="max_statement_size"):
        answer(engine, sql.format("x" * (engine.bounds.max_size + 1)))


def test_the_pg_analysis_of_a_text_of_a_known_pattern_is_shared(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg sends an agent's literal SQL in a Parse of its own text: each was parsed
    again to analyse it, on the event loop. A third text of a pattern takes the analysis of
    the second (the first taught the engine the pattern), with its own text to run."""
    config = engine.config
    gateway = Gateway(engine, Metrics(engine), AuditLog(config.audit, tmp_path))
    server = PgServer(
        gateway, Authenticator(config.runtime.auth, tmp_path), config.runtime, tmp_path
    )
    values = SessionValues("agent", "shop", 1, ("", 0), ("", 0), lambda name: "", "PostgreSQL")
    analyzer = Analyzer(server, values, ANONYMOUS_IDENTITY, lambda sql, error: None)
    sql = "SELECT id, code AS c FROM ta WHERE id = {} AND code <> 'x'"
    for key in (2, 4):
        analyzer.analyse(Statement(sql.format(key), 0), [])
        answer(engine, sql.format(key))
    reads = counting_reads(engine, monkeypatch)
    first = analyzer.analyse(Statement(sql.format(6), 0), [])
    second = analyzer.analyse(Statement(sql.format(8), 0), [])
    assert reads == []
    assert (first.engine_sql, second.engine_sql) == (sql.format(6), sql.format(8))
    assert second.names == ["id", "c"] and second.parameter_types == () and not second.shadow
    assert answer(engine, second.engine_sql) == [{"id": 8, "c": "c4"}]
    with_parameter = "SELECT id FROM ta WHERE id = $1 AND code <> '{}'"
    analyzer.analyse(Statement(with_parameter.format("x"), 0), [])
    analyzer.analyse(Statement(with_parameter.format("y"), 0), [])
    assert len(reads) == 2, "a text with parameters is analysed on its own"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM ta WHERE id = 2 -- the key",
        "SELECT id FROM ta WHERE id = 2 /* the key */",
        "SELECT id FROM ta WHERE code = $$c1$$",
        "SELECT id FROM ta WHERE code = E'c\\x31'",
        "SELECT id FROM ta WHERE code = 'c' 'l'",
        "SELECT id FROM ta WHERE code = 'c\\1'",
        "SELECT id FROM ta WHERE id = 2e",
        "SELECT id FROM ta WHERE id = \uff12",  # a name to the parser, 2 to int()
        "SELECT id FROM ta WHERE id = \u0662",
        "SELECT id,\u00a0code FROM ta WHERE id = 2",  # refused by the guard
        "SELECT id,\u2028code FROM ta WHERE id = 2",
        "SELECT id,\x1ccode FROM ta WHERE id = 2",
    ],
)
def test_texts_that_are_no_pattern(sql: str) -> None:
    """What the one regular expression does not read as PostgreSQL does is no pattern."""
    assert _lexed(sql) is None


def test_white_space_never_joins_or_splits_a_lexeme() -> None:
    """Operator characters in a run are one operator: `@>` and `@ >` are other texts."""
    lexemes = _lexed("SELECT a FROM t WHERE a @> b AND c=-5 AND d = 'it''s'")
    assert lexemes is not None
    assert ("operator", "@>") in lexemes.lexemes and ("operator", "=-") in lexemes.lexemes
    assert lexemes.lexemes != _lexed("SELECT a FROM t WHERE a @ > b AND c=-5 AND d='x'").lexemes
    assert [literal.text for literal in lexemes.literals] == ["5", "it's"]
    spaced = _lexed("SELECT  a\nFROM t WHERE a @> b AND c=-5 AND d = 'x'")
    assert spaced is not None and spaced.lexemes == lexemes.lexemes
    joined, apart = _lexed('SELECT "a""b" FROM t WHERE a = 1'), _lexed('SELECT "a" "b" FROM t')
    assert joined is not None and ("quoted", '"a""b"') in joined.lexemes  # one name, a"b
    assert apart is not None and ("quoted", '"a"') in apart.lexemes
