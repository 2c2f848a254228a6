"""The forms a secret can take in text an agent reads, for tests that it takes none of them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus


def forms(secret: str) -> dict[str, str]:
    """The secret as typed, percent-encoded, JSON-escaped, in hex and in base64 (alone, and as
    the password of a Basic header, where only the part the secret alone decides is kept)."""
    raw = secret.encode()
    shown = {
        "plain": secret,
        "percent-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "json-escaped": json.dumps(secret)[1:-1],
        "hex": raw.hex(),
        "upper-case hex": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "url-safe base64": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    basic = base64.b64encode(b"agent:" + raw).decode()  # "agent:" is 6 bytes: aligned
    shown["basic auth"] = basic[8 : 8 + len(raw) * 4 // 3]
    return shown


def exposed(text: str, *secrets: str) -> list[str]:
    """Which forms of which secrets `text` shows; line breaks do not hide one."""
    joined = "".join(text.split())
    return [
        f"{kind} of {secret!r}"
        for secret in secrets
        for kind, form in forms(secret).items()
        if len(form) >= 4 and ("".join(form.split()) in joined or form in text)
    ]
