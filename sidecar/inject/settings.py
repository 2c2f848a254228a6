"""What the injector adds: the cluster-wide defaults behind the per-pod annotations.

The keys are the Helm chart's `sidecar:` values, spelled the same (camelCase), so the chart
writes them into the injector's settings file as they are and its named templates read the
very same values: a workload that includes the template gets what the webhook would inject.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from sidecar import __version__

DEFAULT_IMAGE = f"agent-sidecar:{__version__}"


class SettingsError(ValueError):
    """An unusable settings file; each line names the key and what is wrong with it."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Ports(Strict):
    """Where the sidecar listens on the pod's loopback; `sidecar run` is started with them, so
    the addresses handed to the agent are right whatever sidecar.yaml says."""

    http: int = Field(default=8090, ge=1, le=65535)
    flight: int = Field(default=50051, ge=1, le=65535)
    pg: int = Field(default=15432, ge=1, le=65535)


class Resources(Strict):
    requests: dict[str, str] = Field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    limits: dict[str, str] = Field(default_factory=lambda: {"memory": "1Gi"})


class Settings(Strict):
    image: str = Field(default=DEFAULT_IMAGE, min_length=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    allowed_images: list[str] = Field(
        default_factory=list,
        description="Patterns (fnmatch) an agent-sidecar.io/image annotation may name besides "
        "`image`: with the egress lock the sidecar's image is the one process allowed out.",
    )
    native: bool = Field(
        default=True,
        description="A native sidecar (an init container with restartPolicy: Always, "
        "Kubernetes >= 1.29); false adds a plain container for older clusters.",
    )
    uid: int = Field(default=10001, ge=1, description="The sidecar's user and group id.")
    ports: Ports = Field(default_factory=Ports)
    resources: Resources = Field(default_factory=Resources)
    config: str = Field(
        default="",
        description="The ConfigMap used when a pod names none with agent-sidecar.io/config; "
        "empty means a pod must name one.",
    )
    identity: str = Field(
        default="agent", description="The Postgres user the agent is given (its API identity)."
    )
    startup_seconds: int = Field(
        default=300, ge=2, description="How long the sidecar may take to load its datasets."
    )


def load_settings(path: Path | None) -> Settings:
    """The settings file the chart mounts; None gives the defaults (for `render`)."""
    if path is None:
        return Settings()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: invalid YAML: {error}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings such as image, uid, ports")
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        lines = [
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        ]
        raise SettingsError(f"{path}: " + "; ".join(lines)) from None
