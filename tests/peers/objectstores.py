"""Object stores on 127.0.0.1: moto's S3 server, gcp-storage-emulator, and Azurite.

moto runs in server mode (a real S3 HTTP API) with IAM authentication switched on once the
buckets, users and keys exist, so a wrong key is refused as S3 refuses it, and with moto's
request recorder on, so a test can see every request the sidecar sent: which objects were
asked for and with which byte ranges. gcp-storage-emulator speaks the GCS JSON API and
Azurite (npm, installed by `make peers` under .venv-peers/node) the Blob API.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from tests.peers import PEERS_VENV, free_port, stop, unavailable, wait_for_port
from tests.peers.iceberg import Iceberg

REGION = "us-east-1"
# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE = PEERS_VENV / "node" / "node_modules" / ".bin" / "azurite-blob"
ALLOW_S3 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)


@dataclass(frozen=True)
class Request:
    """One request moto received (path and query percent-decoded)."""

    method: str
    path: str
    query: str
    range: str | None


@dataclass
class MotoS3:
    """A running moto server; `params()` are a dataset's params for it."""

    port: int
    recording: Path
    key_id: str = ""
    secret: str = ""
    denied_key_id: str = ""
    denied_secret: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def params(self, **changes: Any) -> dict[str, Any]:
        params = {
            "endpoint": self.endpoint,
            "region": REGION,
            "access_key_id": self.key_id,
            "secret_access_key": self.secret,
        }
        return params | changes

    def iceberg_properties(self, **changes: str) -> dict[str, str]:
        """pyiceberg's FileIO properties for this server."""
        return {
            "s3.endpoint": self.endpoint,
            "s3.region": REGION,
            "s3.access-key-id": self.key_id,
            "s3.secret-access-key": self.secret,
        } | changes

    def filesystem(self) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(
            access_key=self.key_id,
            secret_key=self.secret,
            endpoint_override=f"127.0.0.1:{self.port}",
            scheme="http",
            region=REGION,
            allow_bucket_creation=True,
        )

    def bucket(self, name: str) -> None:
        filesystem = self.filesystem()
        if filesystem.get_file_info(name).type == pafs.FileType.NotFound:
            filesystem.create_dir(name)

    def put(self, path: str, data: bytes) -> None:
        with self.filesystem().open_output_stream(path) as stream:
            stream.write(data)

    def put_parquet(self, path: str, table: pa.Table, **options: Any) -> int:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, **options)
        self.put(path, buffer.getvalue())
        return len(buffer.getvalue())

    def record(self) -> None:
        """Forget the requests so far: what follows is what a test looks at."""
        self._api("recorder/reset-recording")

    def requests(self) -> list[Request]:
        requests = []
        for line in self.recording.read_text().splitlines():
            entry = json.loads(line)
            url = urllib.request.urlparse(entry["url"])
            path = urllib.request.unquote(url.path)
            query = urllib.request.unquote(url.query)
            requests.append(Request(entry["method"], path, query, entry["headers"].get("Range")))
        return requests

    def _api(self, action: str, body: bytes = b"") -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/{action}",
            body,
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def _iam_user(moto: MotoS3, name: str, policy: str | None) -> tuple[str, str]:
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=moto.endpoint,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@contextmanager
def running_moto(root: Path, *, record: bool = True) -> Iterator[MotoS3]:
    """moto's S3 server in `root`, with IAM authentication on once the users exist, stopped on
    exit. `record` keeps moto's request log (every request, PUT bodies included)."""
    program = Path(sys.executable).parent / "moto_server"
    if not program.exists():
        unavailable("moto[server]", "pip install 'moto[server]' (make test installs it)")
    port = free_port()
    log = root / "server.log"
    recording = root / "requests.jsonl"
    recording.touch()
    env = os.environ | {"MOTO_RECORDER_FILEPATH": str(recording)}
    if record:
        env["MOTO_ENABLE_RECORDING"] = "true"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(program), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for_port(port, process, 60, log)
        moto = MotoS3(port, recording)
        moto.key_id, moto.secret = _iam_user(moto, "sidecar", ALLOW_S3)
        moto.denied_key_id, moto.denied_secret = _iam_user(moto, "stranger", None)
        moto._api("reset-auth", b"0")  # from now on every request is signed and authorised
        yield moto
    finally:
        stop(process, signal.SIGTERM)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with running_moto(tmp_path_factory.mktemp("moto")) as moto:
        yield moto


@pytest.fixture(scope="session")
def iceberg_s3(moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> Iceberg:
    """An Iceberg SQL catalog whose warehouse (metadata and data files) is on moto's S3."""
    moto_s3.bucket("warehouse")
    root = tmp_path_factory.mktemp("iceberg-s3")
    return Iceberg(root, "s3://warehouse/", moto_s3.iceberg_properties())


@dataclass
class GcsEmulator:
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def params(self, **changes: Any) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "anonymous": True} | changes

    def filesystem(self) -> pafs.GcsFileSystem:
        return pafs.GcsFileSystem(
            anonymous=True, scheme="http", endpoint_override=f"127.0.0.1:{self.port}"
        )

    def put_parquet(self, path: str, table: pa.Table) -> None:
        with self.filesystem().open_output_stream(path) as stream:
            pq.write_table(table, stream)


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    program = Path(sys.executable).parent / "gcp-storage-emulator"
    if not program.exists():
        unavailable("gcp-storage-emulator", "pip install gcp-storage-emulator")
    root = tmp_path_factory.mktemp("gcs")
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *(str(program), "start", "--host", "127.0.0.1", "--port", str(port)),
                *("--in-memory", "--default-bucket", "lake"),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, 60, log)
        yield GcsEmulator(port, log)
    finally:
        stop(process, signal.SIGTERM)


@dataclass
class Azurite:
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def params(self, **changes: Any) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "account_name": AZURITE_ACCOUNT,
            "account_key": AZURITE_KEY,
        } | changes

    def filesystem(self) -> pafs.AzureFileSystem:
        authority = f"127.0.0.1:{self.port}"
        return pafs.AzureFileSystem(
            account_name=AZURITE_ACCOUNT,
            account_key=AZURITE_KEY,
            blob_storage_authority=authority,
            blob_storage_scheme="http",
            dfs_storage_authority=authority,
            dfs_storage_scheme="http",
        )

    def put(self, path: str, data: bytes) -> None:
        filesystem = self.filesystem()
        container = path.split("/", 1)[0]
        if filesystem.get_file_info(container).type == pafs.FileType.NotFound:
            filesystem.create_dir(container)
        with filesystem.open_output_stream(path) as stream:
            stream.write(data)

    def put_parquet(self, path: str, table: pa.Table) -> None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self.put(path, buffer.getvalue())


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    program = AZURITE if AZURITE.exists() else shutil.which("azurite-blob")
    if program is None:
        unavailable("azurite (npm)", "make peers installs it under .venv-peers/node")
    root = tmp_path_factory.mktemp("azurite")
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *(str(program), "--blobHost", "127.0.0.1", "--blobPort", str(port)),
                *("--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry"),
                "--loose",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    try:
        wait_for_port(port, process, 90, log)
        yield Azurite(port)
    finally:
        stop(process, signal.SIGTERM)
