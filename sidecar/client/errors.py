"""What talking to a running sidecar can fail with, whatever the transport."""

from __future__ import annotations

CONNECT_TIMEOUT = 10.0
# Long enough for any query the sidecar itself would still be running (its default
# runtime.query_timeout is 60s); the server, not the client, decides when a query is too slow.
READ_TIMEOUT = 600.0


class ClientError(Exception):
    """The sidecar could not be reached or answered unreadably; nothing the SQL can fix."""


class ServerError(Exception):
    """An error the sidecar answered with, carrying its hint and the position in the SQL."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.position = position
