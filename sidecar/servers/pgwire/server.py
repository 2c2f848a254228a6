"""The PostgreSQL wire server: start-up negotiation, TLS, login, and CancelRequest routing.

Each connection gets a process-unique id and a random secret in BackendKeyData; a CancelRequest
(a new connection carrying both) cancels that connection's running statement, and a wrong secret
does nothing, as in PostgreSQL. Anything a client does wrong ends its own connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import secrets
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from cachetools import LRUCache

from policies.identity import Authenticator, Identity
from sidecar.config import Runtime
from sidecar.engine.plans import Kept
from sidecar.gateway import Gateway
from sidecar.servers.lifecycle import listen
from sidecar.servers.pgwire import messages
from sidecar.servers.pgwire.auth import Login
from sidecar.servers.pgwire.errors import (
    INVALID_PASSWORD,
    PROTOCOL_VIOLATION,
    PgError,
    admin_shutdown,
    cannot_connect_now,
)
from sidecar.servers.pgwire.messages import ProtocolError

if TYPE_CHECKING:
    from sidecar.servers.pgwire.catalog import ShadowCatalog
    from sidecar.servers.pgwire.session import Session
    from sidecar.servers.pgwire.statements import Analysis, Key

log = logging.getLogger("sidecar.pgwire")
INTERFACE = "pg"
STARTUP_TIMEOUT = 30.0
REFUSAL_TIMEOUT = 5.0
MAX_SHADOWS = 4
ANALYSES_KEPT = 1024  # statements' analyses shared by every session (statements.py)


class Shadows(LRUCache[str, "ShadowCatalog"]):
    """The few per-policy shadow catalogs kept; the least recently used one is closed."""

    def popitem(self) -> tuple[str, ShadowCatalog]:
        visibility, shadow = super().popitem()
        shadow.close()
        return visibility, shadow


class PgServer:
    def __init__(
        self, gateway: Gateway, authenticator: Authenticator, runtime: Runtime, base_dir: Path
    ) -> None:
        self.gateway = gateway
        self.engine = gateway.engine
        self.login = Login(authenticator, runtime.pg.auth_method)
        self._catalog: ShadowCatalog | None = None
        self._shadows = Shadows(MAX_SHADOWS)
        self._shadow_lock = threading.Lock()
        self.tls = _tls_context(runtime, base_dir) if runtime.tls is not None else None
        self._ids = itertools.count(secrets.randbelow(1 << 20) + 1000)
        self._sessions: dict[int, Session] = {}
        self.analyses: Kept[Key, Analysis] = Kept(ANALYSES_KEPT)
        self.sends = messages.Sends()
        self.endpoint = runtime.pg
        self.max_connections = runtime.pg.max_connections
        self._connections = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def catalog(self) -> ShadowCatalog:
        """The shadow pg_catalog every unrestricted identity shares. It and the session's
        modules are imported by the first connection, not at start-up: about 1 MiB that a
        sidecar whose agent speaks HTTP or Flight SQL never needs."""
        if self._catalog is not None:  # every statement asks: no lock once it exists
            return self._catalog
        with self._shadow_lock:
            if self._catalog is None:
                from sidecar.servers.pgwire.catalog import ShadowCatalog

                self._catalog = ShadowCatalog(self.engine)
            return self._catalog

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def connection() -> messages.Inline:
            return messages.Inline(asyncio.StreamReader(loop=loop), self._connection, loop=loop)

        self._server = await loop.create_server(connection, sock=listen("pg", self.endpoint))

    async def close(self) -> None:
        """Stop listening and end the open sessions, as PostgreSQL's fast shutdown does:
        waiting for them would let an idle psql hold the stop forever, and leaving them to
        the event loop's end wrote their statements' audit lines after the log had closed."""
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=REFUSAL_TIMEOUT)
        if self._catalog is not None:
            self._catalog.close()
        for shadow in self._shadows.values():
            shadow.close()

    def shadow(self, identity: Identity) -> ShadowCatalog:
        """The catalog `identity` sees: under policies one shadow per policy entry (a few kept,
        built on first use), else the one shared shadow."""
        grant = self.engine.access.grant(identity)
        if not grant.restricted:
            return self.catalog
        with self._shadow_lock:
            shadow = self._shadows.get(grant.visibility)
            if shadow is None:
                from sidecar.servers.pgwire.catalog import ShadowCatalog

                shadow = self._shadows[grant.visibility] = ShadowCatalog(self.engine, grant)
            return shadow

    def schemas(self, identity: Identity) -> dict[str, pa.Schema]:
        """Relation schemas `identity` sees by lower-case name, for parameter type inference."""
        grant = self.engine.access.grant(identity)
        return {
            relation.name.lower(): relation.schema
            for relation in self.engine.catalog.relations(grant)
            if relation.schema is not None
        }

    def cancel(self, pid: int, secret: int) -> None:
        session = self._sessions.get(pid)
        presented = secret.to_bytes(4, "big", signed=True)
        if session is not None and hmac.compare_digest(session.secret, presented):
            session.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection from accept to close; past runtime.pg.max_connections (counting
        those still negotiating, each bounded by STARTUP_TIMEOUT) it is refused at once, as
        PostgreSQL refuses past max_connections."""
        if self._connections >= self.max_connections:
            await self._refuse(reader, writer)
            return
        self._connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve_connection(reader, writer)
        except asyncio.CancelledError:
            # The sidecar is stopping (close()). Ending the task cancelled would have asyncio
            # 3.11's stream callback log the cancel as a failure, traceback and all: the
            # connection simply ends, closed by _serve_connection.
            pass
        finally:
            self._connections -= 1
            if task is not None:
                self._tasks.discard(task)

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Past the limit a client still learns why (after its SSLRequest, as PostgreSQL
        tells it), and a CancelRequest still cancels; all within REFUSAL_TIMEOUT."""
        try:
            startup = await asyncio.wait_for(self._negotiate(reader, writer), REFUSAL_TIMEOUT)
            if startup is not None:
                await _fatal(writer, too_many_connections(self.max_connections))
        except (PgError, ProtocolError, asyncio.IncompleteReadError, ConnectionError):
            pass  # a client that breaks the protocol learns nothing more
        except (TimeoutError, ssl.SSLError):
            pass  # nor one too slow, or failing TLS
        finally:
            writer.close()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        pid = None
        connection = writer.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delays
        try:
            startup = await asyncio.wait_for(self._negotiate(reader, writer), STARTUP_TIMEOUT)
            if startup is None:
                return
            if self.gateway.stopping:
                raise cannot_connect_now()
            pid = next(self._ids)
            user = startup.get("user", "")
            try:
                identity = await asyncio.wait_for(
                    self.login.authenticate(
                        user, lambda: messages.read_message(reader), _sender(writer)
                    ),
                    STARTUP_TIMEOUT,
                )
            except PgError as error:
                if error.sqlstate == INVALID_PASSWORD:
                    self.gateway.auth_failed(INTERFACE, _peer(writer), user, error.message)
                raise
            from sidecar.servers.pgwire.session import Session

            session = Session(self, reader, writer, pid, user, identity, startup)
            self._sessions[pid] = session
            await session.serve()
        except PgError as error:
            await _fatal(writer, error)
        except ProtocolError as error:
            await _fatal(writer, PgError(PROTOCOL_VIOLATION, str(error), severity="FATAL"))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ssl.SSLError):
            pass
        except asyncio.CancelledError:  # close(): each session learns why, as in PostgreSQL
            if pid in self._sessions:
                _write_fatal(writer, admin_shutdown("the sidecar stopped"))
            raise
        except Exception:
            log.exception("postgres wire connection failed")
        finally:
            if pid is not None:
                self._sessions.pop(pid, None)
            writer.close()

    async def _negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, str] | None:
        """SSLRequest/GSSENCRequest, then the startup packet; None for a CancelRequest."""
        encrypted = False
        for _ in range(3):
            code, body = await messages.read_startup(reader)
            if code == messages.SSL_REQUEST and not encrypted:
                body.done()
                if self.tls is None:
                    writer.write(b"N")
                    continue
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(self.tls)
                encrypted = True
            elif code == messages.GSSENC_REQUEST and not encrypted:
                body.done()
                writer.write(b"N")
            elif code == messages.CANCEL_REQUEST:
                pid, secret = body.int32(), body.int32()
                body.done()
                self.cancel(pid, secret)
                return None
            elif code >> 16 == 3:
                if self.tls is not None and not encrypted:
                    raise _tls_required()
                return self._startup(code, body, writer)
            else:
                raise ProtocolError(f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}")
        raise ProtocolError("too many encryption requests")

    def _startup(
        self, code: int, body: messages.Body, writer: asyncio.StreamWriter
    ) -> dict[str, str]:
        parameters = messages.startup_parameters(body)
        options = [name for name in parameters if name.startswith("_pq_.")]
        if code & 0xFFFF or options:  # NegotiateProtocolVersion: we speak 3.0 and no options
            names = b"".join(name.encode() + b"\0" for name in options)
            count = len(options).to_bytes(4, "big")
            version = messages.PROTOCOL_3.to_bytes(4, "big")  # the whole number, as libpq reads
            writer.write(messages.message(b"v", version + count + names))
        if "user" not in parameters:
            raise PgError(
                "28000", "no PostgreSQL user name specified in startup packet", severity="FATAL"
            )
        return {k: v for k, v in parameters.items() if not k.startswith("_pq_.")}


def _tls_required() -> PgError:
    """With runtime.tls, a client that did not ask for TLS is refused before login, so no
    password (and no SCRAM exchange) ever crosses the network in the clear."""
    return PgError(
        "28000",
        "this server accepts only TLS connections (runtime.tls is set)",
        hint='connect with sslmode=require (psql "sslmode=require host=...", '
        "psycopg/libpq sslmode=require, asyncpg ssl=True, JDBC ssl=true)",
        severity="FATAL",
    )


def _tls_context(runtime: Runtime, base_dir: Path) -> ssl.SSLContext:
    assert runtime.tls is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(base_dir / runtime.tls.cert, base_dir / runtime.tls.key)
    return context


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if peer else ""


def _sender(writer: asyncio.StreamWriter) -> Callable[[bytes], Awaitable[None]]:
    async def send(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    return send


async def _fatal(writer: asyncio.StreamWriter, error: PgError) -> None:
    if _write_fatal(writer, error):
        with contextlib.suppress(ConnectionError, RuntimeError):
            await writer.drain()


def _write_fatal(writer: asyncio.StreamWriter, error: PgError) -> bool:
    """Queue `error` as the connection's last message (closing the writer sends it)."""
    error.severity = "FATAL"
    try:
        writer.write(messages.error_response(error.fields()))
    except (ConnectionError, RuntimeError):
        return False
    return True


def too_many_connections(limit: int) -> PgError:
    return PgError(
        "53300",
        f"sorry, too many clients already (runtime.pg.max_connections is {limit})",
        hint="close idle connections (a connection pool helps), or raise "
        "runtime.pg.max_connections",
        severity="FATAL",
    )
