"""The `params:` each connector accepts, as pydantic models, checked when the config loads.

This module imports no driver, so `sidecar config check` and `sidecar config schema` know every
connector's params while loading a dataset still imports only its own driver. Field names are
the sidecar's; where Spice names the same setting differently (`mysql_host`, `pg_port`,
`snowflake_username`, ...) that name is accepted too, so a spicepod's datasets carry over.

Values may be `${env:..}`/`${file:..}` references, resolved only when a connector is built: the
config check lets a reference stand for any value and the connector checks the resolved one.
Durations (`timeout: 10s`) become seconds.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
)

FORMATS = ("parquet", "arrow", "csv", "json", "ndjson", "markdown", "text")
REFERENCE_MARK = "${"
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_BUILDING = threading.Lock()
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class ParamsError(ValueError):
    """Params that do not fit their connector's model; the hint lists the known names."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def parse_duration(value: str | float | int) -> float:
    """Seconds from `250ms`, `30s`, `5m`, `1h`, `7d` or a bare number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a duration; write e.g. 500ms, 30s, 5m, 1h or 7d")
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def _seconds(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _web_url(value: str) -> str:
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _one_character(value: str) -> str:
    if len(value) != 1:
        raise ValueError("must be one character, e.g. ',', ';' or '\\t'")
    return value


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
Timeout = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
Flag = Annotated[bool, Strict()]
Character = Annotated[str, AfterValidator(_one_character)]
WebUrl = Annotated[str, AfterValidator(_web_url)]
Count = Annotated[int, Field(ge=1)]
PoolSize = Annotated[int, Field(ge=0, description="Idle connections kept for reuse.")]
Port = Annotated[int, Field(ge=1, le=65535)]


def spice(name: str, *aliases: str) -> Any:
    """A field also accepted under Spice's name(s) for it."""
    return Field(default=None, validation_alias=AliasChoices(name, *aliases), alias=name)


