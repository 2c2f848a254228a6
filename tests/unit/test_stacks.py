"""Threads started after `stacks.enlarge` get stacks for the deepest admitted statement: Python's,
Rust's (DataFusion's tokio workers) and native libraries' own (gRPC, DuckDB, Arrow)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sidecar import stacks


def test_every_kind_of_thread_gets_the_stack() -> None:
    size = stacks.stack_size(1024)
    assert size == 64 << 20 and stacks.stack_size(16) == stacks.MIN_STACK
    probe = textwrap.dedent(
        """
        import ctypes, ctypes.util, os, sys, threading
        from sidecar import stacks
        stacks.enlarge(1024)
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        attr = ctypes.create_string_buffer(128)
        libc.pthread_getattr_default_np(attr)
        native = ctypes.c_size_t()
        libc.pthread_attr_getstacksize(attr, ctypes.byref(native))
        print(threading.stack_size(), os.environ["RUST_MIN_STACK"], native.value,
              sys.getrecursionlimit())
        """
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [int(value) for value in found[:3]] == [size, size, size]
    assert int(found[3]) >= 1024 * stacks.FRAMES_PER_LEVEL
