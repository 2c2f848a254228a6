"""The JSON-RPC envelope of a POST to /v1/mcp, checked before the MCP SDK reads it.

The SDK validates a message against the union of every JSON-RPC shape; what matches none
comes back as its raw pydantic dump (a batch, a request whose params are not an object), and a
request whose id is null or an object is taken for a notification and answered 202 with
nothing. They are refused here with a short JSON-RPC error that says what to send instead,
carrying the request's id when it has a usable one. Whatever is not JSON, or nests
too deeply for Python's parser, is left to the SDK, which answers it with its own parse error.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sidecar.errors import ErrorCode, SidecarError

INVALID_REQUEST = -32600
INVALID_PARAMS = -32602


class Refusal(NamedTuple):
    """A JSON-RPC error to answer instead of the SDK: its code, why, and the request's id."""

    code: int
    error: SidecarError
    request_id: str | int | None = None


def envelope_error(body: bytes) -> Refusal | None:
    """Why `body` is not one JSON-RPC message MCP accepts, or None to let the SDK judge it."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return message_error(message)


def message_error(message: Any) -> Refusal | None:
    """Why the parsed JSON `message` is not one JSON-RPC message MCP accepts, or None."""
    if isinstance(message, list):
        refused = SidecarError(
            ErrorCode.INVALID_REQUEST,
            "Invalid Request: JSON-RPC batches are not supported (MCP removed them in "
            "protocol version 2025-06-18)",
            hint="send one JSON-RPC request per POST",
        )
        return Refusal(INVALID_REQUEST, refused)
    if isinstance(message, dict) and "method" in message and "id" in message:
        request_id = message["id"]
        if isinstance(request_id, bool) or not isinstance(request_id, str | int):
            refused = SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"Invalid Request: the id {json.dumps(request_id)} is not a string or an "
                "integer, as MCP requires of a request's id",
                hint='give each request a string or integer id (e.g. "id": 1), or leave the '
                "id out to send a notification",
            )
            return Refusal(INVALID_REQUEST, refused)
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            kind = "an array" if isinstance(params, list) else f"{json.dumps(params)[:40]}"
            refused = SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"Invalid params: the params of {message['method']!r} are {kind}, not an object",
                hint='MCP takes named parameters: send "params" as a JSON object (e.g. '
                '{"name": "sql", "arguments": {...}}), or leave it out',
            )
            return Refusal(INVALID_PARAMS, refused, request_id)
    return None
