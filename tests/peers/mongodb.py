"""MongoDB peers: nx-27017, a MongoDB wire-protocol server over SQLite, and mockupdb.

There is no mongod on the registries this project installs from. nx-27017 answers find()
with filters, projections, sort and limit like MongoDB does (its gaps: Decimal128, NaN, `$not`,
and most of the aggregation framework), so the end-to-end tests run on it. mockupdb is a
scripted double of the wire protocol: it records the exact command the driver sent, which is
how the tests assert the filter, projection, sort and limit that reach the server, and it can
answer with any BSON (Decimal128 included).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.peers import free_port, stop, unavailable, wait_for_port


@dataclass
class NxServer:
    """A running nx-27017; `uri` reaches it, `client()` loads data into it."""

    port: int

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self) -> Any:
        import pymongo

        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)

    def load(self, namespace: str, docs: Sequence[Mapping[str, Any]]) -> None:
        database, _, collection = namespace.partition(".")
        with self.client() as client:
            client[database].drop_collection(collection)
            if docs:
                client[database][collection].insert_many([dict(doc) for doc in docs])


def _program() -> str | None:
    """The script pip installed next to this interpreter (`make test` does not put the venv on
    PATH), else one on PATH."""
    local = Path(sys.executable).parent / "nx-27017"
    return str(local) if local.exists() else shutil.which("nx-27017")


@pytest.fixture(scope="session")
def nx27017(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NxServer]:
    program = _program()
    if program is None:
        unavailable("nx-27017", "pip install nx-27017 (make test installs it)")
    assert program is not None
    root: Path = tmp_path_factory.mktemp("nx27017")
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                program,
                "--data-dir",
                str(root / "data"),
                "--host",
                "127.0.0.1",
                "-p",
                str(port),
                "--pid-file",
                str(root / "pid"),
                "--log-file",
                str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, 30, log)
        yield NxServer(port)
    finally:
        stop(process, signal.SIGTERM)


@dataclass
class MockMongo:
    """A mockupdb server answering `find` and `aggregate` from fixed documents.

    Every command is recorded in `commands` (as the driver sent it), so a test can assert the
    filter, projection, sort and limit. `documents` answers the $sample of schema inference
    and every find. Credentials are always refused, as a server refuses a wrong password.
    """

    server: Any
    documents: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.server.port}/?directConnection=true"

    def finds(self) -> list[dict[str, Any]]:
        with self.lock:
            return [command for command in self.commands if "find" in command]

    def handle(self, request: Any) -> bool:
        name = next(iter(request.doc), "")
        if name in ("saslStart", "authenticate"):
            return request.command_err(code=18, errmsg="Authentication failed.")
        if name not in ("find", "aggregate", "count", "getMore", "killCursors", "listCollections"):
            return False
        with self.lock:
            self.commands.append(dict(request.doc))
        namespace = f"{request.doc.get('$db')}.{request.doc[name]}"
        if name == "killCursors":
            return request.ok(cursorsKilled=[])
        if name == "count":
            return request.ok(n=len(self.documents))
        if name == "listCollections":
            batch = [{"name": "orders", "type": "collection"}]
            return request.ok(cursor={"id": 0, "ns": namespace, "firstBatch": batch})
        return request.ok(cursor={"id": 0, "ns": namespace, "firstBatch": self._answer(request)})

    def _answer(self, request: Any) -> list[dict[str, Any]]:
        limit = request.doc.get("limit") or len(self.documents)
        return [dict(doc) for doc in self.documents[:limit]]


@pytest.fixture(scope="session")
def mockmongo_server() -> Iterator[MockMongo]:
    """One mockupdb server for the session: stopping one takes a second."""
    try:
        from mockupdb import MockupDB
    except ImportError:
        unavailable("mockupdb", "pip install mockupdb (make test installs it)")
        raise
    server = MockupDB(auto_ismaster={"maxWireVersion": 21})
    mock = MockMongo(server)
    server.autoresponds(mock.handle)
    server.run()
    try:
        yield mock
    finally:
        server.stop()


@pytest.fixture
def mockmongo(mockmongo_server: MockMongo) -> MockMongo:
    """The mockupdb server with no documents and no recorded commands."""
    with mockmongo_server.lock:
        mockmongo_server.documents = []
        mockmongo_server.commands.clear()
    return mockmongo_server
