"""`sidecar sql` over Arrow Flight SQL: a raw pyarrow.flight client with the project's messages.

The CLI needs no Flight SQL driver: a query is one CommandStatementQuery (GetFlightInfo) and
one DoGet per endpoint, and the messages come from the same generated module the server uses.
Errors come back as the server sent them, with the hint and the position in the SQL.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.flight as flight

from sidecar.client.errors import READ_TIMEOUT, ClientError, ServerError
from sidecar.servers.flight import FlightSql_pb2 as pb
from sidecar.servers.flight.commands import pack

# What pyarrow appends to a server's message: the traceback detail and gRPC's debug context.
NOISE = re.compile(r"\. (Detail: |gRPC client debug context: )", re.S)


class FlightSqlClient:
    """A running sidecar's Flight SQL endpoint; `url` is grpc://host:port or grpc+tls://."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url = url
        headers = [(b"authorization", f"Bearer {api_key}".encode())] if api_key else []
        self._options = flight.FlightCallOptions(headers=headers, timeout=READ_TIMEOUT)
        try:
            self._client = flight.FlightClient(url)
        except pa.ArrowException as error:
            raise ClientError(f"invalid Flight SQL address {url}: {error}") from None

    def query(self, sql: str) -> pa.Table:
        descriptor = flight.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
        try:
            info = self._client.get_flight_info(descriptor, self._options)
            tables = [
                self._client.do_get(endpoint.ticket, self._options).read_all()
                for endpoint in info.endpoints
            ]
        except flight.FlightUnavailableError as error:
            if not error.extra_info:
                raise ClientError(
                    f"cannot reach the sidecar at {self.url}: is `sidecar run` running?"
                ) from None
            raise server_error(error) from None
        except pa.ArrowException as error:
            raise server_error(error) from None
        if len(tables) == 1:
            return tables[0]
        return pa.concat_tables(tables) if tables else info.schema.empty_table()

    def close(self) -> None:
        self._client.close()


def server_error(error: Exception) -> ServerError:
    """The sidecar's error: from the JSON in a Flight error's extra_info when there is one,
    else from the message's lines (message, then POSITION: and HINT:)."""
    extra = getattr(error, "extra_info", b"")
    if extra:
        try:
            body = json.loads(extra)
            return ServerError(
                str(body["message"]), hint=body.get("hint"), position=body.get("position")
            )
        except (ValueError, KeyError, TypeError):
            pass
    text = NOISE.split(str(error), maxsplit=1)[0]
    message, position, hint = [], None, None
    for line in text.splitlines():
        if line.startswith("POSITION: ") and line[10:].isdigit():
            position = int(line[10:])
        elif line.startswith("HINT: "):
            hint = line[6:]
        else:
            message.append(line)
    return ServerError("\n".join(message).strip(), hint=hint, position=position)
