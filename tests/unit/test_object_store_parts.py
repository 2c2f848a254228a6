"""The pieces under object-store datasets that need no server: locations and params, how a
store's refusals are worded, hive partitions, and the pruned walk (on local folders, which
take the same code path as buckets)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import sqlglot

from connectors.base import DatasetSource, ScanRequest, SourceError
from connectors.file import FileConnector, _glob_regex
from connectors.listing import Listing
from connectors.partitions import Partitions, hive_segment, infer_fields, walk
from connectors.stores import Store, open_store


def s3(location: str, **params: object) -> DatasetSource:
    return DatasetSource("t", "s3", location, params)


class TestLocations:
    def test_a_bucket_and_key(self) -> None:
        store, path = open_store(s3("//lake/events/", region="eu-west-1"))
        assert path == "lake/events/" and store.display("lake/events/x") == "s3://lake/events/x"
        assert "default AWS credential chain" in store.credential

    def test_an_abfss_url_names_its_account(self) -> None:
        location = "//sales@acme.dfs.core.windows.net/2026/"
        store, path = open_store(DatasetSource("t", "abfss", location, {"sas_token": "sv=x"}))
        assert path == "sales/2026/" and "account acme" in store.credential

    def test_az_needs_an_account(self) -> None:
        with pytest.raises(SourceError) as caught:
            open_store(DatasetSource("t", "az", "//sales/2026/", {}))
        assert "params.account_name" in (caught.value.hint or "")

    def test_a_key_without_its_secret(self) -> None:
        with pytest.raises(SourceError, match=r"without params\.secret_access_key"):
            open_store(s3("//lake/x", access_key_id="AKIA1"))

    def test_an_endpoint_must_be_a_url(self) -> None:
        with pytest.raises(SourceError, match="is not a URL"):
            open_store(s3("//lake/x", endpoint="ftp://minio"))

    def test_unknown_params_name_the_store_ones(self) -> None:
        with pytest.raises(SourceError) as caught:
            FileConnector(s3("//lake/x.parquet", regoin="eu-west-1"))
        assert str(caught.value) == "params.regoin: unknown s3 param; did you mean 'region'?"
        assert "session_token, role_arn, anonymous" in (caught.value.hint or "")


class TestRefusals:
    store = Store(pafs.LocalFileSystem(), "s3", "access key AKIA1 (params.access_key_id)")

    def test_a_missing_bucket(self) -> None:
        error = OSError("Bucket 'nolake' not found. AWS Error NO_SUCH_BUCKET during HeadBucket")
        assert "bucket nolake does not exist" in str(self.store.error(error, "nolake/x"))

    def test_a_wrong_region(self) -> None:
        error = OSError("AWS Error UNKNOWN (HTTP status 301) during HeadObject operation")
        refusal = self.store.error(error, "lake/x")
        assert "not in the region" in str(refusal) and "params.region" in (refusal.hint or "")

    def test_an_unknown_key(self) -> None:
        error = OSError("AWS Error [code 23]: InvalidAccessKeyId during ListObjectsV2")
        assert "does not know access key AKIA1" in str(self.store.error(error, "lake/x"))

    def test_an_endpoint_that_does_not_answer(self) -> None:
        error = OSError("AWS Error NETWORK_CONNECTION during HeadObject: Couldn't connect")
        refusal = self.store.error(error, "lake/x")
        assert "cannot reach" in str(refusal) and "params.endpoint" in (refusal.hint or "")


class TestPartitions:
    def test_segments_are_decoded(self) -> None:
        assert hive_segment("ts=2026-03-14%2010%3A00") == ("ts", "2026-03-14 10:00")
        assert hive_segment("region=__HIVE_DEFAULT_PARTITION__") == ("region", None)
        assert hive_segment("part-0.parquet") is None

    def test_types_come_from_every_value(self) -> None:
        samples = [
            {"year": "2026", "day": "2026-03-14", "month": "03"},
            {"year": "2025", "day": "2026-02-30", "month": "12"},
        ]
        fields = {f.name: f.type for f in infer_fields(samples, ["id"])}
        assert fields == {"year": pa.int64(), "day": pa.string(), "month": pa.string()}

    def test_a_filter_decides_on_known_values_only(self) -> None:
        fields = [pa.field("date", pa.date32()), pa.field("region", pa.string())]
        filters = [sqlglot.parse_one("date >= '2026-03-14'"), sqlglot.parse_one("region = 'eu'")]
        partitions = Partitions(fields, filters, "lake")
        assert partitions.keep({"date": "2026-03-14"})
        assert not partitions.keep({"date": "2026-03-13"})
        assert partitions.pending({"date": "2026-03-14"})
        assert not partitions.keep({"date": "2026-03-14", "region": None})

    def test_a_value_of_another_type_says_what_to_declare(self) -> None:
        partitions = Partitions([pa.field("day", pa.date32())], [], "s3://lake/events")
        with pytest.raises(SourceError) as caught:
            partitions.typed("day", "latest")
        assert "declare column day as text" in (caught.value.hint or "")


class Spy(Listing):
    """A listing that remembers which folders it was asked to list."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, ttl=0, max_objects=1000)
        self.listed: list[str] = []

    def children(self, folder: str) -> tuple[list, list[str]]:  # type: ignore[type-arg]
        self.listed.append(folder)
        return super().children(folder)

    def subtree(self, folder: str) -> list:  # type: ignore[type-arg]
        self.listed.append(folder + "/**")
        return super().subtree(folder)


@pytest.fixture
def partitioned(tmp_path: Path) -> Path:
    for day in ("2026-03-13", "2026-03-14"):
        for region in ("eu", "us"):
            folder = tmp_path / "events" / f"date={day}" / f"region={region}"
            folder.mkdir(parents=True)
            pq.write_table(pa.table({"n": [1, 2]}), folder / "part-0.parquet")
    (tmp_path / "events" / "_SUCCESS").touch()
    return tmp_path


class TestWalk:
    def test_pruned_folders_are_never_listed(self, partitioned: Path) -> None:
        listing = Spy(Store(pafs.LocalFileSystem(), "file"))
        root = (partitioned / "events").as_posix()
        fields = [pa.field("date", pa.date32()), pa.field("region", pa.string())]
        filters = [sqlglot.parse_one("date = '2026-03-14'"), sqlglot.parse_one("region = 'us'")]
        found = walk(listing, root, Partitions(fields, filters, "events"))
        assert [f.values for f in found] == [{"date": "2026-03-14", "region": "us"}]
        assert not any("2026-03-13" in folder or "region=eu" in folder for folder in listing.listed)

    def test_local_folders_have_partition_columns_too(self, partitioned: Path) -> None:
        connector = FileConnector(DatasetSource("t", "file", "events", base_dir=partitioned))
        assert connector.schema().names == ["n", "date", "region"]
        request = ScanRequest(filters=[sqlglot.parse_one("region = 'eu'")])
        table = connector.scan(request).read_all()
        assert table.num_rows == 4 and set(table.column("region").to_pylist()) == {"eu"}
        plain = FileConnector(
            DatasetSource("t", "file", "events", {"hive_partitioning": False}, base_dir=partitioned)
        )
        assert plain.schema().names == ["n"]


def test_globs_read_as_pathlib_does() -> None:
    anywhere = re.compile(_glob_regex("**/*.ndjson"))
    assert anywhere.fullmatch("a.ndjson") and anywhere.fullmatch("x/y/a.ndjson")
    here = re.compile(_glob_regex("*.csv"))
    assert here.fullmatch("a.csv") and not here.fullmatch("x/a.csv")
