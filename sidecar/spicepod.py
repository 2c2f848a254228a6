"""spicepod.yaml to sidecar.yaml: a Spice user's datasets carry over, and whatever cannot is named.

Dataset entries keep their shape (`from`, `name`, `params` in Spice's names, `acceleration`), so
most of a spicepod is copied as is. What the sidecar has no place for (Spice's models,
embeddings, secret stores, unknown params, a Postgres accelerator...) is left out and listed, never
dropped silently: the operator reads the list and decides.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.params import PARAMS, known_params
from sidecar.config import Acceleration

SPICE_SECRET = re.compile(r"\$\{\s*(?:secrets|env):\s*([^}\s]+)\s*\}")
DATASET_KEYS = ("from", "name", "description", "params", "acceleration")
MOVED_TO_ACCELERATION = ("time_column", "primary_key", "ready_state")
# Spice's dataset `from:` that name their source differently.
GITHUB_HOST = "github:github.com/"


def convert(spicepod: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The sidecar config, and one line per thing of the spicepod that did not carry over."""
    dropped: list[str] = []
    config: dict[str, Any] = {"version": 1, "name": str(spicepod.get("name") or "sidecar")}
    for key in spicepod:
        if key not in ("version", "kind", "name", "datasets", "views"):
            dropped.append(f"{key}: the sidecar has no {key} section")
    datasets = []
    for index, dataset in enumerate(spicepod.get("datasets") or []):
        converted = _dataset(dataset, f"datasets[{index}]", dropped)
        if converted is not None:
            datasets.append(converted)
    config["datasets"] = datasets
    views = [
        {"name": view["name"], "sql": view["sql"]}
        for view in spicepod.get("views") or []
        if isinstance(view, dict) and "name" in view and "sql" in view
    ]
    if views:
        config["views"] = views
    return config, dropped


def _dataset(dataset: Any, where: str, dropped: list[str]) -> dict[str, Any] | None:
    if not isinstance(dataset, dict) or not isinstance(dataset.get("from"), str):
        dropped.append(f"{where}: not a dataset with a from:")
        return None
    source = dataset["from"]
    if source.startswith(GITHUB_HOST):
        source = "github:" + source.removeprefix(GITHUB_HOST)
    scheme = source.partition(":")[0]
    if scheme not in PARAMS:
        dropped.append(f"{where} ({dataset.get('name')}): connector '{scheme}' is not supported")
        return None
    converted: dict[str, Any] = {"from": source, "name": dataset.get("name")}
    if dataset.get("description"):
        converted["description"] = dataset["description"]
    params = _params(scheme, dataset.get("params") or {}, where, dropped)
    if params:
        converted["params"] = params
    acceleration = dict(dataset.get("acceleration") or {})
    for key in MOVED_TO_ACCELERATION:
        if key in dataset and acceleration:
            acceleration.setdefault(key, dataset[key])
        elif key in dataset:
            dropped.append(f"{where}.{key}: only used by an accelerated dataset here")
    if acceleration:
        converted["acceleration"] = _acceleration(acceleration, where, dropped)
    for key in dataset:
        if key not in (*DATASET_KEYS, *MOVED_TO_ACCELERATION):
            dropped.append(f"{where}.{key}: no such dataset setting here")
    return converted


def _params(scheme: str, params: dict[str, Any], where: str, dropped: list[str]) -> dict[str, Any]:
    known = set(known_params(scheme))
    kept = {}
    for key, value in params.items():
        if key in known:
            kept[key] = _secret(value)
        else:
            dropped.append(f"{where}.params.{key}: not a {scheme} param here")
    return kept


def _acceleration(settings: dict[str, Any], where: str, dropped: list[str]) -> dict[str, Any]:
    engines = Acceleration.model_fields["engine"].annotation.__args__  # type: ignore[union-attr]
    kept = {}
    for key, value in settings.items():
        if key not in Acceleration.model_fields:
            dropped.append(f"{where}.acceleration.{key}: no such acceleration setting here")
        elif key == "engine" and value not in engines:
            dropped.append(f"{where}.acceleration.engine: {value} is not an engine here (duckdb)")
        else:
            kept[key] = value
    return kept


def _secret(value: Any) -> Any:
    """Spice's `${secrets:NAME}` (its default store reads the environment) is `${env:NAME}`."""
    if isinstance(value, str):
        return SPICE_SECRET.sub(lambda match: "${env:" + match.group(1) + "}", value)
    return value
