"""A repeated lookup's whole group of messages answered in one step (pgwire/quick.py), spoken
message by message: the replies must be the bytes the session's general way sends for the same
group, in every order a client may send, in and out of transactions, and the lane must give
way (to the general way's error, or to a fresh plan) whenever it cannot answer.

`sidecar_at_once_answers_total{interface="pg"}` counts the groups the lane answered, so each
test also shows which way answered.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.pg_client import SYNC, RawClient, Reply, bind, describe, execute, message, parse
from tests.process import SidecarProcess, free_port

ROWS = 100
STATEMENT_BOUND = 4096  # small enough that a group past it still arrives in one read
LOOKUP = "SELECT id, name, amount FROM pk WHERE id = $1"
BY_NAME = "SELECT id FROM pk WHERE name = $1"


def table(scale: float) -> pa.Table:
    ids = list(range(ROWS))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [None if i % 9 == 0 else f"n{i % 30}" for i in ids],
            "amount": [i * scale for i in ids],
        }
    )


@dataclass(frozen=True)
class Sidecar:
    process: SidecarProcess
    root: Path

    def answered_at_once(self) -> int:
        text = httpx.get(f"{self.process.url}/metrics").text
        found = re.search(r'sidecar_at_once_answers_total\{interface="pg"\} (\S+)', text)
        return int(float(found.group(1))) if found else 0

    def audit(self, sql: str) -> list[dict[str, object]]:
        lines = (self.root / "audit.jsonl").read_text().splitlines()
        return [entry for entry in map(json.loads, lines) if entry.get("sql") == sql]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    root = tmp_path_factory.mktemp("quick")
    pq.write_table(table(1.5), root / "t.parquet")
    port = free_port()
    keyed = {"engine": "duckdb", "primary_key": "id", "indexes": {"name": "enabled"}}
    config = {
        "version": 1,
        "name": "quick",
        "runtime": {"http": {"port": port}, "max_statement_size": STATEMENT_BOUND},
        "datasets": [{"from": "file:t.parquet", "name": "pk", "acceleration": keyed}],
        "audit": {"path": "audit.jsonl"},
    }
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)
    sidecar = Sidecar(process, root)
    dsn = f"host=127.0.0.1 port={process.pg_port} dbname=quick user=tester"
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while sidecar.answered_at_once() < 2:  # both key indexes built and answering
            assert time.monotonic() < deadline, "the key indexes were not built"
            for sql, value in ((LOOKUP, 1), (BY_NAME, "n1")):
                conn.execute(sql.replace("$1", "%s"), [value]).fetchall()
            time.sleep(0.05)
    try:
        yield sidecar
    finally:
        process.stop()


def group(key: bytes | None, *, sql: str = LOOKUP, described: bool = True, fmt: int = 0) -> bytes:
    """What libpq sends for a statement with one parameter (asyncpg leaves out Describe)."""
    parts = [parse(sql), bind(values=(key,), result_format=fmt)]
    if described:
        parts.append(describe("P"))
    return b"".join([*parts, execute(), SYNC])


def named_group(name: str, key: bytes, *, described: bool = False) -> bytes:
    parts = [bind(statement=name, values=(key,))]
    if described:
        parts.append(describe("P"))
    return b"".join([*parts, execute(), SYNC])


def exchange(client: RawClient, data: bytes) -> Reply:
    client.send_raw(data)
    return client.read_until_ready()


def test_a_repeated_group_is_answered_whole_with_the_same_bytes(sidecar: Sidecar) -> None:
    client = RawClient(sidecar.process.pg_port)
    try:
        for fmt in (0, 1):
            for key in (b"5", b"0", b"99", b"100", b"-7"):
                before = sidecar.answered_at_once()
                first = exchange(client, group(key, fmt=fmt))
                again = exchange(client, group(key, fmt=fmt))
                assert first.messages == again.messages
                assert first.kinds in ("12TDCZ", "12TCZ"), first.kinds
                if not key.startswith(b"-"):  # a negative key is planned (engine.lookup)
                    assert sidecar.answered_at_once() - before >= 1
        rows = exchange(client, group(b"5")).rows()
        assert rows == [[b"5", b"n5", b"7.5"]]
        assert exchange(client, group(b"9")).rows() == [[b"9", None, b"13.5"]]
    finally:
        client.close()


def test_pipelined_groups_each_get_their_replies(sidecar: Sidecar) -> None:
    keys = [str(key).encode() for key in (3, 4, 400, 7, 3, 0)]
    client = RawClient(sidecar.process.pg_port)
    try:
        exchange(client, group(b"1"))
        before = sidecar.answered_at_once()
        client.send_raw(b"".join(group(key, described=bool(i % 2)) for i, key in enumerate(keys)))
        replies = [client.read_until_ready() for _ in keys]
        assert sidecar.answered_at_once() - before == len(keys)
    finally:
        client.close()
    for i, (key, reply) in enumerate(zip(keys, replies, strict=True)):
        found = int(key) < ROWS
        assert reply.kinds == ("12" + "T" * (i % 2) + "D" * found + "CZ"), reply.kinds
        assert [row[0] for row in reply.rows()] == ([key] if found else [])


def test_literal_texts_of_one_pattern_take_the_lane(sidecar: Sidecar) -> None:
    """pgjdbc below its prepare threshold sends an agent's literal SQL in an unnamed Parse of
    a new text each time: once the pattern's analysis is shared (engine/patterns.py), the
    groups are answered whole, with the general way's bytes."""
    text = "SELECT id, name, amount FROM pk WHERE id = {}"

    def literal(key: int) -> bytes:
        return b"".join([parse(text.format(key)), bind(), describe("P"), execute(), SYNC])

    client = RawClient(sidecar.process.pg_port)
    try:
        general = [exchange(client, literal(key)) for key in (21, 22, 23)]
        before = sidecar.answered_at_once()
        answered = [exchange(client, literal(key)) for key in (24, 25, 400, 21)]
        assert sidecar.answered_at_once() - before == len(answered)
        assert answered[-1].messages == general[0].messages
        assert [reply.rows() for reply in answered] == [
            [[b"24", b"n24", b"36"]],
            [[b"25", b"n25", b"37.5"]],
            [],
            general[0].rows(),
        ]
        assert {reply.kinds for reply in answered[:2]} == {"12TDCZ"}
    finally:
        client.close()


