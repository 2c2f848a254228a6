"""Offline injection into manifests, like `istioctl kube-inject`: Pods and every workload with a
pod template, in a multi-document YAML stream or a List.

Running `render` is the request for a sidecar, so a template is injected unless its own
annotation says "false"; the rest (annotations, denials, the patch) is the webhook's code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from sidecar.inject.annotations import Denied
from sidecar.inject.injector import Injector
from sidecar.inject.patch import apply

# Where each kind keeps the pod it runs.
POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}


def render(text: str, injector: Injector) -> str:
    """The manifests in `text` with every pod template injected; others pass unchanged."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise Denied(f"the input is not valid YAML: {error}") from None
    return yaml.safe_dump_all(
        [inject_object(document, injector) for document in documents], sort_keys=False
    )


def inject_object(document: Any, injector: Injector) -> Any:
    if not isinstance(document, dict):
        raise Denied("each YAML document must be a Kubernetes object (a mapping with kind)")
    kind = document.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List")):
        items = document.get("items") or []
        return {**document, "items": [inject_object(item, injector) for item in items]}
    path = POD_TEMPLATES.get(str(kind))
    if path is None:
        return document
    template = _get(document, path)
    if not isinstance(template, dict):
        raise Denied(f"{_describe(document)}: no pod template at {'.'.join(path) or '.'}")
    try:
        operations = injector.patch(template, namespace_opted_in=True)
    except Denied as error:
        raise Denied(f"{_describe(document)}: {error}") from None
    return _set(document, path, apply(template, operations))


def _get(document: dict[str, Any], path: Iterable[str]) -> Any:
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    return {**document, head: _set(document[head], tuple(rest), value)}


def _describe(document: dict[str, Any]) -> str:
    name = (document.get("metadata") or {}).get("name", "<unnamed>")
    return f"{document.get('kind')} {name}"
