"""RFC 6902 JSONPatch, as much as injection needs: `add` operations and their application.

The webhook answers with the operations; `render` applies the same operations itself, so
the offline output is the admission result by construction.
"""

from __future__ import annotations

import copy
from typing import Any

Operation = dict[str, Any]


def pointer(*parts: str | int) -> str:
    """An RFC 6901 JSON pointer; '~' and '/' in keys (annotation names) are escaped."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def add(path: str, value: Any) -> Operation:
    return {"op": "add", "path": path, "value": value}


def apply(document: Any, operations: list[Operation]) -> Any:
    """A patched copy of `document`; the original is left as it was."""
    result = copy.deepcopy(document)
    for operation in operations:
        if operation.get("op") != "add":
            raise ValueError(f"unsupported JSONPatch operation {operation.get('op')!r}")
        *parents, last = [unescape(part) for part in operation["path"].split("/")[1:]]
        target = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        value = copy.deepcopy(operation["value"])
        if isinstance(target, list):
            target.insert(len(target) if last == "-" else int(last), value)
        else:
            target[last] = value
    return result


def unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")
