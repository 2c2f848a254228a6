"""Secret references in sidecar.yaml, and the redactor that keeps their values out of output.

Values like `${env:TOKEN}` or `${file:/run/secrets/pw}` are resolved only when a connector is
built. Every resolved value is registered with the process-wide `REDACTOR`, as are the API keys
and every credential a dataset's params hold inline (`connectors.options.configured_secrets`).
Servers, the gateway's audit and the CLI run it over every message they emit, and every log
record of the process passes through it as it is made, so a source error that echoes a URL or
a header can never carry a secret back to the agent or into a log.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REFERENCE = re.compile(r"\$\{(env|file):([^}]+)\}")
MASK = "***"
RECENT_TEXTS = 256  # redacted texts kept (Redactor.redact), each at most RECENT_LENGTH long
RECENT_LENGTH = 4096
# JSON's short escapes: the letter after the backslash (`\/` is how some encoders write "/").
# Where a wrapped message split the secret: a line break and the next line's indentation, as
# sent, JSON-escaped (`\n` in a body quoted whole) or collapsed to one space (an error's
# excerpt of a body joins its lines).
BREAK = r"(?:\r?\n[ \t]*|(?:\\+r)?\\+n[ \t]*| )?"
URL_SAFE = str.maketrans("+/", "-_")
JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "\b": "b",
    "\f": "f",
    "\n": "n",
    "\r": "r",
    "\t": "t",
}


class SecretError(ValueError):
    """A referenced secret is missing; the message names the reference, never a value."""


class Redactor:
    """Replaces every known secret value with a mask, in every form the value can take.

    A secret rarely leaves the process as typed: a URL carries it percent-encoded (either
    style, either hex case), a JSON body escapes it, a Basic header hides it inside the
    base64 of `user:secret` (a JWT or a URL inside its URL-safe base64), a Python repr
    escapes it, a dump shows its bytes in hex, a wrapped message breaks it across lines (and
    a JSON body or an excerpt of it shows that break escaped, or as one space). Each
    registered value becomes one pattern in which every character may appear in any of those
    encodings, and a line break may come between any two, so a mixture (`q%2fS3cr3t+...`) is
    masked as surely as the value itself.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        # Short texts redacted lately, by text: the audit redacts every statement's SQL, and
        # agents send the same few texts over and over (20 us a lookup with two secrets).
        self._recent: dict[str, str] = {}

    def register(self, value: str) -> None:
        if len(value) >= 4:
            with self._lock:
                if value not in self._values:
                    self._values.add(value)
                    self._pattern = None
                    self._recent = {}

    @property
    def active(self) -> bool:
        """Whether any secret is registered (else redacting changes nothing)."""
        return bool(self._values)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The one pattern every form of every secret is matched by (None without secrets)."""
        return self._compiled()

    def redact(self, text: str) -> str:
        recent = self._recent
        done = recent.get(text)
        if done is not None:
            return done
        pattern = self._compiled()
        if pattern is None:
            return text
        done = pattern.sub(MASK, text)
        if len(text) <= RECENT_LENGTH:
            if len(recent) >= RECENT_TEXTS:
                recent.clear()
            recent[text] = done
        return done

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                forms = {form for value in self._values for form in _forms(value)}
                ordered = sorted(forms, key=len, reverse=True)
                alternatives = "|".join(_encoded(form) for form in ordered)
                self._pattern = re.compile(f"(?={_starts(ordered)})(?:{alternatives})")
            return self._pattern


def _forms(value: str) -> list[str]:
    """The value, its bytes in hex, and the base64 text (standard and URL-safe) that stands
    for it inside any `base64(prefix + value)`.

    Base64 turns 3 bytes into 4 characters, so where the value starts in the encoded whole
    depends only on the prefix's length modulo 3: for each of the three alignments, the
    characters that the value alone determines are the same whatever the prefix (a Basic
    header's user name) and whatever follows. Those are masked; the one or two characters
    after them mix the value's last bits with what follows and carry too little to matter,
    and leaving them out keeps the pattern, and every redaction, a third of the size.
    """
    raw = value.encode()
    forms = {value, raw.hex(), raw.hex().upper()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        whole = shift + len(raw)
        determined = encoded[(0, 2, 3)[shift] : (whole // 3) * 4 + (0, 1, 2)[whole % 3]]
        forms |= {determined, determined.translate(URL_SAFE)}
    return [form for form in forms if len(form) >= 4]


def _starts(forms: list[str]) -> str:
    """A class of the characters a match can begin with: a form's first character as it is,
    or an encoding's first (`%` escapes, `+` for a space, backslash escapes). Checked first at
    each position, it spares the hundreds of alternatives wherever no secret can begin: a
    megabyte of SQL took a second per few secrets (five seconds with the five keys of a small
    deployment, holding the GIL while every interface waited), now about a hundredth of that."""
    starts = {form[0] for form in forms} | {"%", "+", "\\"}
    return "[" + "".join(re.escape(char) for char in sorted(starts)) + "]"


def _encoded(text: str) -> str:
    return BREAK.join(_character(char) for char in text)


def _character(char: str) -> str:
    """A regex for one character in any of the encodings a secret meets on its way out.

    Backslash escapes may be doubled (`\\\\u0026`): a JSON error body quoted inside another
    JSON document, as APIs and proxies do, escapes the escapes again.
    """
    options = [re.escape(char), "".join(f"%{_hex(byte, 2)}" for byte in char.encode())]
    if char == " ":
        options.append(r"\+")
    point = ord(char)
    if point < 0x10000:
        options.append(rf"\\+u{_hex(point, 4)}")
    else:
        high, low = divmod(point - 0x10000, 0x400)
        options.append(rf"\\+u{_hex(0xD800 + high, 4)}\\+u{_hex(0xDC00 + low, 4)}")
    if point < 0x100:
        options.append(rf"\\+x{_hex(point, 2)}")
    if char in JSON_ESCAPES:
        options.append(r"\\+" + re.escape(JSON_ESCAPES[char]))
    return "(?:" + "|".join(options) + ")"


def _hex(number: int, width: int) -> str:
    """`number` in hexadecimal, matching upper- and lower-case digits."""
    return "".join(
        f"[{digit.lower()}{digit.upper()}]" if digit.isalpha() else digit
        for digit in f"{number:0{width}x}"
    )


REDACTOR = Redactor()


def _redacting(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """Every log record of the process, redacted as it is made: a library's own lines (httpx
    logs each request's URL at INFO, query string and all) are as safe as the sidecar's.
    Records are made only for enabled levels, so a quiet logger costs nothing here."""

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made = make(*args, **kwargs)
        if REDACTOR.active:
            try:
                message = made.getMessage()
            except (TypeError, ValueError):  # logging reports a malformed call itself
                return made
            made.msg, made.args = REDACTOR.redact(message), None
            if made.exc_info and made.exc_text is None:
                made.exc_text = REDACTOR.redact(logging.Formatter().formatException(made.exc_info))
        return made

    return record


logging.setLogRecordFactory(_redacting(logging.getLogRecordFactory()))


def has_reference(value: str) -> bool:
    return REFERENCE.search(value) is not None


def resolve_string(value: str, base_dir: Path) -> str:
    def substitute(match: re.Match[str]) -> str:
        kind, target = match.group(1), match.group(2).strip()
        if kind == "env":
            if target not in os.environ:
                raise SecretError(
                    f"environment variable {target} is not set (from ${{env:{target}}})"
                )
            secret = os.environ[target]
        else:
            path = Path(target) if Path(target).is_absolute() else base_dir / target
            try:
                secret = path.read_text().strip()
            except OSError as error:
                raise SecretError(
                    f"cannot read secret file {target}: {error.strerror or error}"
                ) from None
        REDACTOR.register(secret)
        return secret

    return REFERENCE.sub(substitute, value)


def resolve(value: Any, base_dir: Path) -> Any:
    """Resolve references anywhere inside a params tree (strings, lists, mappings)."""
    if isinstance(value, str):
        return resolve_string(value, base_dir)
    if isinstance(value, Mapping):
        return {key: resolve(item, base_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, base_dir) for item in value]
    return value
