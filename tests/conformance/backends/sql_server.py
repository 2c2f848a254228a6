"""The shape the SQL servers with a statement log share (MariaDB, PostgreSQL): the table made
with plain SQL in the server's own types, broken by a wrong password or a closed port, and
every standard scan's statement read back from the server's log."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import TYPES
from tests.peers import free_port


class SqlServerConf(Conf):
    fixture: ClassVar[str]  # the peer's session fixture
    where: ClassVar[str]  # the dataset's location
    table: ClassVar[str]  # the table as the connector's statements name it
    # The exact statement of each standard scan.
    statements: ClassVar[dict[str, str]]

    @classmethod
    @abstractmethod
    def setup(cls, peer: Any) -> list[str]:
        """The statements that make the shared table at the server."""

    @classmethod
    @abstractmethod
    def failures(cls, port: int, down: int) -> dict[str, tuple[str, str]]:
        """The exact errors (see Conf.errors), the server at `port`, nobody at `down`."""

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer = request.getfixturevalue(cls.fixture)
        peer.execute(*cls.setup(peer))
        down = free_port()
        return cls(
            cls.where,
            peer.params(),
            TYPES,
            peer=peer,
            broken={
                "credentials": {"params": peer.params(password="wrong")},
                "down": {"params": peer.params(port=down)},
            },
            sends={kind: f"{cls.scheme}: {sql}" for kind, sql in cls.statements.items()},
            receives={kind: [cls.logged(sql)] for kind, sql in cls.statements.items()},
            errors=cls.failures(peer.port, down),
        )

    def received(self) -> list[str]:
        return list(self.peer.statements(f"FROM {self.table}"))
