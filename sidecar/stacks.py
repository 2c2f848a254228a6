"""Thread stacks deep enough for the deepest statement the bounds admit.

Parsing, planning and running a statement recurse over its tree: sqlglot in Python, DataFusion
and DuckDB natively. runtime.max_expression_depth keeps trees shallow enough for the stacks set
here, before the servers start any thread: Python threads (`threading.stack_size`: the HTTP
worker pool, the Postgres wire connections' threads), Rust threads (DataFusion's tokio workers
read RUST_MIN_STACK once, when the first one starts) and threads that native libraries start
themselves (gRPC's serving threads, where Flight requests are planned, DuckDB's and Arrow's:
glibc's default thread attributes). Stacks are reserved address space; only the pages a thread
touches take memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading

log = logging.getLogger("sidecar")
MIN_STACK = 32 << 20
STACK_PER_LEVEL = 64 << 10
# sqlglot's recursive descent parser takes about 16 Python frames per level of a statement.
FRAMES_PER_LEVEL = 32
_PTHREAD_ATTR_SIZE = 128  # bytes; glibc's pthread_attr_t is 56 on x86-64 and 64 on arm64


def stack_size(max_depth: int) -> int:
    """Bytes of stack for each thread that may parse, plan or run a statement."""
    return max(MIN_STACK, max_depth * STACK_PER_LEVEL)


def enlarge(max_depth: int) -> None:
    """Give threads started from now on stacks for statements `max_depth` levels deep."""
    size = stack_size(max_depth)
    threading.stack_size(size)
    os.environ.setdefault("RUST_MIN_STACK", str(size))
    _native_default(size)
    allow_recursion(max_depth)


def allow_recursion(max_depth: int) -> None:
    """Let Python recurse as deep as sqlglot needs for statements `max_depth` levels deep."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), max_depth * FRAMES_PER_LEVEL + 2000))


def _native_default(size: int) -> None:
    """glibc's default stack size for threads created without one (pthread_setattr_default_np);
    elsewhere those threads keep their platform's default, and a warning says so."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "pthread_setattr_default_np"):
        log.warning("cannot enlarge the stacks of native threads on this platform")
        return
    attr = ctypes.create_string_buffer(_PTHREAD_ATTR_SIZE)
    libc.pthread_attr_init(attr)
    try:
        libc.pthread_attr_setstacksize(attr, ctypes.c_size_t(size))
        if libc.pthread_setattr_default_np(attr) != 0:
            log.warning("cannot enlarge the stacks of native threads")
    finally:
        libc.pthread_attr_destroy(attr)
