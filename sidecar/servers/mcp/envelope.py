"""The JSON-RPC envelope of a POST to /v1/mcp, checked before the MCP SDK reads it.

The SDK validates a message against the union of every JSON-RPC shape; what matches none
comes back as its raw pydantic dump (a batch), and a request whose id is null or an object
is taken for a notification and answered 202 with nothing. Both are refused here with a
short -32600 "Invalid Request" that says what to send instead. Whatever is not JSON, or nests
too deeply for Python's parser, is left to the SDK, which answers it with its own parse error.
"""

from __future__ import annotations

import json

from sidecar.errors import ErrorCode, SidecarError


def envelope_error(body: bytes) -> SidecarError | None:
    """Why `body` is not one JSON-RPC message MCP accepts, or None to let the SDK judge it."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(message, list):
        return SidecarError(
            ErrorCode.INVALID_REQUEST,
            "Invalid Request: JSON-RPC batches are not supported (MCP removed them in "
            "protocol version 2025-06-18)",
            hint="send one JSON-RPC request per POST",
        )
    if isinstance(message, dict) and "method" in message and "id" in message:
        request_id = message["id"]
        if isinstance(request_id, bool) or not isinstance(request_id, str | int):
            return SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"Invalid Request: the id {json.dumps(request_id)} is not a string or an "
                "integer, as MCP requires of a request's id",
                hint='give each request a string or integer id (e.g. "id": 1), or leave the '
                "id out to send a notification",
            )
    return None
