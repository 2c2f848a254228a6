"""What the sidecar keeps out of its memory: modules it never uses that others drag in.

pyarrow's dataset module imports pandas whenever pandas is installed (here about 50 MiB of
resident memory and 0.2 s of start-up, in every agent's pod), although the sidecar never
converts to or from pandas. So the first import of that module runs with pandas out of reach:
pyarrow then behaves as it does where pandas is not installed, and still imports pandas later
for a conversion that asks for it. Nothing else is affected: pandas imported by anyone else,
before or after, imports as usual.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

KEPT_OUT = "pandas"
GUARDED = "pyarrow._dataset"


class _KeepOut(importlib.abc.MetaPathFinder):
    """Refuses `KEPT_OUT` while a guarded module initialises."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> None:
        if name.partition(".")[0] == KEPT_OUT:
            raise ImportError(f"{KEPT_OUT} is kept out while {GUARDED} initialises")


class _Guard(importlib.abc.MetaPathFinder):
    """Finds `GUARDED` once, with a loader that initialises it under `_KeepOut`."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != GUARDED:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Guarded(spec.loader)
        return spec


class _Guarded(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        with _kept_out():
            return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with _kept_out():
            self.loader.exec_module(module)


@contextlib.contextmanager
def _kept_out() -> Iterator[None]:
    finder = _KeepOut()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def keep_pandas_out() -> None:
    """Install the guard, unless pyarrow's dataset module or pandas is loaded already."""
    if GUARDED in sys.modules or KEPT_OUT in sys.modules:
        return
    if not any(isinstance(finder, _Guard) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Guard())
