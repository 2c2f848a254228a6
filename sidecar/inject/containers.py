"""The containers, volumes and environment an injection adds, as Kubernetes API objects.

The sidecar listens on the pod's loopback only: every container of a pod shares one network
namespace, so the agent reaches it on 127.0.0.1 and nothing outside the pod can. For the same
reason its probes are `exec` probes run inside it (the kubelet's httpGet probes come from the
node, outside the pod's loopback). Secrets reach the sidecar only as environment from the
Secret (`envFrom`) and the agent only as `secretKeyRef`s: no value is ever in the pod spec.
"""

from __future__ import annotations

from typing import Any

from sidecar.config import DATA_DIR_VARIABLE
from sidecar.inject.annotations import Injection
from sidecar.inject.settings import Settings

SIDECAR = "agent-sidecar"
EGRESS_LOCK = "agent-sidecar-egress-lock"
CONFIG_VOLUME = "agent-sidecar-config"
SCRATCH_VOLUME = "agent-sidecar-tmp"
CONTAINER_NAMES = (SIDECAR, EGRESS_LOCK)
VOLUME_NAMES = (CONFIG_VOLUME, SCRATCH_VOLUME)
CONFIG_DIR = "/etc/sidecar"
CONFIG_PATH = f"{CONFIG_DIR}/sidecar.yaml"
LOOPBACK = "127.0.0.1"
SCRATCH_DIR = "/tmp"
DATA_DIR = f"{SCRATCH_DIR}/sidecar"  # runtime.data_dir's default: the ConfigMap is read-only
PROBE = ["python", "-m", "sidecar.inject.probe"]
STARTUP_PERIOD = 2


def sidecar_container(settings: Settings, injection: Injection) -> dict[str, Any]:
    ports = settings.ports
    http = f"http://{LOOPBACK}:{ports.http}"
    container: dict[str, Any] = {
        "name": SIDECAR,
        "image": injection.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": [
            *("sidecar", "run", "-c", CONFIG_PATH, "--host", LOOPBACK),
            *("--http-port", str(ports.http), "--flight-port", str(ports.flight)),
            *("--pg-port", str(ports.pg)),
        ],
    }
    if settings.native:
        container["restartPolicy"] = "Always"
    # The one writable place: DuckDB spills under its working directory, and file-mode copies,
    # search indexes and models live there unless sidecar.yaml's runtime.data_dir says where.
    container["workingDir"] = SCRATCH_DIR
    container["env"] = [{"name": DATA_DIR_VARIABLE, "value": DATA_DIR}]
    if injection.secrets:
        container["envFrom"] = [{"secretRef": {"name": injection.secrets}}]
    container["startupProbe"] = {
        "exec": {"command": [*PROBE, f"{http}/v1/ready"]},
        "periodSeconds": STARTUP_PERIOD,
        "timeoutSeconds": 5,
        "failureThreshold": max(1, settings.startup_seconds // STARTUP_PERIOD),
    }
    container["livenessProbe"] = {
        "exec": {"command": [*PROBE, f"{http}/health"]},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    if not settings.native:
        # A plain container cannot gate the others with its startup probe, but the kubelet
        # starts a pod's containers in order and waits for each postStart hook: the sidecar
        # goes first and its hook returns once the data layer is ready.
        wait = ["--wait", str(settings.startup_seconds)]
        container["lifecycle"] = {
            "postStart": {"exec": {"command": [*PROBE, *wait, f"{http}/v1/ready"]}}
        }
    container["resources"] = resources(settings, injection)
    container["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": settings.uid,
        "runAsGroup": settings.uid,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container["volumeMounts"] = [
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": SCRATCH_VOLUME, "mountPath": SCRATCH_DIR},
    ]
    return container


def resources(settings: Settings, injection: Injection) -> dict[str, Any]:
    """The defaults, with the pod's cpu as a request (no CPU limit: throttling a query engine
    only makes it slower) and its memory as both request and limit."""
    requests = dict(settings.resources.requests)
    limits = dict(settings.resources.limits)
    if injection.cpu:
        requests["cpu"] = injection.cpu
    if injection.memory:
        requests["memory"] = limits["memory"] = injection.memory
    return {key: value for key, value in (("requests", requests), ("limits", limits)) if value}


def egress_lock_container(settings: Settings, injection: Injection) -> dict[str, Any]:
    """Runs first, as root with NET_ADMIN and nothing else, and exits once the rules are in."""
    return {
        "name": EGRESS_LOCK,
        "image": injection.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", "sidecar.inject.egress", "--sidecar-uid", str(settings.uid)],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "runAsNonRoot": False,
            "runAsUser": 0,
            "runAsGroup": 0,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def volumes(injection: Injection) -> list[dict[str, Any]]:
    return [
        {"name": CONFIG_VOLUME, "configMap": {"name": injection.config}},
        {"name": SCRATCH_VOLUME, "emptyDir": {}},
    ]


def agent_env(settings: Settings, injection: Injection) -> list[dict[str, Any]]:
    """What an agent needs to connect with no configuration of its own. The API key is only
    ever a reference to the Secret; libpq, asyncpg, the sidecar CLI and the OpenAI client
    each read it from the variable they know."""
    ports, user = settings.ports, injection.identity
    env: list[dict[str, Any]] = [
        {"name": "DATABASE_URL", "value": f"postgresql://{user}@{LOOPBACK}:{ports.pg}/{user}"},
        {"name": "PGHOST", "value": LOOPBACK},
        {"name": "PGPORT", "value": str(ports.pg)},
        {"name": "PGUSER", "value": user},
        {"name": "FLIGHT_SQL_URI", "value": f"grpc://{LOOPBACK}:{ports.flight}"},
        {"name": "OPENAI_BASE_URL", "value": f"http://{LOOPBACK}:{ports.http}/v1"},
        {"name": "SIDECAR_URL", "value": f"http://{LOOPBACK}:{ports.http}"},
    ]
    if injection.secrets and injection.api_key:
        key = {"secretKeyRef": {"name": injection.secrets, "key": injection.api_key}}
        for name in ("PGPASSWORD", "SIDECAR_API_KEY", "OPENAI_API_KEY"):
            env.append({"name": name, "valueFrom": key})
    return env