class Params(BaseModel):
    """Unknown keys are refused: a misspelt param would otherwise be silently ignored.

    Each model's validator is built when it is first needed (`defer_build`, then `built`):
    a config checks only its own connectors' params, and the other models' would hold 0.3 MiB
    of every idle sidecar."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, coerce_numbers_to_str=True, defer_build=True
    )


class FileParams(Params):
    format: Literal[FORMATS] | None = Field(  # type: ignore[valid-type]
        default=None, description="Overrides the format the file extension implies."
    )
    delimiter: Character = Field(default=",", description="CSV only.")
    has_header: Flag = Field(default=True, description="CSV only.")
    null_values: list[str] | None = Field(default=None, description="CSV only, e.g. ['', 'NA'].")
    hive_partitioning: Flag = True
    listing_ttl: Duration | None = Field(
        default=None, description="How long a folder or bucket listing is reused, e.g. 30s."
    )
    max_objects: Count = Field(default=100_000, description="Objects one listing may hold.")


class S3Params(FileParams):
    region: str | None = None
    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    role_arn: str | None = None
    anonymous: Flag = False


class GcsParams(FileParams):
    endpoint: str | None = None
    access_token: str | None = None
    project_id: str | None = None
    anonymous: Flag = False


class AzureParams(FileParams):
    endpoint: str | None = None
    account_name: str | None = None
    account_key: str | None = None
    sas_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant_id: str | None = None


class HttpParams(Params):
    json_path: str = Field(default="$", description="Where the records are in each response.")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    pagination: str | dict[str, Any] | None = Field(
        default=None, description="none, link, cursor, page or offset; or {type: ..., ...}."
    )
    max_pages: Count = 100
    timeout: Timeout | None = None
    retries: int = Field(
        default=3,
        ge=0,
        description="Extra attempts on connection errors, 429, 5xx and rate limits; a wait the "
        "API asks for (Retry-After, X-RateLimit-Reset) is honoured up to 30s, 60s in all.",
    )
    backoff: Duration = Field(
        default=0.5, description="The first retry's delay when the API asks none, doubling."
    )
    allowed_origins: list[str] | None = Field(
        default=None, description="Other origins that pages and redirects may lead to."
    )


class GitHubParams(Params):
    token: str | None = None
    base_url: WebUrl = "https://api.github.com"
    ref: str | None = None
    path: str | None = None
    include: str | None = None
    state: Literal["open", "closed", "all"] = "all"
    per_page: Count = 100
    max_pages: Count = 100
    rate_limit_wait: Duration = Field(
        default=60.0,
        description="The longest a request waits, in all, for a rate limit to reset (or a "
        "secondary limit's Retry-After) before failing with the time it resets at.",
    )
    timeout: Timeout | None = None


class MySqlParams(Params):
    host: str | None = spice("host", "mysql_host")
    port: Port | None = spice("port", "mysql_tcp_port")
    user: str | None = spice("user", "mysql_user")
    password: str | None = spice("password", "mysql_pass")
    database: str | None = spice("database", "mysql_db")
    sslmode: Literal["disabled", "preferred", "required"] | None = spice("sslmode", "mysql_sslmode")
    connect_timeout: Timeout | None = None
    timeout: Timeout | None = None
    pool_size: PoolSize = 4
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_cert: Flag | None = None
    ssl_verify_identity: Flag | None = None
    ssl_disabled: Flag | None = None
    charset: str = "utf8mb4"


class AdbcParams(Params):
    driver: str | None = Field(default=None, description="The ADBC driver's shared library.")
    entrypoint: str | None = None
    db_kwargs: dict[str, Any] = Field(default_factory=dict)
    dialect: str = "postgres"
    table: str | None = None
    timeout: Timeout | None = None
    pool_size: PoolSize = 4


class PostgresParams(Params):
    uri: str | None = spice("uri", "pg_connection_string")
    host: str | None = spice("host", "pg_host")
    port: Port | None = spice("port", "pg_port")
    user: str | None = spice("user", "pg_user")
    password: str | None = spice("password", "pg_pass")
    dbname: str | None = spice("dbname", "pg_db")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = (
        spice("sslmode", "pg_sslmode")
    )
    sslrootcert: str | None = spice("sslrootcert", "pg_sslrootcert")
    connect_timeout: Timeout | None = None
    timeout: Timeout | None = None
    pool_size: PoolSize = 4


class SnowflakeParams(Params):
    account: str | None = spice("account", "snowflake_account")
    user: str | None = spice("user", "snowflake_username")
    password: str | None = spice("password", "snowflake_password")
    warehouse: str | None = spice("warehouse", "snowflake_warehouse")
    role: str | None = spice("role", "snowflake_role")
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    host: str | None = None
    port: Port | None = None
    protocol: Literal["http", "https"] | None = None
    connect_timeout: Timeout | None = None
    timeout: Timeout | None = None
    pool_size: PoolSize = 4
    options: dict[str, Any] = Field(default_factory=dict)


class IcebergParams(Params):
    catalog: dict[str, Any] | None = Field(
        default=None, description="e.g. {type: sql, uri: 'sqlite:///cat.db', warehouse: ...}"
    )
    snapshot_id: int | None = None
    as_of: Any = Field(default=None, description="A timestamp, e.g. 2026-03-14 12:00:00")


class MongoParams(Params):
    uri: str | None = Field(default=None, description="mongodb://user:pass@host:27017/")
    sample_size: Count = 1000
    flatten: Flag = False
    batch_size: Count = 1000
    connect_timeout: Timeout | None = None
    timeout: Timeout | None = None


class ElasticsearchParams(Params):
    hosts: str | list[str] | None = Field(default=None, description="The cluster URL(s).")
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    verify_certs: Flag | None = None
    node_class: str | None = None
    paging: Literal["auto", "pit", "scroll"] = "auto"
    page_size: Count = 1000
    keep_alive: str = "1m"
    flatten: Flag = False
    timeout: Timeout | None = None


PARAMS: dict[str, type[Params]] = {
    "file": FileParams,
    "s3": S3Params,
    "gs": GcsParams,
    "az": AzureParams,
    "abfs": AzureParams,
    "abfss": AzureParams,
    "http": HttpParams,
    "https": HttpParams,
    "mysql": MySqlParams,
    "postgres": PostgresParams,
    "snowflake": SnowflakeParams,
    "adbc": AdbcParams,
    "iceberg": IcebergParams,
    "mongodb": MongoParams,
    "elasticsearch": ElasticsearchParams,
    "github": GitHubParams,
}

MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "greater_than": "must be more than 0",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
}


def known_params(scheme: str) -> list[str]:
    """Every name the scheme's params accept, Spice's aliases included."""
    names = []
    for name, field in PARAMS[scheme].model_fields.items():
        choices = field.validation_alias
        if isinstance(choices, AliasChoices):
            names += [str(choice) for choice in choices.choices]
        else:
            names.append(field.alias or name)
    return names


def built(scheme: str) -> type[Params]:
    """The scheme's params model, built. Datasets load on threads of their own, and in some
    pydantic 2 releases a thread could validate with the base model's validator while another
    built a deferred model (pydantic#11849, #13419): the first build is made here, locked."""
    kind = PARAMS[scheme]
    if not kind.__pydantic_complete__:
        with _BUILDING:
            kind.model_rebuild()
    return kind


def param_errors(scheme: str, params: Mapping[str, Any], *, resolved: bool) -> list[str]:
    """`port: must be an integer` lines; before secrets are resolved, a `${..}` reference may
    stand for any value."""
    try:
        built(scheme).model_validate(dict(params))
    except ValidationError as error:
        return [
            line
            for item in error.errors()
            if (line := _explain(scheme, item, resolved)) is not None
        ]
    return []


def checked(scheme: str, params: Mapping[str, Any]) -> Params | None:
    """The scheme's params model (None for a scheme without one, like the engine's own
    tables); a ParamsError names every problem."""
    if scheme not in PARAMS:
        return None
    problems = param_errors(scheme, params, resolved=True)
    if problems:
        known = ", ".join(known_params(scheme))
        raise ParamsError(
            "; ".join(f"params.{line}" for line in problems), hint=f"known params: {known}"
        )
    return built(scheme).model_validate(dict(params))


def canonical(model: Params) -> dict[str, Any]:
    """The params the operator set, under the sidecar's names (Spice's aliases renamed)."""
    return model.model_dump(by_alias=True, exclude_unset=True)


def _explain(scheme: str, item: Any, resolved: bool) -> str | None:
    value = item.get("input")
    if not resolved and isinstance(value, str) and REFERENCE_MARK in value:
        return None
    where = ".".join(str(part) for part in item["loc"] if not _is_type_name(part))
    kind = item["type"]
    if kind == "extra_forbidden":
        known = known_params(scheme)
        close = difflib.get_close_matches(str(item["loc"][0]), known, n=1)
        suggestion = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown {scheme} param{suggestion}"
    if kind == "literal_error":
        return f"{where}: must be one of {item['ctx']['expected']}, not {value!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        sign = ">=" if kind == "greater_than_equal" else "<="
        bound = item["ctx"]["ge" if sign == ">=" else "le"]
        return f"{where}: must be {sign} {bound}, not {value!r}"
    message = MESSAGES.get(kind, item["msg"].removeprefix("Value error, "))
    return f"{where}: {message}"


def _is_type_name(part: object) -> bool:
    """pydantic names the union member it tried (`str`, `function-after[...]`) in the location."""
    return isinstance(part, str) and (
        part in ("str", "int", "float", "bool") or "[" in part or part.startswith("dict")
    )