def test_a_group_split_across_packets_is_answered_the_same(sidecar: Sidecar) -> None:
    client = RawClient(sidecar.process.pg_port)
    try:
        whole = exchange(client, group(b"42"))
        exchange(client, group(b"42"))
        data = group(b"42")
        for at in range(0, len(data), 7):
            client.send_raw(data[at : at + 7])
            time.sleep(0.002)
        assert client.read_until_ready().messages == whole.messages
    finally:
        client.close()


def test_named_statements_without_describe(sidecar: Sidecar) -> None:
    """asyncpg's way: a named statement, then Bind, Execute and Sync for each run."""
    client = RawClient(sidecar.process.pg_port)
    try:
        prepared = exchange(client, parse(LOOKUP, "s1", (20,)) + describe("S", "s1") + SYNC)
        assert prepared.kinds == "1tTZ"
        before = sidecar.answered_at_once()
        replies = [exchange(client, named_group("s1", str(key).encode())) for key in range(8)]
        assert sidecar.answered_at_once() - before >= len(replies) - 1
        assert [r.rows()[0][0] for r in replies] == [str(key).encode() for key in range(8)]
        assert {r.kinds for r in replies} == {"2DCZ"}
    finally:
        client.close()


def test_transactions_keep_postgresql_semantics(sidecar: Sidecar) -> None:
    client = RawClient(sidecar.process.pg_port)
    rerun = execute() + SYNC
    try:
        assert client.query("BEGIN").status == "T"
        first = exchange(client, group(b"11"))
        first_rerun = exchange(client, rerun)  # the ran-out unnamed portal lives on
        before = sidecar.answered_at_once()
        again = exchange(client, group(b"11"))
        again_rerun = exchange(client, rerun)
        assert sidecar.answered_at_once() - before == 1
        assert first.messages == again.messages and first.status == "T"
        assert first_rerun.messages == again_rerun.messages
        assert again_rerun.kinds == "CZ" and again_rerun.messages[0][1] == b"SELECT 0\0"
        failed = exchange(client, group(b"eleven"))
        assert [e["C"] for e in failed.errors()] == ["22P02"] and failed.status == "E"
        refused = exchange(client, group(b"11"))
        assert [e["C"] for e in refused.errors()] == ["25P02"] and refused.status == "E"
        assert client.query("ROLLBACK").status == "I"
        answered = exchange(client, group(b"11"))
        assert answered.messages == [*first.messages[:-1], ("Z", b"I")]
    finally:
        client.close()


def test_the_lane_gives_way_to_the_general_errors(sidecar: Sidecar) -> None:
    client = RawClient(sidecar.process.pg_port)
    try:
        exchange(client, group(b"2"))
        wrong = exchange(client, group(b"two"))
        assert wrong.kinds == "1EZ" and wrong.errors()[0]["C"] == "22P02"
        missing = parse(LOOKUP) + bind() + describe("P") + execute() + SYNC
        counted = exchange(client, missing)
        assert counted.kinds == "1EZ" and counted.errors()[0]["C"] == "08P01"
        null = exchange(client, group(None))
        assert null.kinds == "12TCZ"
        limited = parse(LOOKUP) + bind(values=(b"2",)) + execute(max_rows=1) + SYNC
        assert exchange(client, limited).kinds == "12DsZ"  # row limit reached: suspended
    finally:
        client.close()
    assert exchange(RawClient(sidecar.process.pg_port), group(b"2")).rows()[0][0] == b"2"


