"""Secret references in sidecar.yaml, and the redactor that keeps their values out of output.

Values like `${env:TOKEN}` or `${file:/run/secrets/pw}` are resolved only when a connector is
built. Every resolved value is registered with the process-wide `REDACTOR`, which servers and
the CLI run over every message they emit, so a source error that echoes a URL or a header can
never carry the secret back to the agent.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REFERENCE = re.compile(r"\$\{(env|file):([^}]+)\}")
MASK = "***"


class SecretError(ValueError):
    """A referenced secret is missing; the message names the reference, never a value."""


class Redactor:
    """Replaces every known secret value with a mask."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        if len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def redact(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text


REDACTOR = Redactor()


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
