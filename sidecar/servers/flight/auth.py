"""Who is calling: Basic handshake (identity + API key) or a bearer API key on every call.

Flight SQL clients authenticate two ways. ADBC and the JDBC driver, given a user name and a
password, send Handshake with `authorization: Basic ...` and then present the bearer token the
server answered with; agents holding an API key simply send `authorization: Bearer <key>`.

pyarrow only answers Handshake when a ServerAuthHandler is installed, but its handler sees
only the handshake payload, not the headers. So the handler here accepts everything, and the
middleware, which sees the headers of every call (Handshake included), does the checking: it
turns a valid Basic header into a session token sent back in the response headers.

pyarrow gives the middleware no peer address (its CallInfo holds only the method), and the
failed login's audit line needs it: a call the server handles itself keeps its refusal in the
middleware until the handler asks who is calling, with the ServerCallContext (and its peer) in
hand. Only Handshake, whose handler gets no context either, is refused at once, without one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NoReturn

import pyarrow.flight as flight

from policies.identity import Authenticator, Identity
from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway
from sidecar.servers.flight.errors import to_flight
from sidecar.servers.flight.thread_state import hold, let_go
from sidecar.servers.flight.tickets import Handles, UnknownHandle

MIDDLEWARE = "auth"
INTERFACE = "flight"
SESSION_PREFIX = "sidecar-session."
SESSION_TTL = 8 * 3600.0
SESSION_OWNER = ""
# Calls whose handlers ask for the caller (server.py): their refusal waits for the peer.
DEFERRED = frozenset(
    {
        flight.FlightMethod.GET_FLIGHT_INFO,
        flight.FlightMethod.GET_SCHEMA,
        flight.FlightMethod.DO_GET,
        flight.FlightMethod.DO_PUT,
        flight.FlightMethod.DO_ACTION,
        flight.FlightMethod.LIST_ACTIONS,
    }
)


class AcceptHandshake(flight.ServerAuthHandler):
    """Lets Handshake through; AuthMiddleware has already checked the caller by then."""

    def authenticate(self, outgoing: flight.ServerAuthSender, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        """pyarrow asks this first on every call but Handshake: the call's thread state is
        held from here (thread_state.py)."""
        hold()
        return ""


class AuthMiddleware(flight.ServerMiddleware):
    """The caller's identity for the length of one call, and the token to hand back; or why
    the call is refused, told (and audited with the peer) when the handler asks."""

    def __init__(self, identity: Identity | None, token: str | None = None) -> None:
        self._identity = identity
        self._token = token
        self._refusal: tuple[SidecarError, str, Gateway] | None = None

    @classmethod
    def refusing(cls, error: SidecarError, user: str, gateway: Gateway) -> AuthMiddleware:
        middleware = cls(None)
        middleware._refusal = error, user, gateway
        return middleware

    def caller(self, client: str) -> Identity:
        """The identity, or the refusal (audited as a failed login from `client`)."""
        if self._identity is None:
            self._refuse(client)
        return self._identity

    def _refuse(self, client: str) -> NoReturn:
        assert self._refusal is not None
        error, user, gateway = self._refusal
        gateway.auth_failed(INTERFACE, client, user, error.message)
        raise error

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._token}"} if self._token else {}


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):
    def __init__(self, authenticator: Authenticator, gateway: Gateway) -> None:
        self.authenticator = authenticator
        self.gateway = gateway
        self.sessions: Handles[Identity] = Handles(
            "session token",
            "authenticate again with Handshake (user name and API key)",
            SESSION_TTL,
        )

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> AuthMiddleware:
        values = headers.get("authorization") or [""]
        value = values[0].decode() if isinstance(values[0], bytes) else str(values[0])
        scheme, _, credentials = value.strip().partition(" ")
        user = ""
        try:
            if scheme.lower() == "basic":
                user, password = _basic(credentials.strip())
                identity = self._login(user, password)
                return AuthMiddleware(identity, self._session(identity))
            key = credentials.strip() if scheme.lower() == "bearer" else None
            return AuthMiddleware(self._bearer(key))
        except SidecarError as error:
            if info.method in DEFERRED:
                return AuthMiddleware.refusing(error, user, self.gateway)
            self.gateway.auth_failed(INTERFACE, "", user, error.message)
            let_go()  # the call ends here, uncompleted
            raise to_flight(error) from None

    def _login(self, user: str, password: str) -> Identity:
        if not self.authenticator.enabled:
            return self.authenticator.identify(None)
        return self.authenticator.check_password(user, password)

    def _session(self, identity: Identity) -> str:
        handle = self.sessions.issue(SESSION_OWNER, identity)
        return SESSION_PREFIX + base64.urlsafe_b64encode(handle).decode().rstrip("=")

    def _bearer(self, key: str | None) -> Identity:
        if key is None or not key.startswith(SESSION_PREFIX):
            return self.authenticator.identify(key)
        encoded = key.removeprefix(SESSION_PREFIX)
        try:
            handle = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            return self.sessions.get(handle, SESSION_OWNER)
        except (binascii.Error, ValueError, UnknownHandle):
            raise SidecarError(
                ErrorCode.UNAUTHENTICATED,
                "the session token is unknown or expired",
                hint=f"authenticate again with Handshake; sessions last {SESSION_TTL:g}s idle",
            ) from None


def _basic(credentials: str) -> tuple[str, str]:
    """The user name and password of a Basic authorization header."""
    try:
        padded = credentials + "=" * (-len(credentials) % 4)
        user, _, password = base64.b64decode(padded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SidecarError(
            ErrorCode.UNAUTHENTICATED,
            "malformed Basic authorization header",
            hint="send base64('<identity>:<API key>')",
        ) from None
    return user, password
