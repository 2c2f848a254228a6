"""Helpers every database connector needs for its `params`: validation, durations, secrets.

Params arrive with `${env:..}` / `${file:..}` secrets already resolved, so anything a connector
says about them (errors, source keys, EXPLAIN) must be scrubbed of the password first.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from connectors.base import SourceError, parse_duration

URI_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)@")


def check_known(params: Mapping[str, Any], known: Collection[str], kind: str) -> None:
    """Unknown params fail at startup, naming the closest known one."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        suggestion = f"; did you mean '{close[0]}'?" if close else ""
        raise SourceError(
            f"unknown param '{unknown[0]}' for a {kind} dataset",
            hint=f"known params: {', '.join(sorted(known))}{suggestion}",
        )


def duration(params: Mapping[str, Any], name: str, default: float) -> float:
    value = params.get(name)
    if value is None:
        return default
    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError) as error:
        raise SourceError(f"params.{name}: {error}", hint="e.g. 500ms, 10s or 2m") from None
    if seconds <= 0:
        raise SourceError(f"params.{name} must be positive", hint="e.g. 500ms, 10s or 2m")
    return seconds


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
