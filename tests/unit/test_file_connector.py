"""`file:` datasets: every format, folders and globs, pushdown, streaming, and errors that help."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import os
from collections.abc import Generator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import sqlglot

import connectors
from connectors.base import DatasetSource, ScanRequest, SourceError, project
from connectors.batches import limit_batches, read_ahead
from connectors.file import FileConnector

ORDERS = pa.table(
    {
        "id": pa.array(range(1, 7), pa.int64()),
        "status": ["open", "paid", "paid", None, "open", "void"],
        "amount": [10.0, 250.0, 99.5, 120.0, None, 300.0],
    }
)


def connector(
    base: Path,
    location: str,
    params: dict[str, Any] | None = None,
    declared: pa.Schema | None = None,
) -> FileConnector:
    source = DatasetSource(
        name="t",
        scheme="file",
        location=location,
        params=params or {},
        declared_schema=declared,
        base_dir=base,
    )
    return FileConnector(source)


def read(
    conn: FileConnector,
    projection: list[str] | None = None,
    filters: tuple[str, ...] = (),
    limit: int | None = None,
) -> pa.Table:
    request = ScanRequest(
        projection=projection, filters=[sqlglot.parse_one(f) for f in filters], limit=limit
    )
    reader = conn.scan(request)
    assert reader.schema.equals(project(conn.schema(), projection), check_metadata=True)
    return reader.read_all()


def write_ndjson(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def write_csv(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


ORDERS_CSV = (
    "id,status,amount\n1,open,10.0\n2,paid,250.0\n3,paid,99.5\n4,,120.0\n5,open,\n6,void,300\n"
)


def test_registered_for_the_file_scheme() -> None:
    assert connectors.connector_class("file") is FileConnector
    assert FileConnector.schemes == ("file", "s3", "gs", "az", "abfs", "abfss")
    for scheme in FileConnector.schemes:
        assert connectors.connector_class(scheme) is FileConnector


class TestFormats:
    def test_parquet(self, tmp_path: Path) -> None:
        pq.write_table(ORDERS, tmp_path / "orders.parquet")
        conn = connector(tmp_path, "orders.parquet")
        assert conn.schema() == ORDERS.schema
        assert read(conn).equals(ORDERS)

    @pytest.mark.parametrize("name", ["orders.arrow", "orders.feather"])
    def test_arrow_ipc_files(self, tmp_path: Path, name: str) -> None:
        feather.write_feather(ORDERS, tmp_path / name, chunksize=2)
        conn = connector(tmp_path, name)
        assert conn.schema() == ORDERS.schema
        assert read(conn).equals(ORDERS)
        pushed = conn.scan(ScanRequest(["id"], [sqlglot.parse_one('"amount" > 100')], 1))
        assert pushed.read_all().to_pylist() == [{"id": 2}]

    def test_csv(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "orders.csv", ORDERS_CSV)
        table = read(connector(tmp_path, "orders.csv"))
        assert table.column_names == ["id", "status", "amount"]
        assert table["id"].to_pylist() == [1, 2, 3, 4, 5, 6]
        assert table["amount"].to_pylist() == [10.0, 250.0, 99.5, 120.0, None, 300.0]

    def test_csv_params(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "raw.csv", "1;NA;x\n2;5;-\n")
        declared = pa.schema([("id", pa.int64()), ("score", pa.int64()), ("tag", pa.string())])
        params = {"delimiter": ";", "has_header": False, "null_values": ["NA", "-"]}
        table = read(connector(tmp_path, "raw.csv", params, declared))
        assert table.to_pylist() == [
            {"id": 1, "score": None, "tag": "x"},
            {"id": 2, "score": 5, "tag": None},
        ]

    def test_headerless_csv_without_declared_columns_gets_generated_names(
        self, tmp_path: Path
    ) -> None:
        write_csv(tmp_path / "raw.csv", "1,a\n2,b\n")
        conn = connector(tmp_path, "raw.csv", {"has_header": False})
        assert conn.schema().names == ["f0", "f1"]

    def test_compressed_csv(self, tmp_path: Path) -> None:
        (tmp_path / "orders.csv.gz").write_bytes(gzip.compress(ORDERS_CSV.encode()))
        assert read(connector(tmp_path, "orders.csv.gz")).num_rows == 6

    @pytest.mark.parametrize("name", ["big.csv", "big.ndjson"])
    def test_types_are_inferred_from_the_first_block_as_arrow_does(
        self, tmp_path: Path, name: str
    ) -> None:
        # past the first MiB the rows change type: Arrow infers from the first block only,
        # and a row cut at the block's end is left out rather than misread
        rows = [{"id": i, "at": "2026-03-14 10:00:00", "note": f"n{i}"} for i in range(40_000)]
        rows += [{"id": "late text", "at": "not a time", "note": "x"}] * 10
        if name.endswith(".csv"):
            write_csv(
                tmp_path / name,
                "id,at,note\n" + "".join(f"{r['id']},{r['at']},{r['note']}\n" for r in rows),
            )
        else:
            write_ndjson(tmp_path / name, rows)
        assert (tmp_path / name).stat().st_size > 1 << 20
        arrow = ds.dataset(tmp_path / name, format=name.split(".")[1].replace("nd", ""))
        assert connector(tmp_path, name).schema() == arrow.schema
        assert arrow.schema.field("id").type == pa.int64()

    @pytest.mark.parametrize("name", ["events.ndjson", "events.jsonl", "events.json"])
    def test_newline_delimited_json(self, tmp_path: Path, name: str) -> None:
        write_ndjson(tmp_path / name, [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}])
        table = read(connector(tmp_path, name))
        assert table.to_pylist() == [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}]

    def test_json_array(self, tmp_path: Path) -> None:
        rows = [{"id": 1, "tags": {"a": 1}}, {"id": 2, "extra": "late key"}]
        (tmp_path / "items.json").write_text("\n  " + json.dumps(rows, indent=2))
        conn = connector(tmp_path, "items.json")
        assert conn.schema().names == ["id", "tags", "extra"]
        table = read(conn, filters=("id > 1",))
        assert table.to_pylist() == [{"id": 2, "tags": None, "extra": "late key"}]

    def test_pretty_printed_json_objects(self, tmp_path: Path) -> None:
        text = json.dumps({"id": 1, "note": "a"}, indent=2) + "\n" + json.dumps({"id": 2}, indent=2)
        (tmp_path / "objects.json").write_text(text)
        assert read(connector(tmp_path, "objects.json"))["id"].to_pylist() == [1, 2]

    def test_folder_mixing_json_arrays_and_ndjson(self, tmp_path: Path) -> None:
        (tmp_path / "a.json").write_text(json.dumps([{"id": 1}, {"id": 2}]))
        write_ndjson(tmp_path / "b.ndjson", [{"id": 3}])
        write_ndjson(tmp_path / "c.json", [{"id": 4}])
        table = read(connector(tmp_path, "."))
        assert sorted(table["id"].to_pylist()) == [1, 2, 3, 4]

    def test_format_param_overrides_the_extension(self, tmp_path: Path) -> None:
        write_ndjson(tmp_path / "logs" / "app.log", [{"level": "info"}, {"level": "error"}])
        (tmp_path / "logs" / "README.md").write_text("# Logs")
        conn = connector(tmp_path, "logs", {"format": "ndjson"})
        assert read(conn, filters=("level = 'error'",)).to_pylist() == [{"level": "error"}]


class TestLocations:
    def test_directory_skips_hidden_and_marker_files(self, tmp_path: Path) -> None:
        folder = tmp_path / "orders"
        folder.mkdir()
        pq.write_table(ORDERS.slice(0, 3), folder / "part-0.parquet")
        pq.write_table(ORDERS.slice(3), folder / "part-1.parquet")
        (folder / "_SUCCESS").write_text("")
        (folder / ".part-0.parquet.crc").write_text("junk")
        conn = connector(tmp_path, "orders")
        assert read(conn)["id"].to_pylist() == [1, 2, 3, 4, 5, 6]
        assert conn.row_count() == 6

    def test_directory_picks_the_one_format_present(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "data" / "a.csv", "x\n1\n")
        write_csv(tmp_path / "data" / "b.csv", "x\n2\n")
        (tmp_path / "data" / "NOTES").write_text("not data")
        assert read(connector(tmp_path, "data"))["x"].to_pylist() == [1, 2]

    def test_glob(self, tmp_path: Path) -> None:
        for n in range(3):
            pq.write_table(ORDERS.slice(n * 2, 2), tmp_path / f"orders-{n}.parquet")
        write_csv(tmp_path / "other.csv", "x\n1\n")
        assert read(connector(tmp_path, "orders-*.parquet")).num_rows == 6

    def test_recursive_glob(self, tmp_path: Path) -> None:
        write_ndjson(tmp_path / "logs" / "a.ndjson", [{"n": 1}])
        write_ndjson(tmp_path / "logs" / "2024" / "01" / "b.ndjson", [{"n": 2}])
        write_ndjson(tmp_path / "logs" / "2024" / "c.json", [{"n": 3}])
        table = read(connector(tmp_path, "logs/**/*.ndjson"))
        assert sorted(table["n"].to_pylist()) == [1, 2]

    def test_absolute_path(self, tmp_path: Path) -> None:
        pq.write_table(ORDERS, tmp_path / "orders.parquet")
        conn = connector(Path("/"), str(tmp_path / "orders.parquet"))
        assert read(conn).num_rows == 6

    def test_files_added_after_startup_are_read(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "data" / "a.csv", "x\n1\n")
        conn = connector(tmp_path, "data/*.csv")
        assert read(conn).num_rows == 1
        write_csv(tmp_path / "data" / "b.csv", "x\n2\n")
        assert read(conn).num_rows == 2


class TestDocuments:
    @pytest.fixture
    def notes(self, tmp_path: Path) -> Path:
        folder = tmp_path / "notes"
        (folder / "guides").mkdir(parents=True)
        (folder / "intro.md").write_text(
            "Some preamble\n```bash\n# not a title\n```\n# Getting started #\n\nWelcome.\n"
        )
        (folder / "guides" / "deploy.markdown").write_text("## Deploying\nNo top heading.")
        (folder / "todo.txt").write_text("# plain text keeps its name")
        (folder / "image.png").write_bytes(b"\x89PNG")
        return tmp_path

    def test_a_folder_becomes_a_documents_table(self, notes: Path) -> None:
        conn = connector(notes, "notes")
        assert conn.schema().names == ["path", "title", "content", "modified_at"]
        assert conn.schema().field("modified_at").type == pa.timestamp("us", tz="UTC")
        table = read(conn, projection=["path", "title"])
        assert table.to_pylist() == [
            {"path": "guides/deploy.markdown", "title": "deploy"},
            {"path": "intro.md", "title": "Getting started"},
            {"path": "todo.txt", "title": "todo"},
        ]
        assert conn.row_count() == 3

    def test_text_files_are_titled_by_name(self, notes: Path) -> None:
        table = read(connector(notes, "notes/*.txt"), projection=["path", "title", "content"])
        assert table.to_pylist() == [
            {"path": "todo.txt", "title": "todo", "content": "# plain text keeps its name"}
        ]

    def test_modified_at_is_the_file_time(self, notes: Path) -> None:
        stamp = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC).timestamp()
        os.utime(notes / "notes" / "intro.md", (stamp, stamp))
        conn = connector(notes, "notes/intro.md")
        table = read(conn, filters=("modified_at < '2024-06-01'",))
        assert table["path"].to_pylist() == ["intro.md"]
        assert table["modified_at"][0].as_py() == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)

    def test_path_filters_skip_reading_other_files(self, notes: Path) -> None:
        opened: list[str] = []
        conn = connector(notes, "notes")
        filesystem = conn.store.filesystem

        class Spy:
            def open_input_stream(self, path: str) -> Any:
                opened.append(path.rsplit("/", 1)[-1])
                return filesystem.open_input_stream(path)

        conn.store = dataclasses.replace(conn.store, filesystem=Spy())
        table = read(conn, ["title"], filters=("path = 'intro.md'",))
        assert table.to_pylist() == [{"title": "Getting started"}]
        assert opened == ["intro.md"]

    def test_content_filters_apply_after_reading(self, notes: Path) -> None:
        table = read(connector(notes, "notes"), ["path"], filters=("content ILIKE '%welcome%'",))
        assert table["path"].to_pylist() == ["intro.md"]

    def test_many_documents_stream_in_batches(self, tmp_path: Path) -> None:
        for n in range(150):
            (tmp_path / f"doc-{n:03}.md").write_text(f"# Doc {n}\n")
        reader = connector(tmp_path, "*.md").scan(ScanRequest(projection=["title"]))
        sizes = [batch.num_rows for batch in reader]
        assert len(sizes) > 1
        assert sum(sizes) == 150

    def test_undecodable_bytes_do_not_fail_the_scan(self, tmp_path: Path) -> None:
        (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
        table = read(connector(tmp_path, "latin1.txt"), ["content"])
        assert table["content"][0].as_py() == "caf\ufffd"


class TestPushdown:
    @pytest.fixture
    def orders(self, tmp_path: Path) -> FileConnector:
        pq.write_table(ORDERS, tmp_path / "orders.parquet")
        return connector(tmp_path, "orders.parquet")

    def test_projection_keeps_the_requested_order(self, orders: FileConnector) -> None:
        table = read(orders, projection=["amount", "id"])
        assert table.column_names == ["amount", "id"]
        assert table["id"].to_pylist() == [1, 2, 3, 4, 5, 6]

    def test_empty_projection_still_counts_rows(self, orders: FileConnector) -> None:
        table = read(orders, projection=[])
        assert table.num_columns == 0
        assert table.num_rows == 6

    def test_unknown_projected_column(self, orders: FileConnector) -> None:
        with pytest.raises(SourceError, match="no column 'nope'") as error:
            orders.scan(ScanRequest(projection=["nope"]))
        assert "id, status, amount" in (error.value.hint or "")

    def test_accepts_exactly_what_it_can_translate(self, orders: FileConnector) -> None:
        def accepts(sql: str) -> bool:
            return orders.accepts_filter(sqlglot.parse_one(sql))

        assert accepts("amount > 100")
        assert accepts("status IN ('open', 'void') OR amount IS NULL")
        assert accepts("NOT (status LIKE 'p%')")
        assert not accepts("lower(status) = 'open'")
        assert not accepts("amount > id")
        assert not accepts("status = 5")
        assert not accepts("missing = 1")

    def test_filters_are_applied(self, orders: FileConnector) -> None:
        table = read(orders, ["id"], filters=("amount > 100", "status <> 'void'"))
        assert table["id"].to_pylist() == [2]

    def test_filter_on_an_unprojected_column(self, orders: FileConnector) -> None:
        table = read(orders, ["id"], filters=("status NOT IN ('open', 'paid')",))
        assert table.to_pylist() == [{"id": 6}]

    def test_an_untranslatable_filter_is_refused_not_ignored(self, orders: FileConnector) -> None:
        with pytest.raises(SourceError, match="cannot apply the filter"):
            orders.scan(ScanRequest(filters=[sqlglot.parse_one("lower(status) = 'x'")]))

    def test_filters_on_csv_strings_parse_as_the_column_type(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "events.csv", "at,n\n2024-01-01T10:00:00Z,1\n2024-03-01T00:00:00Z,2\n")
        declared = pa.schema([("at", pa.timestamp("us", tz="UTC")), ("n", pa.int64())])
        conn = connector(tmp_path, "events.csv", declared=declared)
        assert read(conn, ["n"], filters=("at >= '2024-02-01'",))["n"].to_pylist() == [2]

    def test_describe(self, orders: FileConnector) -> None:
        request = ScanRequest(
            projection=["id", "amount"], filters=[sqlglot.parse_one("amount > 100")], limit=10
        )
        assert (
            orders.describe(request)
            == "parquet orders.parquet columns=[id, amount] filter=(amount > 100) limit=10"
        )
        assert orders.describe(ScanRequest()) == "parquet orders.parquet columns=*"


class TestStreamingAndLimit:
    @pytest.fixture
    def big(self, tmp_path: Path) -> FileConnector:
        table = pa.table({"n": pa.array(range(100_000), pa.int64())})
        pq.write_table(table, tmp_path / "big.parquet", row_group_size=10_000)
        return connector(tmp_path, "big.parquet")

    def test_a_multi_row_group_file_streams_in_several_batches(self, big: FileConnector) -> None:
        reader = big.scan(ScanRequest())
        sizes = [batch.num_rows for batch in reader]
        assert len(sizes) >= 10
        assert max(sizes) <= 10_000
        assert sum(sizes) == 100_000

    def test_limit_cuts_the_stream(self, big: FileConnector) -> None:
        reader = big.scan(ScanRequest(limit=15))
        batches = list(reader)
        assert sum(batch.num_rows for batch in batches) == 15
        assert len(batches) == 1

    def test_a_limited_scan_pulls_only_what_it_needs(
        self, big: FileConnector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pulled: list[int] = []
        guarded = FileConnector._guarded

        def counting(self: FileConnector, batches: Iterator[pa.RecordBatch]) -> Iterator[Any]:
            for batch in guarded(self, batches):
                pulled.append(batch.num_rows)
                yield batch

        monkeypatch.setattr(FileConnector, "_guarded", counting)
        assert sum(b.num_rows for b in big.scan(ScanRequest(limit=15))) == 15
        assert pulled == [15]
        pulled.clear()
        assert sum(b.num_rows for b in big.scan(ScanRequest())) == 100_000
        assert len(pulled) >= 10

    def test_limit_with_a_filter(self, big: FileConnector) -> None:
        table = read(big, filters=("n >= 50000",), limit=3)
        assert table["n"].to_pylist() == [50_000, 50_001, 50_002]

    def test_limit_across_many_files(self, tmp_path: Path) -> None:
        for n in range(40):
            pq.write_table(
                pa.table({"n": [n * 10 + i for i in range(10)]}), tmp_path / f"{n:02}.pq"
            )
        reader = connector(tmp_path, ".").scan(ScanRequest(limit=25))
        batches = list(reader)
        assert sum(batch.num_rows for batch in batches) == 25
        assert len(batches) <= 3

    def test_limit_zero(self, big: FileConnector) -> None:
        assert read(big, limit=0).num_rows == 0

    def test_limit_batches_stops_pulling_and_closes_the_source(self) -> None:
        pulled: list[int] = []
        closed: list[bool] = []

        def source() -> Iterator[pa.RecordBatch]:
            try:
                for n in range(100):
                    pulled.append(n)
                    yield pa.record_batch({"n": [n] * 10})
            finally:
                closed.append(True)

        sizes = [batch.num_rows for batch in limit_batches(source(), 25)]
        assert sizes == [10, 10, 5]
        assert pulled == [0, 1, 2]
        assert closed == [True]

    def test_read_ahead_keeps_order_pulls_one_batch_ahead_and_closes_the_source(self) -> None:
        pulled: list[int] = []
        closed: list[bool] = []

        def source() -> Generator[pa.RecordBatch]:
            try:
                for n in range(100):
                    pulled.append(n)
                    yield pa.record_batch({"n": [n]})
            finally:
                closed.append(True)

        stream = read_ahead(source())
        assert [next(stream).column(0)[0].as_py() for _ in range(3)] == [0, 1, 2]
        stream.close()
        assert pulled == [0, 1, 2, 3]  # the one batch ahead, no more
        assert closed == [True]
        assert [b.column(0)[0].as_py() for b in read_ahead(source())] == list(range(100))

    def test_read_ahead_raises_the_sources_error_in_the_consumer(self) -> None:
        def failing() -> Generator[pa.RecordBatch]:
            yield pa.record_batch({"n": [1]})
            raise OSError("disk gone")

        stream = read_ahead(failing())
        assert next(stream).num_rows == 1
        with pytest.raises(OSError, match="disk gone"):
            next(stream)

    def test_limit_batches_without_a_limit_passes_everything(self) -> None:
        batches = [
            pa.record_batch({"n": [1, 2]}),
            pa.record_batch({"n": []}),
            pa.record_batch({"n": [3]}),
        ]
        assert [b.num_rows for b in limit_batches(iter(batches), None)] == [2, 1]


class TestDeclaredSchema:
    def test_declared_types_win(self, tmp_path: Path) -> None:
        physical = pa.table(
            {
                "id": pa.array([1, 2], pa.int32()),
                "at": ["2024-01-01 10:00:00", "2024-02-01 00:00:00"],
                "price": [1.25, 2.5],
                "unused": ["x", "y"],
            }
        )
        pq.write_table(physical, tmp_path / "p.parquet")
        declared = pa.schema(
            [
                ("at", pa.timestamp("us")),
                ("id", pa.int64()),
                ("price", pa.decimal128(10, 2)),
            ]
        )
        conn = connector(tmp_path, "p.parquet", declared=declared)
        assert conn.schema() == declared
        table = read(conn, filters=("price > 2",))
        assert table.schema == declared
        assert table.to_pylist() == [
            {
                "at": dt.datetime(2024, 2, 1),
                "id": 2,
                "price": Decimal("2.50"),
            }
        ]

    def test_declared_schema_casts_json_arrays(self, tmp_path: Path) -> None:
        (tmp_path / "a.json").write_text(json.dumps([{"n": 1, "d": "2024-01-02"}]))
        declared = pa.schema([("n", pa.float64()), ("d", pa.date32())])
        table = read(connector(tmp_path, "a.json", declared=declared))
        assert table.to_pylist() == [{"n": 1.0, "d": dt.date(2024, 1, 2)}]

    def test_declared_schema_narrows_documents(self, tmp_path: Path) -> None:
        (tmp_path / "a.md").write_text("# A")
        declared = pa.schema([("path", pa.large_string()), ("title", pa.string())])
        table = read(connector(tmp_path, "a.md", declared=declared), filters=("path = 'a.md'",))
        assert table.schema == declared
        assert table.to_pylist() == [{"path": "a.md", "title": "A"}]

    def test_a_declared_column_missing_from_the_file(self, tmp_path: Path) -> None:
        pq.write_table(ORDERS, tmp_path / "orders.parquet")
        declared = pa.schema([("id", pa.int64()), ("total", pa.float64())])
        conn = connector(tmp_path, "orders.parquet", declared=declared)
        with pytest.raises(SourceError, match=r"'total' is declared but orders\.parquet") as error:
            conn.schema()
        assert error.value.hint == "its columns are: id, status, amount"

    def test_a_declared_type_that_cannot_be_cast(self, tmp_path: Path) -> None:
        pq.write_table(ORDERS, tmp_path / "orders.parquet")
        declared = pa.schema([("id", pa.list_(pa.int64()))])
        with pytest.raises(SourceError, match="'id' is declared list<item: int64> but is int64"):
            connector(tmp_path, "orders.parquet", declared=declared).schema()

    def test_values_that_do_not_fit_fail_as_a_source_error(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "a.csv", "n\n1\nlots\n")
        conn = connector(tmp_path, "a.csv", declared=pa.schema([("n", pa.int64())]))
        with pytest.raises(SourceError, match=r"reading a\.csv failed"):
            read(conn)

    def test_file_metadata_does_not_leak_into_the_schema(self, tmp_path: Path) -> None:
        table = ORDERS.replace_schema_metadata({"pandas": "{}"})
        pq.write_table(table, tmp_path / "orders.parquet")
        conn = connector(tmp_path, "orders.parquet")
        assert conn.schema().metadata is None
        assert read(conn, ["id"]).num_rows == 6


class TestErrors:
    def test_a_missing_file_suggests_the_closest_name(self, tmp_path: Path) -> None:
        (tmp_path / "data").mkdir()
        pq.write_table(ORDERS, tmp_path / "data" / "orders.parquet")
        (tmp_path / "data" / "b.json").write_text("[]")
        with pytest.raises(SourceError, match=r"^data/order\.parquet does not exist$") as error:
            connector(tmp_path, "data/order.parquet").schema()
        assert error.value.hint == (
            "did you mean data/orders.parquet? files in data/: b.json, orders.parquet"
        )

    def test_a_missing_folder_lists_what_is_there(self, tmp_path: Path) -> None:
        (tmp_path / "data").mkdir()
        with pytest.raises(SourceError, match="does not exist") as error:
            connector(tmp_path, "dta/x.csv").schema()
        assert "did you mean" not in (error.value.hint or "")
        assert "data/" in (error.value.hint or "")

    def test_a_glob_that_matches_nothing(self, tmp_path: Path) -> None:
        (tmp_path / "data").mkdir()
        pq.write_table(ORDERS, tmp_path / "data" / "a.parquet")
        (tmp_path / "data" / "b.json").write_text("[]")
        with pytest.raises(SourceError, match=r"^no files match data/\*\.csv$") as error:
            connector(tmp_path, "data/*.csv").schema()
        assert error.value.hint == "files in data/: a.parquet, b.json"

    def test_an_empty_folder(self, tmp_path: Path) -> None:
        (tmp_path / "empty").mkdir()
        with pytest.raises(SourceError, match="empty/ has no files"):
            connector(tmp_path, "empty").schema()

    def test_an_unknown_extension(self, tmp_path: Path) -> None:
        (tmp_path / "data.xyz").write_text("?")
        with pytest.raises(SourceError, match=r"cannot tell the format of data\.xyz") as error:
            connector(tmp_path, "data.xyz").schema()
        assert "params.format" in (error.value.hint or "")

    def test_a_folder_of_mixed_formats(self, tmp_path: Path) -> None:
        pq.write_table(ORDERS, tmp_path / "a.parquet")
        write_csv(tmp_path / "b.csv", "x\n1\n")
        with pytest.raises(SourceError, match="mixes csv, parquet files") as error:
            connector(tmp_path, ".").schema()
        assert "params.format" in (error.value.hint or "")

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            (
                {"delim": ";"},
                "params.delim: unknown file param; did you mean 'delimiter'?",
            ),
            (
                {"format": "xls"},
                "params.format: must be one of 'parquet', 'arrow', 'csv', 'json', 'ndjson', "
                "'markdown' or 'text', not 'xls'",
            ),
            (
                {"delimiter": ";;"},
                "params.delimiter: must be one character, e.g. ',', ';' or '\\t'",
            ),
            ({"has_header": "yes"}, "params.has_header: must be true or false"),
            ({"null_values": "NA"}, "params.null_values: must be a list"),
            ({"max_objects": 0}, "params.max_objects: must be >= 1, not 0"),
            (
                {"listing_ttl": "soon"},
                "params.listing_ttl: 'soon' is not a duration; write e.g. 500ms, 30s, 5m, 1h or 7d",
            ),
        ],
    )
    def test_bad_params_fail_at_construction(
        self, tmp_path: Path, params: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(SourceError) as error:
            connector(tmp_path, "x.csv", params)
        assert str(error.value) == message

    def test_unknown_params_list_the_known_ones(self, tmp_path: Path) -> None:
        with pytest.raises(SourceError) as error:
            connector(tmp_path, "x.csv", {"compression": "gzip"})
        assert error.value.hint == (
            "known params: format, delimiter, has_header, null_values, hive_partitioning, "
            "listing_ttl, max_objects"
        )

    def test_csv_params_on_another_format(self, tmp_path: Path) -> None:
        pq.write_table(ORDERS, tmp_path / "orders.parquet")
        with pytest.raises(SourceError, match="delimiter applies to csv files only"):
            connector(tmp_path, "orders.parquet", {"delimiter": ";"}).schema()

    def test_a_corrupt_file(self, tmp_path: Path) -> None:
        (tmp_path / "bad.parquet").write_text("not parquet at all")
        with pytest.raises(SourceError, match=r"^cannot read bad\.parquet as parquet") as error:
            connector(tmp_path, "bad.parquet").schema()
        assert "valid parquet file" in (error.value.hint or "")
        assert str(tmp_path) not in str(error.value)

    def test_a_corrupt_file_found_mid_scan(self, tmp_path: Path) -> None:
        pq.write_table(ORDERS, tmp_path / "a.parquet")
        (tmp_path / "b.parquet").write_text("not parquet at all")
        conn = connector(tmp_path, "*.parquet")
        with pytest.raises(SourceError, match=r"reading \*\.parquet failed") as error:
            conn.scan(ScanRequest()).read_all()
        assert str(tmp_path) not in str(error.value)

    def test_invalid_json(self, tmp_path: Path) -> None:
        (tmp_path / "a.json").write_text("[{'single': 'quotes'}]")
        with pytest.raises(SourceError, match=r"cannot read a\.json as json"):
            connector(tmp_path, "a.json").schema()

    def test_a_broken_json_array_found_mid_scan(self, tmp_path: Path) -> None:
        (tmp_path / "a.json").write_text(json.dumps([{"id": 1}]))
        (tmp_path / "b.json").write_text('[{"id": ')
        conn = connector(tmp_path, "*.json")
        with pytest.raises(SourceError, match=r"cannot read b\.json as json") as error:
            conn.scan(ScanRequest()).read_all()
        assert "valid json file" in (error.value.hint or "")

    def test_a_json_array_of_non_objects(self, tmp_path: Path) -> None:
        (tmp_path / "a.json").write_text("[1, 2, 3]")
        with pytest.raises(SourceError, match="must hold objects"):
            connector(tmp_path, "a.json").schema()

    def test_row_count_is_unknown_for_text_formats(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "a.csv", ORDERS_CSV)
        assert connector(tmp_path, "a.csv").row_count() is None
        assert connector(tmp_path, "missing.parquet").row_count() is None
