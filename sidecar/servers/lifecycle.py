"""The one lifecycle the protocol servers share, so the runtime composes them all alike.

`start()` binds the server's port and serves; a port already taken, or a certificate that
cannot be used, is a StartupError saying what to change. `close()` stops taking connections
and lets those running finish. The runtime starts the servers one after another and closes
them in reverse, also when one of them fails to start, so a failed start leaves nothing
listening (as Starlette composes its lifespan: explicit, in order, undone in reverse).
"""

from __future__ import annotations

import os
import socket
from typing import Protocol

from sidecar.config import Endpoint


class StartupError(Exception):
    """The sidecar cannot start; the message says why and what to change."""


class Server(Protocol):
    async def start(self) -> None:
        """Listen and serve; raises StartupError when it cannot."""

    async def close(self) -> None:
        """Stop listening, then wait for the calls in progress."""


def listen(name: str, endpoint: Endpoint) -> socket.socket:
    """Bind before serving, so a taken port is one clear line instead of a server traceback.

    The socket is re-wrapped with its protocol spelled out: accepted connections inherit it,
    and asyncio only turns Nagle off (TCP_NODELAY) on sockets that say they are TCP; without
    it every small response waited ~40 ms for the client's delayed ACK.
    """
    try:
        sock = socket.create_server((endpoint.host, endpoint.port), reuse_port=False)
    except OSError as error:
        raise StartupError(
            f"cannot listen on {endpoint.host}:{endpoint.port} for {name}: "
            f"{os.strerror(error.errno) if error.errno else error}; "
            f"free the port or change runtime.{name}.port"
        ) from None
    sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    sock.setblocking(False)
    return sock
