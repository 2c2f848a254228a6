"""The connectors the conformance suite runs every test against, one small module each.

Each module here defines `CONF`, a subclass of `Conf` that says how its source holds the
shared table (`load`, once per session), how to open a connector on it, and what the connector
does with it: the filter shapes it leaves to the engine (`refuses`), whether it orders at the
source (`orders`), the time precision it keeps, and the exact text each standard scan sends
(`sends`, as EXPLAIN shows it; `receives`, as the source's own log shows it). Tests read the
flags and never ask which connector they run on; a new connector is a new module.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from connectors import open_connector
from connectors.base import Connector, DatasetSource
from connectors.options import configured_secrets
from tests.conformance.data import TYPES

IDENTITY = {name: name for name in TYPES.names}
UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1}


class Conf(ABC):
    """One connector over the shared table, and what it is expected to do with it."""

    name: ClassVar[str]
    scheme: ClassVar[str]
    # Shapes of data.FILTERS the connector leaves to the engine on purpose.
    refuses: ClassVar[frozenset[str]] = frozenset()
    # Whether a top-N (ORDER BY with LIMIT) is answered by the source.
    orders: ClassVar[bool] = False
    # The finest time the source keeps ("s", "ms" or "us"): times come back cut to it.
    timestamp_unit: ClassVar[str] = "us"
    # What the source returns for a NULL timestamp, when not NULL (a peer's quirk).
    null_timestamp: ClassVar[dt.datetime | None] = None
    # The shared columns the source holds, under its own names (a fixed-schema API's).
    columns: ClassVar[Mapping[str, str]] = IDENTITY
    # The param holding the credential that errors must never show, and hints must name.
    secret_param: ClassVar[str] = "password"
    # Params that are no secret alone but must not show either (an access key ID).
    private_params: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        location: str,
        params: Mapping[str, Any],
        schema: pa.Schema,
        *,
        declared: pa.Schema | None = None,
        base_dir: Path | None = None,
        broken: Mapping[str, Mapping[str, Any]] | None = None,
        sends: Mapping[str, str] | None = None,
        receives: Mapping[str, list[str]] | None = None,
        errors: Mapping[str, tuple[str, str]] | None = None,
        peer: Any = None,
    ) -> None:
        self.location = location
        self.params = dict(params)
        self.schema = schema
        self.declared = declared
        self.base_dir = base_dir or Path.cwd()
        # What makes `connector(**changes)` fail: "credentials" (a wrong secret), "down"
        # (nobody listening).
        self.broken = dict(broken or {})
        # Per standard scan (test_connectors.REQUESTS): EXPLAIN's text, the source's log.
        self.sends = dict(sends or {})
        self.receives = dict(receives or {})
        # Per failure ("missing" table, and each of `broken`): the exact message and hint; a
        # message ending in "…" continues with the driver's own words.
        self.errors = dict(errors or {})
        self.peer = peer  # the server holding the table, for `received`

    @classmethod
    @abstractmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        """Put the shared table in the source (once per session) and describe it."""

    def received(self) -> list[str] | None:
        """What the source logged receiving so far, oldest first; None without a log."""
        return None

    @staticmethod
    def logged(statement: str) -> str:
        """How the source's log shows a statement the connector sent it."""
        return statement

    def private(self) -> list[str]:
        """Every configured value no error may show, in any encoding: the secret param's (each
        header's, for headers) and the private params' values, and whatever else the params
        hold that the redactor takes for a credential."""
        values = set(configured_secrets(self.params, self.location))
        for name in (self.secret_param, *self.private_params):
            value = self.params.get(name)
            values.update(value.values() if isinstance(value, Mapping) else [value])
        return sorted(str(value) for value in values if value)

    def source(self, **changes: Any) -> DatasetSource:
        return DatasetSource(
            name="types",
            scheme=self.scheme,
            location=changes.get("location", self.location),
            params=changes.get("params", self.params),
            declared_schema=self.declared,
            base_dir=self.base_dir,
            timeout=changes.get("timeout", 10.0),
        )

    def connector(self, **changes: Any) -> Connector:
        return open_connector(self.source(**changes))

    def typo(self) -> str:
        """The location of a table that does not exist, one letter off."""
        return self.location.replace("types", "typos").replace("TYPES", "TYPOS")

    def kept(self, column: str, value: Any) -> Any:
        """A shared value as the source keeps it: times cut to its precision."""
        if value is None and column == "ts" and self.null_timestamp is not None:
            return self.null_timestamp
        if isinstance(value, dt.datetime):
            step = UNITS[self.timestamp_unit]
            return value.replace(microsecond=value.microsecond // step * step)
        return value


def file_sends(read: str) -> dict[str, str]:
    """What the file connector shows for the standard scans: `read` is its format and place."""
    return {
        "limit": f'{read} columns=[id] filter=("i32" > 2) limit=2',
        "lookup": f'{read} columns=[id, txt] filter=("i32" = 3) limit=5',
    }


def missing_file(folder: str, name: str) -> tuple[str, str]:
    """The file connector's error for a file one letter off `name` in `folder`."""
    typo = name.replace("types", "typos")
    hint = f"did you mean {folder}{name}? files in {folder or './'}: {name}"
    return f"{folder}{typo} does not exist", hint


def _discover() -> list[type[Conf]]:
    found = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        conf = getattr(importlib.import_module(f"{__name__}.{module.name}"), "CONF", None)
        if conf is not None:  # a module without one holds a shape several Confs share
            found.append(conf)
    return found


CONFS: list[type[Conf]] = _discover()
