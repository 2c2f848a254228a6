"""Datasets in object storage, against real servers on 127.0.0.1: moto's S3, the GCS emulator
and Azurite.

moto records every request it serves, so these tests assert what the sidecar asked the store
for: objects under pruned partitions are never listed or requested, Parquet is read in byte
ranges (a footer, then column chunks), and a whole object is never fetched before the first
batch.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.feather as feather
import pytest
import yaml

from connectors import open_connector
from connectors.base import DatasetSource, ScanRequest, SourceError
from sidecar.engine import Engine
from tests.engines import loaded_engine, rows
from tests.leaks import exposed
from tests.peers import free_port
from tests.peers.iceberg import Iceberg
from tests.peers.objectstores import (  # noqa: F401
    Azurite,
    GcsEmulator,
    MotoS3,
    azurite,
    gcs,
    iceberg_s3,
    moto_s3,
)
from tests.process import SidecarProcess, settle

DAYS = ("2026-03-13", "2026-03-14", "2026-03-15")
REGIONS = ("eu", "us")
ROWS = 20_000


def events(day: str, region: str) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "amount": pa.array([i * 0.5 for i in range(ROWS)]),
            "note": pa.array([f"{day}/{region}/{i}" for i in range(ROWS)]),
        }
    )


@pytest.fixture(scope="module")
def lake(moto_s3: MotoS3) -> MotoS3:  # noqa: F811
    """Bucket `lake`: hive-partitioned Parquet, CSV and NDJSON logs, Arrow IPC, a JSON array."""
    moto_s3.bucket("lake")
    for day in DAYS:
        for region in REGIONS:
            moto_s3.put_parquet(
                f"lake/events/date={day}/region={region}/part-0.parquet",
                events(day, region),
                row_group_size=2_000,
            )
    moto_s3.put("lake/events/_SUCCESS", b"")
    buffer = io.BytesIO()
    pa_csv.write_csv(pa.table({"k": [1, 2], "v": ["a", "b"]}), buffer)
    moto_s3.put("lake/csv/a.csv", buffer.getvalue())
    moto_s3.put("lake/csv/b.csv", buffer.getvalue())
    for name, level in (("app/2026/a.ndjson", "info"), ("web/b.ndjson", "error")):
        moto_s3.put(f"lake/logs/{name}", json.dumps({"level": level, "n": 1}).encode() + b"\n")
    moto_s3.put("lake/logs/README.md", b"# not a log")
    ipc = io.BytesIO()
    feather.write_feather(pa.table({"k": [7, 8, 9]}), ipc)
    moto_s3.put("lake/one.arrow", ipc.getvalue())
    moto_s3.put("lake/array.json", b'[{"k": 1}, {"k": 2}]')
    moto_s3.put("lake/broken.parquet", b"this is not parquet")
    return moto_s3


def source(moto: MotoS3, location: str, **params: Any) -> DatasetSource:
    return DatasetSource("t", "s3", location, moto.params(**params), timeout=5.0)


def read(moto: MotoS3, location: str, **params: Any) -> pa.Table:
    return open_connector(source(moto, location, **params)).scan(ScanRequest()).read_all()


def engine(root: Path, datasets: list[dict[str, Any]]) -> Engine:
    return loaded_engine({"name": "lake", "datasets": datasets}, root)


@pytest.fixture
def sidecar(lake: MotoS3, tmp_path: Path) -> Iterator[Engine]:
    built = engine(
        tmp_path,
        [{"from": "s3://lake/events/", "name": "events", "params": lake.params()}],
    )
    yield built
    built.close()


class TestLocations:
    def test_a_single_object(self, lake: MotoS3) -> None:
        assert read(lake, "//lake/one.arrow").column("k").to_pylist() == [7, 8, 9]
        assert read(lake, "//lake/array.json").column("k").to_pylist() == [1, 2]

    def test_a_prefix(self, lake: MotoS3) -> None:
        table = read(lake, "//lake/csv/")
        assert table.num_rows == 4 and table.column_names == ["k", "v"]

    def test_a_glob_spans_folders(self, lake: MotoS3) -> None:
        table = read(lake, "//lake/logs/**/*.ndjson")
        assert sorted(table.column("level").to_pylist()) == ["error", "info"]

    def test_a_whole_bucket_folder_keeps_the_declared_format(self, lake: MotoS3) -> None:
        table = read(lake, "//lake/logs/", format="ndjson")
        assert table.num_rows == 2  # README.md is not a log


class TestPartitions:
    def test_hive_folders_become_typed_columns(self, lake: MotoS3) -> None:
        connector = open_connector(source(lake, "//lake/events/"))
        schema = connector.schema()
        assert schema.field("date").type == pa.date32()
        assert schema.field("region").type == pa.string()
        assert schema.names == ["id", "amount", "note", "date", "region"]

    def test_pruned_partitions_are_never_listed_or_read(
        self, lake: MotoS3, sidecar: Engine
    ) -> None:
        lake.record()
        got = rows(
            sidecar,
            "SELECT count(*) AS n, min(note) AS first FROM events "
            "WHERE date = '2026-03-14' AND region = 'eu'",
        )
        assert got == [{"n": ROWS, "first": "2026-03-14/eu/0"}]
        touched = [r.path + "?" + r.query for r in lake.requests()]
        assert any("date=2026-03-14/region=eu/part-0.parquet" in t for t in touched)
        # the kept partition's prefix was listed alone, never the dataset's whole prefix
        assert any("prefix=events/date=2026-03-14/region=eu/" in t for t in touched), touched
        assert not any(t.endswith("prefix=events/") for t in touched), touched
        for other in ("2026-03-13", "2026-03-15", "region=us"):
            assert not any(other in t for t in touched), (other, touched)

    def test_a_range_on_a_partition_prunes_before_reading(
        self, lake: MotoS3, sidecar: Engine
    ) -> None:
        lake.record()
        got = rows(sidecar, "SELECT count(*) AS n FROM events WHERE date > '2026-03-13'")
        assert got == [{"n": 4 * ROWS}]
        objects = {r.path for r in lake.requests() if r.method == "GET" and not r.query}
        assert objects and not any("2026-03-13" in path for path in objects)

    def test_explain_shows_the_objects_and_bytes_skipped(self, sidecar: Engine) -> None:
        text = sidecar.explain("SELECT id FROM events WHERE region = 'us' AND date = '2026-03-15'")
        assert re.search(
            r"objects=1 of 6 \(5 skipped by partition filters, [\d.]+ [KM]B of [\d.]+ [KM]B "
            r"skipped\)",
            text,
        ), text

    def test_row_group_statistics_skip_within_a_file(self, lake: MotoS3, sidecar: Engine) -> None:
        size = (
            lake.filesystem()
            .get_file_info("lake/events/date=2026-03-15/region=eu/part-0.parquet")
            .size
        )
        lake.record()
        got = rows(
            sidecar,
            "SELECT note FROM events WHERE date = '2026-03-15' AND region = 'eu' AND id = 999",
        )
        assert got == [{"note": "2026-03-15/eu/999"}]
        ranges = [r.range for r in lake.requests() if r.path.endswith("part-0.parquet")]
        assert ranges and all(r is not None for r in ranges)
        # the footer, then one row group's chunks: far less than the object
        fetched = sum(_length(r) for r in ranges if r is not None)
        assert fetched < size / 2


class TestStreaming:
    def test_the_first_batch_comes_before_the_object_is_read_whole(self, lake: MotoS3) -> None:
        big = pa.table({"id": pa.array(range(2_000_000), pa.int64())})
        size = lake.put_parquet(
            "lake/big/data.parquet", big, row_group_size=50_000, compression="none"
        )
        connector = open_connector(source(lake, "//lake/big/data.parquet"))
        connector.schema()
        lake.record()
        reader = connector.scan(ScanRequest(projection=["id"], limit=100_000))
        assert reader.read_next_batch().num_rows > 0
        ranges = [r.range for r in lake.requests() if r.path.endswith("data.parquet")]
        assert ranges and all(r is not None for r in ranges), ranges
        assert sum(_length(r) for r in ranges if r is not None) < size / 2
        reader.close()
        lake.record()
        assert connector.scan(ScanRequest(projection=["id"])).read_all().num_rows == 2_000_000
        ranges = [r.range for r in lake.requests() if r.path.endswith("data.parquet")]
        assert len(ranges) > 4 and all(_length(r) <= 4 << 20 for r in ranges if r), ranges

    def test_a_limit_stops_reading(self, lake: MotoS3, sidecar: Engine) -> None:
        lake.record()
        assert len(rows(sidecar, "SELECT id FROM events LIMIT 5")) == 5
        read = {r.path for r in lake.requests() if r.path.endswith(".parquet")}
        assert len(read) < len(DAYS) * len(REGIONS)


class TestListing:
    def test_listing_is_cached_between_queries(self, lake: MotoS3, sidecar: Engine) -> None:
        rows(sidecar, "SELECT count(*) FROM events")
        lake.record()
        rows(sidecar, "SELECT count(*) FROM events")
        assert not [r for r in lake.requests() if "list-type" in r.query]

    def test_a_refresh_lists_again(self, lake: MotoS3, tmp_path: Path) -> None:
        dataset = {
            "from": "s3://lake/fresh/",
            "name": "fresh",
            "params": lake.params(),
            "acceleration": {"enabled": True},
        }
        lake.put_parquet("lake/fresh/a.parquet", pa.table({"k": [1]}))
        built = engine(tmp_path, [dataset])
        try:
            assert rows(built, "SELECT count(*) AS n FROM fresh") == [{"n": 1}]
            lake.put_parquet("lake/fresh/b.parquet", pa.table({"k": [2]}))
            built.refresh("fresh")
            assert rows(built, "SELECT sum(k) AS n FROM fresh") == [{"n": 3}]
        finally:
            built.close()

    def test_too_many_objects_says_how_to_narrow(self, lake: MotoS3) -> None:
        with pytest.raises(SourceError) as caught:
            open_connector(source(lake, "//lake/events/**/*.parquet", max_objects=3)).schema()
        assert "holds more than 3 objects" in str(caught.value)
        assert "max_objects" in (caught.value.hint or "")


class TestAcceleration:
    def test_the_working_set_is_read_from_its_partitions_only(
        self, lake: MotoS3, tmp_path: Path
    ) -> None:
        dataset = {
            "from": "s3://lake/events/",
            "name": "events",
            "params": lake.params(),
            "acceleration": {
                "enabled": True,
                "refresh_sql": "SELECT * FROM events WHERE date = '2026-03-15'",
            },
        }
        lake.record()
        built = engine(tmp_path, [dataset])
        try:
            assert rows(built, "SELECT count(*) AS n, min(date) AS d FROM events") == [
                {"n": 2 * ROWS, "d": dt.date(2026, 3, 15)}
            ]
            assert "duckdb" in built.explain("SELECT count(*) FROM events").lower()
        finally:
            built.close()
        data = {r.path for r in lake.requests() if r.path.endswith("part-0.parquet")}
        assert data and all("date=2026-03-15" in path or "date=2026-03-13" in path for path in data)
        # 2026-03-13 is the first partition: its first object's footer gave the schema
        assert not any("date=2026-03-14" in path for path in data)


class TestIceberg:
    def test_a_table_whose_warehouse_is_on_s3(
        self,
        iceberg_s3: Iceberg,  # noqa: F811
        lake: MotoS3,
    ) -> None:
        iceberg_s3.write("sales.events", events(DAYS[1], "eu"))
        connector = open_connector(
            DatasetSource("t", "iceberg", "sales.events", iceberg_s3.params())
        )
        lake.record()
        request = ScanRequest(projection=["note"], filters=[_predicate("id >= 19998")])
        notes = connector.scan(request).read_all().column("note").to_pylist()
        assert sorted(notes) == ["2026-03-14/eu/19998", "2026-03-14/eu/19999"]
        read = [r for r in lake.requests() if r.path.startswith("/warehouse/sales")]
        assert any(r.path.endswith(".parquet") for r in read)

    def test_a_wrong_warehouse_secret_names_the_credential(
        self,
        iceberg_s3: Iceberg,  # noqa: F811
        lake: MotoS3,
    ) -> None:
        iceberg_s3.write("sales.refused", events(DAYS[0], "us"))
        params = iceberg_s3.params()
        params["catalog"] = params["catalog"] | {"s3.secret-access-key": "not-the-secret"}
        with pytest.raises(SourceError) as caught:
            open_connector(DatasetSource("t", "iceberg", "sales.refused", params)).schema()
        text = f"{caught.value} {caught.value.hint}"
        assert "storage refused the credential in params.catalog s3.access-key-id" in text
        assert "not-the-secret" not in text and "s3.secret-access-key" in text


class TestErrors:
    def test_a_wrong_secret_names_the_credential_and_bucket(self, lake: MotoS3) -> None:
        with pytest.raises(SourceError) as caught:
            read(lake, "//lake/csv/", secret_access_key="wrong-secret")
        text = f"{caught.value} {caught.value.hint}"
        assert "the access key in params.access_key_id" in text and "lake" in text
        assert "wrong-secret" not in text and lake.key_id not in text

    def test_a_credential_without_rights_is_denied(self, lake: MotoS3) -> None:
        with pytest.raises(SourceError) as caught:
            read(
                lake,
                "//lake/csv/",
                access_key_id=lake.denied_key_id,
                secret_access_key=lake.denied_secret,
            )
        assert "denied for the access key in params.access_key_id" in str(caught.value)
        assert lake.denied_key_id not in f"{caught.value} {caught.value.hint}"
        assert "bucket lake" in (caught.value.hint or "")
        assert "params.secret_access_key" in (caught.value.hint or "")
        assert lake.denied_secret not in f"{caught.value} {caught.value.hint}"

    def test_a_missing_bucket(self, lake: MotoS3) -> None:
        with pytest.raises(SourceError) as caught:
            read(lake, "//no-such-lake/events/")
        assert "bucket no-such-lake does not exist" in str(caught.value)

    def test_a_missing_prefix_names_what_is_there(self, lake: MotoS3) -> None:
        with pytest.raises(SourceError) as caught:
            read(lake, "//lake/event/")
        assert "s3://lake/event does not exist" in str(caught.value)
        assert "did you mean s3://lake/events?" in (caught.value.hint or "")

    def test_an_object_not_in_the_declared_format(self, lake: MotoS3) -> None:
        with pytest.raises(SourceError) as caught:
            read(lake, "//lake/broken.parquet")
        assert "cannot read s3://lake/broken.parquet as parquet" in str(caught.value)
        assert "params.format" in (caught.value.hint or "")

    def test_an_unreachable_endpoint(self, lake: MotoS3) -> None:
        with pytest.raises(SourceError) as caught:
            read(lake, "//lake/csv/", endpoint="http://127.0.0.1:1")
        assert "http://127.0.0.1:1" in str(caught.value)
        assert "params.endpoint" in (caught.value.hint or "")

    def test_a_dataset_on_a_failing_store_fails_alone(self, lake: MotoS3, tmp_path: Path) -> None:
        built = engine(
            tmp_path,
            [
                {"from": "s3://lake/csv/", "name": "good", "params": lake.params()},
                {"from": "s3://nowhere/x/", "name": "bad", "params": lake.params()},
            ],
        )
        try:
            assert rows(built, "SELECT count(*) AS n FROM good") == [{"n": 4}]
            with pytest.raises(Exception, match="bucket nowhere does not exist"):
                rows(built, "SELECT * FROM bad")
        finally:
            built.close()


def loaded(url: str, name: str) -> bool:
    """/v1/ready never says 200 here (one dataset's secret is wrong): each dataset's state."""
    datasets = httpx.get(f"{url}/v1/status", timeout=10).json()["datasets"]
    return any(d["name"] == name and d["state"] == "ready" for d in datasets)


def test_sidecar_run_reads_a_bucket_with_secrets_from_the_environment(
    lake: MotoS3, tmp_path: Path
) -> None:
    """Through the real process and HTTP API: keys given as ${env:...} secrets, a dataset
    whose secret is wrong reported on /v1/status without the secret, and a clean exit on
    Ctrl-C (pyarrow's S3 client is shut down at exit)."""
    params = {
        "endpoint": lake.endpoint,
        "region": "us-east-1",
        "access_key_id": "${env:LAKE_KEY_ID}",
        "secret_access_key": "${env:LAKE_SECRET}",
    }
    datasets = [
        {"from": "s3://lake/events/", "name": "events", "params": params},
        {
            "from": "s3://lake/csv/",
            "name": "refused",
            "params": params | {"secret_access_key": "${env:WRONG_SECRET}"},
        },
    ]
    port = free_port()
    config = tmp_path / "sidecar.yaml"
    runtime = {"http": {"host": "127.0.0.1", "port": port}}
    config.write_text(yaml.safe_dump({"name": "lake", "runtime": runtime, "datasets": datasets}))
    env = {"LAKE_KEY_ID": lake.key_id, "LAKE_SECRET": lake.secret, "WRONG_SECRET": "0pen-sesame"}
    sidecar = SidecarProcess(config, env)
    try:
        url = sidecar.start(port, probe="/v1/datasets")
        settle(lambda: loaded(url, "events"), "events")
        answer = httpx.post(
            f"{url}/v1/sql",
            content="SELECT region, count(*) AS n FROM events WHERE date = '2026-03-15' "
            "GROUP BY region ORDER BY region",
            headers={"Accept": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert [(r["region"], r["n"]) for r in answer.json()] == [
            ("eu", ROWS),
            ("us", ROWS),
        ]
        status = httpx.get(f"{url}/v1/status", timeout=10).text
        assert "denied for the access key in params.access_key_id" in status
        assert not exposed(status, "0pen-sesame", lake.secret, lake.key_id), status
        assert sidecar.process is not None
        sidecar.process.send_signal(signal.SIGINT)
        assert sidecar.process.wait(timeout=30) == 130, sidecar.output  # the CLI's Ctrl-C code
        assert "Traceback" not in sidecar.output
    finally:
        sidecar.stop()


class TestGcs:
    def test_a_dataset_and_a_missing_bucket(self, gcs: GcsEmulator) -> None:  # noqa: F811
        for day in DAYS[:2]:
            gcs.put_parquet(f"lake/events/date={day}/part-0.parquet", events(day, "eu"))
        connector = open_connector(DatasetSource("t", "gs", "//lake/events/", gcs.params()))
        assert connector.schema().field("date").type == pa.date32()
        request = ScanRequest(projection=["note"], filters=[_predicate("date = '2026-03-14'")])
        notes = connector.scan(request).read_all().column("note").to_pylist()
        assert len(notes) == ROWS and notes[0].startswith("2026-03-14/")
        missing = open_connector(DatasetSource("t", "gs", "//nolake/events/", gcs.params()))
        with pytest.raises(SourceError, match="bucket nolake does not exist"):
            missing.schema()


class TestAzure:
    def test_a_dataset_and_a_wrong_key(self, azurite: Azurite) -> None:  # noqa: F811
        azurite.put_parquet("lake/events/date=2026-03-14/part-0.parquet", events(DAYS[1], "eu"))
        location = "//lake@devstoreaccount1.dfs.core.windows.net/events/"
        connector = open_connector(DatasetSource("t", "abfss", location, azurite.params()))
        table = connector.scan(ScanRequest(projection=["id", "date"])).read_all()
        assert table.num_rows == ROWS
        assert table.column("date")[0].as_py().isoformat() == "2026-03-14"
        wrong = azurite.params(account_key="d3Jvbmcga2V5")
        with pytest.raises(SourceError) as caught:
            open_connector(DatasetSource("t", "az", "//lake/events/", wrong)).schema()
        assert "denied for the key of account devstoreaccount1" in str(caught.value)
        assert "d3Jvbmcga2V5" not in f"{caught.value} {caught.value.hint}"


def _length(header: str) -> int:
    start, _, end = header.removeprefix("bytes=").partition("-")
    return int(end) - int(start) + 1


def _predicate(sql: str) -> Any:
    import sqlglot
    from sqlglot import exp

    condition = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    for column in list(condition.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return condition.this
