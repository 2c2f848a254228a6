"""The JSONPath subset APIs need to point at their records: keys, indexes and wildcards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connectors.base import SourceError

STEP = re.compile(
    r"\.\*|\[\*\]"
    r"|\.(?P<name>[^.\[\]]+)"
    r"|\[(?P<index>-?\d+)\]"
    r"|\['(?P<single>[^']*)'\]"
    r'|\["(?P<double>[^"]*)"\]'
)


@dataclass(frozen=True)
class JsonPath:
    """A parsed path: each step is a key (str), an index (int) or None for a wildcard.

    Recursive descent and filters are left out on purpose: a response's records live at a fixed
    place.
    """

    text: str
    steps: tuple[str | int | None, ...]

    def find(self, document: Any) -> list[Any]:
        matches = [document]
        for step in self.steps:
            matches = [found for match in matches for found in _step(match, step)]
        return matches


def _step(value: Any, step: str | int | None) -> list[Any]:
    if step is None:
        if isinstance(value, list):
            return value
        return list(value.values()) if isinstance(value, dict) else []
    if isinstance(step, int):
        in_range = isinstance(value, list) and -len(value) <= step < len(value)
        return [value[step]] if in_range else []
    return [value[step]] if isinstance(value, dict) and step in value else []


def parse_json_path(text: str, where: str) -> JsonPath:
    if not isinstance(text, str) or not text.startswith("$"):
        raise SourceError(f"{where} must be a JSONPath starting with '$', e.g. $.data")
    steps: list[str | int | None] = []
    position = 1
    while position < len(text):
        match = STEP.match(text, position)
        if match is None:
            raise SourceError(
                f"{where} '{text}' is not supported at position {position}; "
                "use $, $.a.b, $.a[0], $.a[*] or $['key with space']"
            )
        steps.append(_step_of(match))
        position = match.end()
    return JsonPath(text, tuple(steps))


def _step_of(match: re.Match[str]) -> str | int | None:
    if match.group("index") is not None:
        return int(match.group("index"))
    for group in ("name", "single", "double"):
        if match.group(group) is not None:
            return match.group(group)
    return None
