"""Who is asking: API keys from sidecar.yaml mapped to identities, shared by every interface.

Keys are compared in constant time so response timing reveals nothing about a key's prefix.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR, resolve_string

if TYPE_CHECKING:  # the config builds on policies (its checks), so only its types come here
    from sidecar.config import Auth

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Identity:
    """Who a request runs as: every stage of the query path (policy, limits, audit) keys on it."""

    name: str
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


ANONYMOUS_IDENTITY = Identity(ANONYMOUS)


class Authenticator:
    def __init__(self, auth: Auth, base_dir: Path) -> None:
        self._keys = [
            (resolve_string(api_key.key.get_secret_value(), base_dir).encode(), api_key.identity)
            for api_key in auth.api_keys
        ]
        for secret, _ in self._keys:  # a key written inline is a secret all the same
            REDACTOR.register(secret.decode())
        self._attributes: dict[str, dict[str, str]] = {}
        for api_key in auth.api_keys:
            self._attributes.setdefault(api_key.identity, {}).update(api_key.attributes)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, key: str | None) -> Identity:
        """The identity holding `key`; anyone when auth is off, else a clear refusal."""
        if not self.enabled:
            return ANONYMOUS_IDENTITY
        if not key:
            raise SidecarError(
                ErrorCode.UNAUTHENTICATED,
                "an API key is required",
                hint="send 'Authorization: Bearer <key>' (or 'X-API-Key: <key>')",
            )
        presented = key.encode()
        match = None
        for secret, identity in self._keys:
            if hmac.compare_digest(presented, secret):
                match = identity
        if match is None:
            raise SidecarError(
                ErrorCode.UNAUTHENTICATED,
                "the API key is not valid",
                hint="check the key configured for this agent under runtime.auth.api_keys",
            )
        return self.identity(match)

    def identity(self, name: str) -> Identity:
        """`name` with its configured attributes, once a login has proven it holds a key."""
        return Identity(name, self._attributes.get(name, {}))

    def keys_for(self, identity: str) -> list[bytes]:
        """The keys `identity` holds, for challenge-response logins (Postgres SCRAM-SHA-256) that
        derive a proof from the key instead of being sent it."""
        wanted = identity.encode()
        return [
            secret for secret, holder in self._keys if hmac.compare_digest(holder.encode(), wanted)
        ]

    def check_password(self, identity: str, password: str) -> Identity:
        """For protocols that send a user name too (Postgres, Flight Basic): both must match."""
        found = self.identify(password)
        if found.name != identity:
            raise SidecarError(
                ErrorCode.UNAUTHENTICATED,
                f'password authentication failed for user "{identity}"',
                hint="the user name is the identity that owns the key",
            )
        return found
