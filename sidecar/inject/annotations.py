"""The pod annotations that ask for a sidecar, read strictly.

Injection fails closed: a pod that asks for a sidecar but whose annotations are missing,
misspelt or malformed is denied with the annotation to fix, never started without its data
layer or with half of what it asked for (an egress lock silently dropped by a typo).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from sidecar.inject.settings import Settings

PREFIX = "agent-sidecar.io/"
INJECT = PREFIX + "inject"
CONFIG = PREFIX + "config"
SECRETS = PREFIX + "secrets"
API_KEY = PREFIX + "api-key"
IDENTITY = PREFIX + "identity"
IMAGE = PREFIX + "image"
CPU = PREFIX + "cpu"
MEMORY = PREFIX + "memory"
EGRESS_LOCK = PREFIX + "egress-lock"
KNOWN = (INJECT, CONFIG, SECRETS, API_KEY, IDENTITY, IMAGE, CPU, MEMORY, EGRESS_LOCK)

# Kubernetes object names (DNS-1123 subdomains), Secret keys, and quantities.
OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")
IDENTITY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
CPU_QUANTITY = re.compile(r"(\d+(\.\d+)?|\d+m)")
MEMORY_QUANTITY = re.compile(r"\d+(\.\d+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
IMAGE_REFERENCE = re.compile(r"[^\s@]+(@sha256:[0-9a-f]{64})?")


class Denied(ValueError):
    """The pod must not be admitted as it is; the message says what to change."""


@dataclass(frozen=True)
class Injection:
    """What one pod asked for, validated, with the cluster's defaults filled in."""

    config: str
    secrets: str | None
    api_key: str | None
    identity: str
    image: str
    cpu: str | None
    memory: str | None
    egress_lock: bool


def wants_injection(annotations: Mapping[str, str], namespace_opted_in: bool) -> bool:
    """The pod annotation decides; without one, whether the namespace opted in."""
    value = annotations.get(INJECT)
    if value is None:
        return namespace_opted_in
    return flag(annotations, INJECT)


def flag(annotations: Mapping[str, str], key: str) -> bool:
    value = annotations.get(key, "false")
    if value not in ("true", "false"):
        raise Denied(f'annotation {key}: "{value}" is not "true" or "false"; write one of those')
    return value == "true"


def read_injection(annotations: Mapping[str, str], settings: Settings) -> Injection:
    """Every agent-sidecar.io/ annotation checked; the first problem found is the denial."""
    for key in annotations:
        if key.startswith(PREFIX) and key not in KNOWN:
            close = difflib.get_close_matches(key, KNOWN, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise Denied(
                f"unknown annotation {key}: {hint}known: {', '.join(KNOWN)}",
            )
    config = annotations.get(CONFIG) or settings.config
    if not config:
        raise Denied(
            f"the pod asks for an agent sidecar but names no ConfigMap: add the annotation "
            f"{CONFIG}: <name of the ConfigMap holding sidecar.yaml>"
        )
    secrets = annotations.get(SECRETS)
    api_key = annotations.get(API_KEY)
    if api_key is not None and secrets is None:
        raise Denied(
            f"annotation {API_KEY} names a key of the sidecar's Secret, but the pod names no "
            f"Secret: add {SECRETS}: <Secret name>"
        )
    image = annotations.get(IMAGE, settings.image)
    check_image(image, settings, IMAGE)
    return Injection(
        config=matching(annotations, CONFIG, config, OBJECT_NAME, "a ConfigMap name"),
        secrets=secrets and matching(annotations, SECRETS, secrets, OBJECT_NAME, "a Secret name"),
        api_key=api_key and matching(annotations, API_KEY, api_key, SECRET_KEY, "a Secret key"),
        identity=matching(
            annotations,
            IDENTITY,
            annotations.get(IDENTITY, settings.identity),
            IDENTITY_NAME,
            "an identity (letters, digits, '.', '_', '-')",
        ),
        image=image,
        cpu=annotations.get(CPU) and quantity(annotations, CPU, CPU_QUANTITY, "e.g. 250m or 1"),
        memory=annotations.get(MEMORY)
        and quantity(annotations, MEMORY, MEMORY_QUANTITY, "e.g. 512Mi or 2Gi"),
        egress_lock=flag(annotations, EGRESS_LOCK),
    )


def matching(
    annotations: Mapping[str, str], key: str, value: str, pattern: re.Pattern[str], what: str
) -> str:
    if not pattern.fullmatch(value):
        where = f"annotation {key}" if key in annotations else f"the default for {key}"
        raise Denied(f'{where}: "{value}" is not {what}')
    return value


def quantity(
    annotations: Mapping[str, str], key: str, pattern: re.Pattern[str], example: str
) -> str:
    value = annotations[key]
    if not pattern.fullmatch(value) or not any(c in "123456789" for c in value):
        raise Denied(
            f'annotation {key}: "{value}" is not a positive Kubernetes quantity; {example}'
        )
    return value


def check_image(image: str, settings: Settings, where: str) -> None:
    """Only the configured image or an allowed pattern: under the egress lock the sidecar's
    user is the one allowed out, so a pod may not choose what runs as it."""
    if not IMAGE_REFERENCE.fullmatch(image):
        raise Denied(f'{where}: "{image}" is not an image reference')
    allowed = [settings.image, *settings.allowed_images]
    if not any(fnmatchcase(image, pattern) for pattern in allowed):
        raise Denied(
            f'{where}: "{image}" is not an allowed sidecar image; allowed: {", ".join(allowed)} '
            "(the chart's sidecar.image and sidecar.allowedImages)"
        )
