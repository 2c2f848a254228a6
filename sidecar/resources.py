"""How much memory this sidecar may use: its container's limit, else the machine's.

A pod's memory limit is its cgroup's (`memory.max` in cgroup v2, `memory.limit_in_bytes` in
v1); the kernel kills the whole process past it, so the query engines must stay well inside it.
Outside a container (or with no limit set) the machine's physical memory is the bound.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
# cgroup v1 reports "no limit" as a huge page-rounded number rather than "max".
_UNLIMITED = 1 << 60
QUERY_SHARE = 0.5


def total_memory() -> int:
    """The container's memory limit in bytes, or the machine's physical memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < _UNLIMITED:
            return min(int(text), physical)
    return physical


def default_memory_limit() -> int:
    """runtime.memory_limit when unset: half of what the process may use, leaving the rest to
    Python, the servers, the results cache and the batches on their way to clients."""
    return int(total_memory() * QUERY_SHARE)
