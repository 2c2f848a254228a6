"""What of a request may be shown: the API is someone else's, and its answers may echo our
credentials back.

Errors show the request line with secret-looking query values masked and every configured
credential scrubbed, so a source error is safe to hand to the agent even without the
process-wide redactor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import unquote_plus

import httpx

from connectors.options import looks_secret

MASK = "***"
EXCERPT_CHARS = 200
WORD_END = re.compile(r"[^\s\"',;:()\[\]{}<>]*$")  # the last, possibly cut, word of a text


def redact_url(url: httpx.URL) -> str:
    """The URL to show in messages: no userinfo, and secret-looking query values masked."""
    base = str(url.copy_with(userinfo=b"", query=None, fragment=None))
    query = url.query.decode("ascii", "replace")
    if not query:
        return base
    shown = []
    for pair in query.split("&"):
        name, sep, _ = pair.partition("=")
        shown.append(f"{name}={MASK}" if sep and looks_secret(unquote_plus(name)) else pair)
    return f"{base}?{'&'.join(shown)}"


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def secrets_of(headers: Mapping[str, str], url: httpx.URL) -> tuple[str, ...]:
    """Every configured value that could be a credential, longest first so none leaks partly.

    All header values count, because headers are where APIs take credentials and a custom
    header's name says nothing reliable; the bare token of `Bearer <token>` counts on its own
    because error bodies often echo just the token.
    """
    values: set[str] = set()
    for value in headers.values():
        values.add(value)
        values.update(value.split()[-1:])
    values.update(value for name, value in url.params.multi_items() if looks_secret(name))
    if url.password:
        values.add(url.password)
    return tuple(sorted((v for v in values if len(v) >= 4), key=len, reverse=True))


def excerpt(text: str) -> str:
    """An answer's text shortened for a message: whitespace collapsed, at most 200 characters.

    The cut never splits a word: an echoed credential is either whole, where redaction finds
    it, or not there at all, never its first half."""
    collapsed = " ".join(text.split())
    if len(collapsed) <= EXCERPT_CHARS:
        return collapsed
    return WORD_END.sub("", collapsed[: EXCERPT_CHARS + 1]).rstrip() + "…"
