"""Helpers every database connector needs around its `params`: secrets and suggestions.

Params arrive with `${env:..}` / `${file:..}` secrets already resolved, so anything a connector
says about them (errors, source keys, EXPLAIN) must be scrubbed of the password first.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable

URI_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)@")


def fingerprint(secret: object) -> str:
    """A stable stand-in for a secret in keys that are compared but never shown."""
    if secret in (None, ""):
        return "-"
    return hashlib.sha256(str(secret).encode()).hexdigest()[:16]


def scrub(message: str, secrets: Iterable[object]) -> str:
    """The message without the passwords, and without the password of any URI in it."""
    message = URI_PASSWORD.sub(r"\1***@", message)
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 3:
            message = message.replace(secret, "***")
    return message


def close_names(name: str, names: Iterable[str], what: str) -> str:
    """'did you mean x? tables in shop: a, b, c' for a hint."""
    known = sorted(names)
    close = difflib.get_close_matches(name, known, n=1) or difflib.get_close_matches(
        name.lower(), [k.lower() for k in known], n=1
    )
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    listing = f"{what}: {shown}" if known else f"{what}: (none)"
    return f"did you mean {close[0]}? {listing}" if close else listing
