"""Helpers every database connector needs around its `params`: secrets and suggestions.

Params arrive with `${env:..}` / `${file:..}` secrets already resolved, so anything a connector
says about them (errors, source keys, EXPLAIN) must be scrubbed of the password first.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus

URI_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)@")
# `name=value` in a URL's query, a libpq DSN (`host=db password=x`) or an ODBC string (`PWD=x;`).
QUERY_PAIR = re.compile(r"(?:^|[?&;\s])([^=&#\s;]+)=([^&#\s;]*)")
SQLSTATE = re.compile(r"[.\s]*SQLSTATE:? ?([0-9A-Z]{5})\s*$")
ECHO_LINE = re.compile(r"(?m)^LINE \d+: .*\n[ \t]*\^[ \t]*(?:\n|$)")
QUERY_WAS = re.compile(r"\s*(?:Query was:|\[SQL: )")
# MySQL's and MariaDB's syntax errors quote the statement from where parsing stopped to its end.
NEAR = re.compile(r"\s+near '.*' (at line \d+)$", re.DOTALL)
BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")
# Words that make a URL query parameter's value a credential (`?api_key=`, `&sig=`).
SECRET_PARTS = frozenset(
    {"token", "key", "secret", "password", "passwd", "pwd", "signature", "sig", "auth"}
)
SECRET_FRAGMENTS = ("token", "secret", "password", "apikey", "signature", "credential")
# A param's name holding one of these (separators dropped) makes its value a credential;
# stricter than a query's, since `primary_key` or `keyword` params hold names, not secrets.
PARAM_FRAGMENTS = (*SECRET_FRAGMENTS, "passwd", "accesskey", "accountkey", "privatekey")


def looks_secret(name: str) -> bool:
    """Whether a URL query parameter named `name` carries a credential."""
    lowered = name.lower()
    parts = re.split(r"[^a-z0-9]+", lowered)
    return any(part in SECRET_PARTS for part in parts) or any(
        fragment in lowered for fragment in SECRET_FRAGMENTS
    )


def configured_secrets(params: Mapping[str, Any], location: str = "") -> set[str]:
    """Every credential a dataset's config holds, however it was written (inline or as a
    `${env:..}` reference): values of secret-named params (password, token, secret_access_key,
    access_key_id, `s3.secret-access-key`, ...), every header value (and a `Bearer` header's
    bare token), the password of any URI and secret-looking query values of any URL, the
    location's included. Registered with the process-wide redactor, no later message,
    wherever it comes from, can carry one."""
    found: set[str] = set()

    def walk(name: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if name.lower() == "headers" and isinstance(item, str):
                    found.update((item, *item.split()[-1:]))
                walk(str(key), item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(name, item)
        elif isinstance(value, str):
            squeezed = re.sub(r"[^a-z0-9]", "", name.lower())
            if any(fragment in squeezed for fragment in PARAM_FRAGMENTS):
                found.add(value)
            for match in URI_PASSWORD.finditer(value):  # as written and as the server gets it
                found.update((match.group(2), unquote(match.group(2))))
            for key, item in QUERY_PAIR.findall(value):
                if looks_secret(unquote_plus(key)):
                    found.update((item, unquote_plus(item)))

    walk("", params)
    walk("", location)
    return {value for value in found if value}


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


def unechoed(message: str) -> str:
    """A driver's error without the statement it quotes back: libpq's `LINE n:` excerpt and
    its caret, ADBC's `Query was: ...`, SQLAlchemy's `[SQL: ...]` and `[parameters: ...]`
    (and its link to background reading), MySQL's `near '...'` (its `at line n` kept). The
    statement is the sidecar's (the agent's query as pushed, a view's body, an access policy's
    row filter, a catalog's own query): the agent needs what failed, not the text it was sent
    in. The SQLSTATE, which ADBC puts after the
    statement, is kept."""
    states = SQLSTATE.findall(message)
    text = BACKGROUND.sub("", ECHO_LINE.sub("", message))
    text = QUERY_WAS.split(text, maxsplit=1)[0]
    text = NEAR.sub(r" \1", text)
    text = SQLSTATE.sub("", text)
    text = re.sub(r"\n\s*\n", "\n", text).strip().rstrip(".")
    return f"{text} (SQLSTATE {states[-1]})" if states else text


def close_names(name: str, names: Iterable[str], what: str) -> str:
    """'did you mean x? tables in shop: a, b, c' for a hint."""
    known = sorted(names)
    close = difflib.get_close_matches(name, known, n=1) or difflib.get_close_matches(
        name.lower(), [k.lower() for k in known], n=1
    )
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    listing = f"{what}: {shown}" if known else f"{what}: (none)"
    return f"did you mean {close[0]}? {listing}" if close else listing
