"""The acceleration engines the conformance suite runs every test against.

Each engine is one small module here named `<engine>_engine.py` that defines `ENGINE`: its
name, its modes, and what it truly cannot do (`cannot`, with the reason). A test that needs a
capability asks `engine.require(...)`, which skips with that reason. A fourth engine is a
fourth module.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

import pytest

# Capabilities a test may require.
APPEND = "append"  # refresh_mode: append, with primary-key upserts
FILE = "file"  # mode: file, serving the copy at once after a restart
RETENTION = "retention"  # retention_period deletes old rows in place
INDEXES = "indexes"  # indexes: and primary_key
WHOLE_QUERIES = "whole queries"  # a query over accelerated datasets runs entirely in the engine
NESTED = "nested values"  # lists and structs
NAN = "NaN"  # float NaN kept as NaN


@dataclass(frozen=True)
class AccelerationEngine:
    name: str
    cannot: dict[str, str] = field(default_factory=dict)
    file_suffix: str | None = None
    batch_rows: int = 65_536  # the most rows in one batch a scan of the copy streams

    @property
    def modes(self) -> tuple[str, ...]:
        return ("memory",) if FILE in self.cannot else ("memory", "file")

    def can(self, capability: str) -> bool:
        return capability not in self.cannot

    def require(self, *capabilities: str) -> None:
        for capability in capabilities:
            if capability in self.cannot:
                pytest.skip(f"engine: {self.name} has no {capability}: {self.cannot[capability]}")

    def settings(self, **settings: Any) -> dict[str, Any]:
        """An acceleration: block for this engine."""
        return {"engine": self.name, **settings}

    def label(self, mode: str = "memory") -> str:
        """How EXPLAIN names a scan of this engine's copy."""
        return f"accelerated ({self.name}, {mode})"

    def __str__(self) -> str:
        return self.name


def _discover() -> list[AccelerationEngine]:
    engines = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.endswith("_engine"):
            engines.append(importlib.import_module(f"{__name__}.{module.name}").ENGINE)
    return engines


ENGINES = _discover()
FILE_ENGINES = [engine for engine in ENGINES if engine.can(FILE)]
