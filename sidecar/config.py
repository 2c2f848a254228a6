"""sidecar.yaml: the agent's whole data world in one validated file.

The shape follows Spice's spicepod (`datasets: - from: <connector>:<path>`) so a Spice user feels
at home. Validation errors name the exact place (`datasets[2].from`) and the fix, because the
person reading them is usually an operator staring at a crash-looping pod.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

import connectors
from connectors.base import parse_duration

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ConfigError(ValueError):
    """An invalid sidecar.yaml; each line of the message is one problem, located and explained."""


Duration = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Endpoint(Strict):
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    enabled: bool = True


class ApiKey(Strict):
    key: SecretStr = Field(description="The key itself; use ${env:VAR} or ${file:/path}.")
    identity: str = Field(min_length=1, description="Who presents this key (the agent's name).")


class Auth(Strict):
    api_keys: list[ApiKey] = Field(default_factory=list)


class Tls(Strict):
    cert: Path
    key: Path


class Runtime(Strict):
    http: Endpoint = Field(default_factory=lambda: Endpoint(port=8090))
    flight: Endpoint = Field(default_factory=lambda: Endpoint(port=50051))
    pg: Endpoint = Field(default_factory=lambda: Endpoint(port=15432))
    auth: Auth = Field(default_factory=Auth)
    tls: Tls | None = None
    query_timeout: Duration = Field(
        default=60.0, description="Seconds (or a duration like 30s) before a query is abandoned."
    )
    source_timeout: Duration = Field(
        default=30.0, description="Seconds a source may take to answer one request."
    )

    @field_validator("query_timeout", "source_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class Column(Strict):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1, description="A SQL type: bigint, double, text, timestamp...")
    description: str | None = None


class Dataset(Strict):
    from_: str = Field(alias="from", description="<connector>:<location>, e.g. file:data/x.parquet")
    name: str = Field(pattern=IDENTIFIER, description="The table name agents query.")
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    columns: list[Column] | None = Field(
        default=None, description="Declared schema; inferred from the source when absent."
    )

    @field_validator("from_")
    @classmethod
    def _known_connector(cls, value: str) -> str:
        scheme, sep, location = value.partition(":")
        known = connectors.known_schemes()
        if not sep or not location:
            raise ValueError(
                f"'{value}' must be <connector>:<location>; known connectors: " + ", ".join(known)
            )
        if scheme not in known:
            close = difflib.get_close_matches(scheme, known, n=1)
            suggestion = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"unknown connector '{scheme}'; known: {', '.join(known)}{suggestion}")
        return value

    @property
    def scheme(self) -> str:
        return self.from_.partition(":")[0]

    @property
    def location(self) -> str:
        scheme, _, location = self.from_.partition(":")
        return self.from_ if scheme in ("http", "https") else location


class View(Strict):
    name: str = Field(pattern=IDENTIFIER)
    sql: str = Field(min_length=1)
    description: str | None = None


class SidecarConfig(Strict):
    version: Literal[1] = 1
    name: str = Field(default="sidecar", min_length=1)
    runtime: Runtime = Field(default_factory=Runtime)
    datasets: list[Dataset] = Field(default_factory=list)
    views: list[View] = Field(default_factory=list)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> SidecarConfig:
        seen: dict[str, str] = {}
        for kind, items in (("datasets", self.datasets), ("views", self.views)):
            for index, item in enumerate(items):
                key = item.name.lower()
                if key in seen:
                    raise ValueError(
                        f"{kind}[{index}].name: '{item.name}' is already used by {seen[key]}; "
                        "table names are case-insensitive and must be unique"
                    )
                seen[key] = f"{kind}[{index}]"
        return self


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + ("from" if part == "from_" else part)
    return text


def _explain(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = _location(tuple(p for p in item["loc"] if p not in ("function-after",)))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        elif item["type"] == "missing":
            message = "is required"
        lines.append(f"{where}: {message}" if where else message)
    return "\n".join(lines)


def parse_config(data: Any, base_dir: Path | None = None) -> SidecarConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("sidecar.yaml must be a mapping with keys version, name, datasets, ...")
    try:
        config = SidecarConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_explain(error)) from None
    if base_dir is not None:
        config.base_dir = base_dir
    return config


def load_config(path: Path) -> SidecarConfig:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{path}: invalid YAML{where}: {getattr(error, 'problem', error)}"
        ) from None
    return parse_config(data, path.resolve().parent)


def json_schema() -> dict[str, Any]:
    schema = SidecarConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sidecar.yaml"
    return schema
