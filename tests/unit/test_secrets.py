"""The redactor masks a secret in every form it takes on its way out of the process."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from connectors.options import configured_secrets
from connectors.web.redact import excerpt
from sidecar.secrets import MASK, Redactor

SECRET = "q/S3cr3t+v@l&x=1"


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), text)


def basic(user: str, secret: str, padded: bool = True) -> str:
    encoded = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return encoded if padded else encoded.rstrip("=")


ENCODINGS = {
    "raw": SECRET,
    "quote": quote(SECRET),
    "quote, nothing safe": quote(SECRET, safe=""),
    "quote_plus": quote_plus(SECRET),
    "lower-case hex": lower_hex(quote_plus(SECRET)),
    "json": json.dumps(SECRET)[1:-1],
    "json, escaped slash and ampersand": json.dumps(SECRET)[1:-1]
    .replace("/", "\\/")
    .replace("&", "\\u0026"),
    "json, all escaped": "".join(f"\\u{ord(c):04x}" for c in SECRET),
    "json in json": json.dumps(json.dumps(SECRET).replace("&", "\\u0026"))[1:-1],
    "python repr": repr(SECRET.encode())[2:-1],
    **{
        f"basic auth, user of {len(user)}": basic(user, SECRET)
        for user in ("a", "ag", "age", "agent")
    },
    "basic auth without padding": basic("agent", SECRET, padded=False),
    "hex": SECRET.encode().hex(),
    "upper-case hex": SECRET.encode().hex().upper(),
    "split across lines": SECRET[:6] + "\n" + SECRET[6:],
    "wrapped and indented": SECRET[:3] + "\r\n    " + SECRET[3:11] + "\n\t" + SECRET[11:],
    "split, in an excerpt that joined the lines": excerpt(SECRET[:6] + "\n    " + SECRET[6:]),
    "split, in a JSON body": json.dumps(SECRET[:6] + "\r\n  " + SECRET[6:])[1:-1],
    "split, in an excerpt of a JSON body": excerpt(json.dumps(SECRET[:6] + "\n  " + SECRET[6:])),
}


@pytest.mark.parametrize("encoded", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_every_encoding_of_a_secret_is_masked(encoded: str) -> None:
    redactor = Redactor()
    redactor.register(SECRET)
    shown = redactor.redact(f"GET /items?appid={encoded}&page=2 failed")
    assert MASK in shown
    assert encoded not in shown
    assert shown.endswith("&page=2 failed")


def test_a_secret_followed_by_more_text_in_base64_is_masked() -> None:
    """`user:secret:more` base64-encoded: the secret's own characters are still masked."""
    redactor = Redactor()
    redactor.register(SECRET)
    for prefix in ("", "a", "ab"):
        encoded = base64.b64encode(f"{prefix}{SECRET}, and more".encode()).decode()
        shown = redactor.redact(encoded)
        assert MASK in shown and len(shown) < len(encoded) - 12


def test_a_secret_in_url_safe_base64_is_masked() -> None:
    """JWTs and URL parameters carry base64 with `-` and `_` for `+` and `/`."""
    secret = "k3y>>>?~~~?>>>"
    redactor = Redactor()
    redactor.register(secret)
    for prefix in ("", "a", "agent:"):
        encoded = base64.urlsafe_b64encode(f"{prefix}{secret}".encode()).decode().rstrip("=")
        assert "-" in encoded or "_" in encoded
        shown = redactor.redact(encoded)
        assert MASK in shown and len(shown) <= len(encoded) - 12, shown


def test_non_ascii_secrets_in_percent_and_json_encodings() -> None:
    secret = "pässwörd 😀 x"
    redactor = Redactor()
    redactor.register(secret)
    for encoded in (secret, quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]):
        assert redactor.redact(f"<{encoded}>") == f"<{MASK}>"


def test_other_text_is_left_alone() -> None:
    redactor = Redactor()
    redactor.register(SECRET)
    text = "SELECT id FROM items WHERE appid = 'public' -- q/S3cr3t"
    assert redactor.redact(text) == text
    assert Redactor().redact(text) == text


def test_a_text_redacted_again_after_a_new_secret_is_masked_too() -> None:
    redactor = Redactor()
    redactor.register("first-secret")
    text = "SELECT 'first-secret', 'second-secret'"
    assert redactor.redact(text) == f"SELECT '{MASK}', 'second-secret'"
    assert redactor.redact(text) == f"SELECT '{MASK}', 'second-secret'"  # kept
    redactor.register("second-secret")
    assert redactor.redact(text) == f"SELECT '{MASK}', '{MASK}'"


def test_the_credentials_a_dataset_config_holds() -> None:
    """Every credential of a dataset's params and location, whatever its name or nesting, and
    nothing that merely names a column or a key field."""
    params = {
        "password": "pw-1",
        "primary_key": "order_id",
        "keyword": "title",
        "access_key_id": "AKIAEXAMPLE",
        "catalog": {"type": "rest", "s3.secret-access-key": "sk-2", "uri": "http://cat"},
        "headers": {"X-Api": "hdr-3", "Authorization": "Bearer tok-4"},
        "uri": "postgresql://agent:uri-5%40x@db:5432/shop?sslmode=require",
        "dsn": "host=db user=agent password=dsn-6",
        "connection_string": "Server=db;UID=agent;PWD=odbc-7;",
        "basic_auth": {"user": "agent", "password": "basic-8"},
    }
    found = configured_secrets(params, "https://api.example.com/v1/items?page=1&api_key=q%2B9")
    assert found == {
        *("pw-1", "AKIAEXAMPLE", "sk-2", "hdr-3", "Bearer tok-4", "tok-4", "uri-5%40x", "uri-5@x"),
        *("dsn-6", "odbc-7", "basic-8", "q%2B9", "q+9"),
    }
