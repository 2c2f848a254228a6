"""From a pod to the JSONPatch that gives it a sidecar: the one decision `serve` and `render`
share.

The patch only adds. It adds the sidecar, the egress lock, their volumes and, to the agent's
own containers, environment variables they do not set themselves; nothing it did not add is
changed or removed. A pod that already has the sidecar gets no second one (the webhook may be
called again after other webhooks, `reinvocationPolicy: IfNeeded`), only the environment for
containers added since.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from sidecar.inject import containers
from sidecar.inject.annotations import (
    Denied,
    Injection,
    check_image,
    read_injection,
    wants_injection,
)
from sidecar.inject.patch import Operation, add, pointer
from sidecar.inject.settings import Settings

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
ESCAPING_CAPABILITIES = {"ALL", "NET_ADMIN", "SETUID"}


class Injector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def patch(self, pod: Mapping[str, Any], *, namespace_opted_in: bool = False) -> list[Operation]:
        """The operations for `pod`; none when it does not ask for a sidecar or already has
        all of it. Raises Denied when it asks for one and cannot have it as it is."""
        metadata = pod.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        if not wants_injection(annotations, namespace_opted_in):
            return []
        injection = read_injection(annotations, self.settings)
        spec = pod.get("spec") or {}
        if injection.egress_lock:
            self._check_lockable(spec)
        operations = self._agent_env(spec, injection)
        existing = _find(spec, containers.SIDECAR)
        if existing is None:
            _check_free_names(spec)
            operations += self._add(spec, annotations, injection)
        else:
            self._check_injected(spec, existing, injection)
        return operations

    def _add(
        self, spec: Mapping[str, Any], annotations: Mapping[str, Any], injection: Injection
    ) -> list[Operation]:
        sidecar = containers.sidecar_container(self.settings, injection)
        first = []
        if injection.egress_lock:
            first.append(containers.egress_lock_container(self.settings, injection))
        if self.settings.native:
            first.append(sidecar)
        operations = _prepend(spec, "initContainers", first)
        if not self.settings.native:
            operations += _prepend(spec, "containers", [sidecar])
            agents = spec.get("containers") or []
            if agents and DEFAULT_CONTAINER not in annotations:
                # kubectl logs/exec pick the first container: keep that the agent.
                operations += _add_annotation(annotations, DEFAULT_CONTAINER, agents[0]["name"])
        operations += _append(spec, "volumes", containers.volumes(injection))
        return operations

    def _agent_env(self, spec: Mapping[str, Any], injection: Injection) -> list[Operation]:
        """Each agent container gets the variables it does not already set: its own win."""
        wanted = containers.agent_env(self.settings, injection)
        operations: list[Operation] = []
        for index, container in enumerate(spec.get("containers") or []):
            if container.get("name") in containers.CONTAINER_NAMES:
                continue
            env = container.get("env") or []
            present = {variable.get("name") for variable in env}
            missing = [variable for variable in wanted if variable["name"] not in present]
            if not missing:
                continue
            path = pointer("spec", "containers", index, "env")
            if env:
                operations += [add(path + "/-", variable) for variable in missing]
            else:
                operations.append(add(path, missing))
        return operations

    def _check_lockable(self, spec: Mapping[str, Any]) -> None:
        """The lock lets exactly one user out: no agent container may be, or become, it."""
        uid = self.settings.uid
        if spec.get("hostNetwork"):
            raise Denied(
                "the egress lock cannot be used with hostNetwork: true (its rules would change "
                "the node's own firewall); remove hostNetwork or the egress-lock annotation"
            )
        if (spec.get("securityContext") or {}).get("runAsUser") == uid:
            raise Denied(
                f"the pod's securityContext.runAsUser is {uid}, the sidecar's user, which the "
                "egress lock lets out: run the agent as another user"
            )
        for container in _agents(spec):
            name, context = container.get("name"), container.get("securityContext") or {}
            if context.get("runAsUser") == uid:
                raise Denied(
                    f"container {name} runs as user {uid}, the sidecar's user, which the egress "
                    "lock lets out: run it as another user"
                )
            added = set((context.get("capabilities") or {}).get("add") or [])
            if context.get("privileged") or added & ESCAPING_CAPABILITIES:
                raise Denied(
                    f"container {name} is privileged or adds {', '.join(sorted(added))}, which "
                    "could lift the egress lock: drop those or the egress-lock annotation"
                )

    def _check_injected(
        self, spec: Mapping[str, Any], sidecar: Mapping[str, Any], injection: Injection
    ) -> None:
        """An existing sidecar (rendered offline, or from an earlier call) is accepted as it is,
        except where the egress lock depends on it: then it must be exactly ours."""
        check_image(str(sidecar.get("image")), self.settings, f"container {containers.SIDECAR}")
        if not injection.egress_lock:
            return
        injection = dataclasses.replace(injection, image=str(sidecar.get("image")))
        expected = containers.sidecar_container(self.settings, injection)
        expected_lock = containers.egress_lock_container(self.settings, injection)
        init = spec.get("initContainers") or []
        lock = init[0] if init else {}
        if any(
            actual.get(field) != wanted[field]
            for actual, wanted in ((sidecar, expected), (lock, expected_lock))
            for field in ("name", "image", "command", "securityContext")
        ):
            raise Denied(
                f"the pod already has a {containers.SIDECAR} container, but not the sidecar and "
                f"first init container {containers.EGRESS_LOCK} this injector adds for the egress "
                f"lock: remove both from the pod (or render it again with `sidecar inject render`)"
            )


def _agents(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if container.get("name") not in containers.CONTAINER_NAMES:
                yield container


def _find(spec: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if container.get("name") == name:
                return container
    return None


def _check_free_names(spec: Mapping[str, Any]) -> None:
    for name in containers.CONTAINER_NAMES:
        if _find(spec, name) is not None:
            raise Denied(f"the pod has a container named {name}, which the injector adds: rename")
    for volume in spec.get("volumes") or []:
        if volume.get("name") in containers.VOLUME_NAMES:
            raise Denied(
                f"the pod has a volume named {volume['name']}, which the injector adds: rename it"
            )


def _prepend(spec: Mapping[str, Any], key: str, items: list[Any]) -> list[Operation]:
    if not items:
        return []
    if not spec.get(key):
        return [add(pointer("spec", key), items)]
    return [add(pointer("spec", key, index), item) for index, item in enumerate(items)]


def _append(spec: Mapping[str, Any], key: str, items: list[Any]) -> list[Operation]:
    if not spec.get(key):
        return [add(pointer("spec", key), items)]
    return [add(pointer("spec", key, "-"), item) for item in items]


def _add_annotation(annotations: Mapping[str, Any], key: str, value: str) -> list[Operation]:
    if not annotations:
        return [add(pointer("metadata", "annotations"), {key: value})]
    return [add(pointer("metadata", "annotations", key), value)]
