"""Cutting the Flight server's open connections, when a stop cannot wait for them any longer.

pyarrow's `FlightServerBase.shutdown()` waits for every call in progress and takes no deadline
(gRPC's own Shutdown does; pyarrow does not pass one). A DoGet whose client stopped reading is
blocked inside gRPC's write, waiting on the client's flow-control window, where no Python code
runs and nothing the sidecar cancels reaches it: the stop waited for the exit timer. Shutting
the connection's socket down is what the client hanging up would have done: gRPC sees the
connection end, the write fails, the call ends and `shutdown()` returns.

The process's sockets are found in its descriptor table (`/proc/self/fd`, `/dev/fd` elsewhere):
those connected (they have a peer) from the server's port are the server's connections.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

DESCRIPTORS = (Path("/proc/self/fd"), Path("/dev/fd"))
INTERNET = (socket.AF_INET, socket.AF_INET6)


def cut(port: int) -> int:
    """Shut down every connection this process accepted on `port`; returns how many."""
    found = next((folder for folder in DESCRIPTORS if folder.is_dir()), None)
    if found is None:
        return 0
    count = 0
    for name in os.listdir(found):
        with contextlib.suppress(OSError, ValueError):
            if _cut_one(int(name), port):
                count += 1
    return count


def _cut_one(fd: int, port: int) -> bool:
    if not stat.S_ISSOCK(os.fstat(fd).st_mode):
        return False
    with socket.socket(fileno=os.dup(fd)) as sock:  # the socket itself stays gRPC's to close
        if sock.family not in INTERNET or sock.getsockname()[1] != port:
            return False
        sock.getpeername()  # OSError (not connected) for the listening socket
        sock.shutdown(socket.SHUT_RDWR)
    return True
