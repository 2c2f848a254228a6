"""What the sidecar keeps out of its memory: modules it never uses that others drag in, and
memory its allocators would otherwise keep after use.

pyarrow's dataset module imports pandas whenever pandas is installed (here about 50 MiB of
resident memory and 0.2 s of start-up, in every agent's pod), although the sidecar never
converts to or from pandas. So the first import of that module runs with pandas out of reach:
pyarrow then behaves as it does where pandas is not installed, and still imports pandas later
for a conversion that asks for it. Nothing else is affected: pandas imported by anyone else,
before or after, imports as usual.

Two allocators hold memory the process no longer uses. mimalloc (Arrow's memory pool, and
DataFusion's global allocator) commits its arenas eagerly, so pages once used stay resident:
`MIMALLOC_ARENA_EAGER_COMMIT=0`, set before they load, lets it return them (about 10 MiB of an
idle sidecar, about 6 of them before the sidecar does anything). glibc's malloc (Python's
larger objects, and the native threads of tantivy and gRPC) keeps what threads freed in their
arenas: building the demo's search index leaves about 15 MiB there each time. `give_back`
returns both kinds once the work that freed them is done.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

KEPT_OUT = "pandas"
GUARDED = "pyarrow._dataset"
# read by each mimalloc copy when its library loads; an operator's own setting wins
ALLOCATOR_SETTINGS = {"MIMALLOC_ARENA_EAGER_COMMIT": "0"}


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


def lean_allocators() -> None:
    """Let the mimalloc copies loaded from now on return the pages they free."""
    for name, value in ALLOCATOR_SETTINGS.items():
        os.environ.setdefault(name, value)


def give_back() -> None:
    """Return memory freed since the last call to the system: Arrow's pool's unused pages, and
    the free pages of glibc's arenas (elsewhere the C library has no `malloc_trim`: a no-op).
    Called when start-up has loaded everything and after a search index is rebuilt."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None