def test_every_answer_is_audited(sidecar: Sidecar) -> None:
    sql = LOOKUP.replace("SELECT id,", "SELECT id AS audited_id,")
    client = RawClient(sidecar.process.pg_port)
    try:
        client.send_raw(b"".join(group(str(key).encode(), sql=sql) for key in range(12)))
        for _ in range(12):
            client.read_until_ready()
    finally:
        client.close()
    deadline = time.monotonic() + 10
    while len(lines := sidecar.audit(sql)) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(lines) == 12
    assert {(e["decision"], e["rows"]) for e in lines} == {("ok", 1)}
    assert [e["lane"] for e in lines][1:] == ["key_index"] * 11  # the first text is planned


def test_a_refresh_mid_loop_gives_the_new_rows(sidecar: Sidecar) -> None:
    client = RawClient(sidecar.process.pg_port)
    try:
        assert exchange(client, group(b"8")).rows() == [[b"8", b"n8", b"12"]]
        assert exchange(client, group(b"8")).rows() == [[b"8", b"n8", b"12"]]
        pq.write_table(table(2.0), sidecar.root / "t.parquet")
        url = f"{sidecar.process.url}/v1/datasets/pk/acceleration/refresh"
        assert httpx.post(url, timeout=60).status_code == 200
        deadline = time.monotonic() + 30
        while (rows := exchange(client, group(b"8")).rows()) != [[b"8", b"n8", b"16"]]:
            assert time.monotonic() < deadline, rows
            time.sleep(0.05)
        before = sidecar.answered_at_once()
        for _ in range(3):
            assert exchange(client, group(b"8")).rows() == [[b"8", b"n8", b"16"]]
        assert sidecar.answered_at_once() - before >= 2
    finally:
        client.close()
        pq.write_table(table(1.5), sidecar.root / "t.parquet")
        httpx.post(f"{sidecar.process.url}/v1/datasets/pk/acceleration/refresh", timeout=60)


def test_a_close_between_groups(sidecar: Sidecar) -> None:
    """Close of the unnamed statement and a new Parse of other text: the next group is the
    other text's, never the closed one's answer."""
    client = RawClient(sidecar.process.pg_port)
    try:
        exchange(client, group(b"3"))
        closed = exchange(client, message(b"C", b"S\0") + SYNC)
        assert closed.kinds == "3Z"
        other = exchange(client, group(b"n3", sql=BY_NAME))
        assert other.kinds == "12TDDDCZ"
        assert sorted(other.rows()) == [[b"3"], [b"33"], [b"93"]]
        assert exchange(client, group(b"3")).rows() == [[b"3", b"n3", b"4.5"]]
    finally:
        client.close()


def test_a_client_that_reads_late_is_answered_in_order(sidecar: Sidecar) -> None:
    """Thousands of groups sent while their replies are not read yet: the lane stops answering
    from the socket's callback once the client falls behind, the session waits for it to
    drain, and every reply arrives, in order."""
    keys = [str(key % ROWS).encode() for key in range(6000)]
    client = RawClient(sidecar.process.pg_port)
    try:
        exchange(client, group(b"1"))
        sender = threading.Thread(
            target=client.send_raw, args=(b"".join(group(key) for key in keys),)
        )
        sender.start()
        time.sleep(0.5)  # the replies pile up in the server while nobody reads them
        replies = [client.read_until_ready() for _ in keys]
        sender.join()
    finally:
        client.close()
    assert [reply.rows()[0][0] for reply in replies] == keys


def test_a_parameter_past_the_statement_bound_is_refused_on_the_lane(sidecar: Sidecar) -> None:
    """Bound values count against runtime.max_statement_size on every path: a key lookup the
    lane would answer is refused as the general way refuses it."""
    client = RawClient(sidecar.process.pg_port)
    try:
        assert exchange(client, group(b"n1", sql=BY_NAME)).kinds.startswith("12T")
        before = sidecar.answered_at_once()
        refused = exchange(client, group(b"n" * 2 * STATEMENT_BOUND, sql=BY_NAME))
        assert [e["C"] for e in refused.errors()] == ["54001"], refused.kinds
        assert sidecar.answered_at_once() == before
        assert exchange(client, group(b"n1", sql=BY_NAME)).rows()
    finally:
        client.close()
