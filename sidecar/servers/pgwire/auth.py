"""Login: SCRAM-SHA-256 (RFC 7677) when API keys are configured, cleartext if asked, else trust.

The user name is the identity and the password is its API key. With SCRAM the key never crosses
the wire; the server derives the verifier from the key it already holds. An unknown user gets the
same exchange (with a stable per-user salt) and the same final refusal as a wrong key, so neither
timing nor salts reveal which identities exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Literal

from policies.identity import ANONYMOUS_IDENTITY, Authenticator, Identity
from sidecar.errors import SidecarError
from sidecar.servers.pgwire import messages
from sidecar.servers.pgwire.errors import INVALID_PASSWORD, PROTOCOL_VIOLATION, PgError
from sidecar.servers.pgwire.messages import Body

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096
Method = Literal["scram-sha-256", "password"]
Receive = Callable[[], Awaitable[tuple[str, Body]]]
Send = Callable[[bytes], Awaitable[None]]


class Login:
    """The server's half of every login; holds the per-process salt secret and derived keys."""

    def __init__(self, authenticator: Authenticator, method: Method) -> None:
        self.authenticator = authenticator
        self.method = method
        self._secret = secrets.token_bytes(32)
        self._salted: dict[tuple[bytes, bytes], bytes] = {}
        self._decoy = secrets.token_bytes(32)

    async def authenticate(self, user: str, receive: Receive, send: Send) -> Identity:
        if not self.authenticator.enabled:
            await send(messages.authentication(messages.AUTH_OK))
            return ANONYMOUS_IDENTITY
        if self.method == "password":
            identity = await self._cleartext(user, receive, send)
        else:
            identity = await self._scram(user, receive, send)
        await send(messages.authentication(messages.AUTH_OK))
        return identity

    async def _cleartext(self, user: str, receive: Receive, send: Send) -> Identity:
        await send(messages.authentication(messages.AUTH_CLEARTEXT))
        body = await _password_message(receive)
        password = body.cstring()
        try:
            return self.authenticator.check_password(user, password)
        except SidecarError:
            raise _refused(user) from None

    async def _scram(self, user: str, receive: Receive, send: Send) -> Identity:
        await send(messages.authentication(messages.AUTH_SASL, MECHANISM.encode() + b"\0\0"))
        initial = await _password_message(receive)
        if initial.cstring() != MECHANISM:
            raise PgError(PROTOCOL_VIOLATION, "unsupported SASL mechanism", severity="FATAL")
        size = initial.int32()
        client_first = initial.bytes(size).decode("utf-8", "replace") if size >= 0 else ""
        header, bare, client_nonce = _client_first(client_first)

        salt = hmac.new(self._secret, user.encode(), hashlib.sha256).digest()[:16]
        nonce = client_nonce + base64.b64encode(secrets.token_bytes(18)).decode()
        server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={ITERATIONS}"
        await send(messages.authentication(messages.AUTH_SASL_CONTINUE, server_first.encode()))

        final = (await _password_message(receive)).rest().decode("utf-8", "replace")
        without_proof, _, proof_text = final.rpartition(",p=")
        attributes = dict(part.split("=", 1) for part in without_proof.split(",") if "=" in part)
        if (
            attributes.get("c") != base64.b64encode(header.encode()).decode()
            or attributes.get("r") != nonce
        ):
            raise _refused(user)
        try:
            proof = base64.b64decode(proof_text, validate=True)
        except ValueError:
            raise _refused(user) from None
        message = f"{bare},{server_first},{without_proof}".encode()
        candidates = [self._salted_password(k, salt) for k in self.authenticator.keys_for(user)]
        matched = None
        for salted in candidates or [self._decoy]:
            if _verify(salted, message, proof):
                matched = salted
        if matched is None:
            raise _refused(user)
        server_key = hmac.new(matched, b"Server Key", hashlib.sha256).digest()
        signature = hmac.new(server_key, message, hashlib.sha256).digest()
        verifier = b"v=" + base64.b64encode(signature)
        await send(messages.authentication(messages.AUTH_SASL_FINAL, verifier))
        return self.authenticator.identity(user)

    def _salted_password(self, key: bytes, salt: bytes) -> bytes:
        """PBKDF2 costs milliseconds; each key is derived once per process, not per login (an
        unknown user is checked against a decoy instead, so no derivation is timed either way)."""
        cached = self._salted.get((key, salt))
        if cached is None:
            cached = hashlib.pbkdf2_hmac("sha256", key, salt, ITERATIONS)
            self._salted[(key, salt)] = cached
        return cached


def _verify(salted: bytes, message: bytes, proof: bytes) -> bool:
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    signature = hmac.new(stored_key, message, hashlib.sha256).digest()
    if len(proof) != len(signature):
        return False
    recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    return hmac.compare_digest(hashlib.sha256(recovered).digest(), stored_key)


def _client_first(text: str) -> tuple[str, str, str]:
    """gs2 header, client-first-bare and the client nonce of 'n,,n=user,r=nonce'."""
    flag, _, rest = text.partition(",")
    authzid, _, bare = rest.partition(",")
    if flag.startswith("p="):
        raise PgError(
            PROTOCOL_VIOLATION,
            "channel binding is not offered by this server",
            severity="FATAL",
        )
    if flag not in ("n", "y") or authzid:
        raise PgError(PROTOCOL_VIOLATION, "malformed SCRAM message", severity="FATAL")
    attributes = dict(part.split("=", 1) for part in bare.split(",") if "=" in part)
    if "r" not in attributes or not attributes["r"]:
        raise PgError(PROTOCOL_VIOLATION, "malformed SCRAM message", severity="FATAL")
    return f"{flag},{authzid},", bare, attributes["r"]


async def _password_message(receive: Receive) -> Body:
    kind, body = await receive()
    if kind != "p":
        raise PgError(
            PROTOCOL_VIOLATION,
            f"expected a password message, got message type {kind!r}",
            severity="FATAL",
        )
    return body


def _refused(user: str) -> PgError:
    return PgError(
        INVALID_PASSWORD,
        f'password authentication failed for user "{user}"',
        hint="the user name is the identity and the password its API key (runtime.auth.api_keys)",
        severity="FATAL",
    )
