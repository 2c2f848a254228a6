"""The workload file: the queries agents loop on, how often, and with which values.

pgbench's custom scripts (`\\set aid random(1, 100000)`) in YAML:

    name: sre-agent
    queries:
      - name: order_lookup
        weight: 5                                   # picked 5x as often as a weight-1 query
        sql: SELECT * FROM orders WHERE o_orderkey = :order
        params:
          order: {sample: orders.o_orderkey}        # values read once from the replica
      - name: recent_orders
        sql: SELECT count(*) FROM orders WHERE o_custkey = :customer AND o_orderdate >= :since
        params:
          customer: {uniform: [1, 15000]}           # an int in the range, both ends included
          since: {choice: [1998-06-01, 1998-07-01]} # one of a list

SQL is in the sidecar's dialect (PostgreSQL's). Each execution draws fresh values and writes
them into the SQL as literals, the way an agent writes its queries. The direct arm gets the
same statement transpiled by sqlglot to the replica's dialect, with dataset names replaced by
the replica's tables and views inlined, so every arm asks the same questions.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from sqlglot import exp

from sidecar.config import IDENTIFIER, Strict, explain_validation

SIDECAR_DIALECT = "postgres"
MARKER = "__bench_param_{}__"
MARKED = re.compile(r"[`\"]?__bench_param_(\d+)__[`\"]?")
COLUMN_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")


class WorkloadError(ValueError):
    """An unusable workload file; the message names the query and what to change."""


class Uniform(Strict):
    uniform: tuple[int, int] = Field(description="[low, high], both included")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.uniform[0] > self.uniform[1]:
            raise ValueError(f"uniform: {list(self.uniform)} has low > high")
        return self


class Choice(Strict):
    choice: list[Any] = Field(min_length=1)


class Sample(Strict):
    sample: str = Field(description="table.column: values read once from the replica")
    size: int = Field(default=1000, ge=1, description="How many distinct values to keep")

    @field_validator("sample")
    @classmethod
    def _column(cls, value: str) -> str:
        if not COLUMN_REF.match(value):
            raise ValueError(f"sample: '{value}' must be <dataset>.<column>")
        return value

    @property
    def table(self) -> str:
        return self.sample.partition(".")[0]

    @property
    def column(self) -> str:
        return self.sample.partition(".")[2]


Param = Uniform | Choice | Sample
PARAM_KINDS: dict[str, type[Strict]] = {"uniform": Uniform, "choice": Choice, "sample": Sample}


class Query(Strict):
    name: str = Field(pattern=IDENTIFIER)
    sql: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    params: dict[str, Param] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any) -> Any:
        """One plain message per parameter instead of pydantic's one per union member."""
        if not isinstance(value, dict):
            return value
        parsed: dict[str, Any] = {}
        for name, spec in value.items():
            kinds = [key for key in PARAM_KINDS if isinstance(spec, dict) and key in spec]
            if len(kinds) != 1:
                raise ValueError(
                    f"{name}: write one of {{uniform: [low, high]}}, {{choice: [a, b, ...]}} "
                    "or {sample: table.column}"
                )
            try:
                parsed[name] = PARAM_KINDS[kinds[0]].model_validate(spec)
            except ValidationError as error:
                raise ValueError(f"{name}: {explain_validation(error)}") from None
        return parsed


class Workload(Strict):
    name: str = "workload"
    description: str | None = None
    queries: list[Query] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Workload:
        seen: set[str] = set()
        for index, query in enumerate(self.queries):
            if query.name in seen:
                raise ValueError(f"queries[{index}].name: '{query.name}' is used twice")
            seen.add(query.name)
        return self


@dataclass(frozen=True)
class ParsedQuery:
    """A query with its SQL parsed once; parameters are sqlglot Placeholders (`:name`)."""

    query: Query
    tree: exp.Expression

    @property
    def samples(self) -> list[Sample]:
        return [spec for spec in self.query.params.values() if isinstance(spec, Sample)]


def load_workload(path: Path) -> tuple[Workload, list[ParsedQuery]]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise WorkloadError(f"cannot read workload {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise WorkloadError(f"{path}: invalid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{path}: a workload is a mapping with a `queries:` list")
    try:
        workload = Workload.model_validate(data)
    except ValidationError as error:
        raise WorkloadError(f"{path}: " + explain_validation(error).replace("\n", "; ")) from None
    return workload, [parse_query(query, index) for index, query in enumerate(workload.queries)]


def parse_query(query: Query, index: int) -> ParsedQuery:
    where = f"queries[{index}] ({query.name})"
    try:
        statements = sqlglot.parse(query.sql, read=SIDECAR_DIALECT)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
        message = str(error).splitlines()[0]
        raise WorkloadError(f"{where}: the SQL does not parse: {message}") from None
    except RecursionError:
        raise WorkloadError(f"{where}: the SQL nests too deeply to parse") from None
    statements = [statement for statement in statements if statement is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise WorkloadError(f"{where}: sql must be one SELECT statement")
    tree = statements[0]
    used = {str(node.this) for node in tree.find_all(exp.Placeholder)}
    if unnamed := [node for node in tree.find_all(exp.Placeholder) if not node.this]:
        raise WorkloadError(f"{where}: {len(unnamed)} unnamed placeholder(s); write :name")
    if missing := sorted(used - set(query.params)):
        raise WorkloadError(f"{where}: :{missing[0]} is not under params")
    if unused := sorted(set(query.params) - used):
        raise WorkloadError(f"{where}: params.{unused[0]} is never used as :{unused[0]}")
    return ParsedQuery(query, tree)


def tables_read(tree: exp.Expression, unqualified: bool = False) -> set[str]:
    """Lower-case names of the tables a query reads, without its own CTEs; `unqualified` keeps
    only names without a schema (after `for_replica`: the ones the replica does not have)."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    names = {
        table.name.lower()
        for table in tree.find_all(exp.Table)
        if table.name and not (unqualified and table.db)
    }
    return names - ctes


def check_names(
    queries: Sequence[ParsedQuery], datasets: Iterable[str], views: Iterable[str]
) -> None:
    """Every table a query reads must be declared, and every sampled table be a dataset."""
    datasets, views = {d.lower() for d in datasets}, {v.lower() for v in views}
    known = ", ".join(sorted(datasets | views)) or "none"
    for index, parsed in enumerate(queries):
        where = f"queries[{index}] ({parsed.query.name})"
        for name in sorted(tables_read(parsed.tree) - datasets - views):
            raise WorkloadError(
                f"{where} reads '{name}', which sidecar.yaml does not declare; "
                f"datasets and views: {known}"
            )
        for sample in parsed.samples:
            if sample.table.lower() not in datasets:
                raise WorkloadError(
                    f"{where}: sample: {sample.sample} names no dataset of "
                    f"sidecar.yaml; datasets: {', '.join(sorted(datasets))}"
                )


def for_replica(
    tree: exp.Expression, tables: Mapping[str, exp.Table], views: Mapping[str, exp.Expression]
) -> exp.Expression:
    """The query as the replica must read it: datasets become the replica's own tables, views
    become subqueries of their SQL (rewritten the same way)."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Table) or not node.name or node.db:
            return node
        name = node.name.lower()
        alias = node.alias or node.name
        if name in views:
            body = for_replica(views[name].copy(), tables, views)
            return exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        if name in tables:
            return exp.alias_(tables[name].copy(), alias, table=True)
        return node

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return tree.copy().transform(
        lambda node: (
            node if isinstance(node, exp.Table) and node.name.lower() in ctes else rewrite(node)
        )
    )


Draw = Callable[[random.Random], str]


def _uniform(low: int, high: int, rng: random.Random) -> str:
    return str(rng.randint(low, high))


def _pick(literals: Sequence[str], rng: random.Random) -> str:
    return rng.choice(literals)


def literal(value: Any, dialect: str) -> str:
    """A value as a literal of `dialect`: quoted and escaped by sqlglot, dates as CASTs."""
    return exp.convert(value).sql(dialect)


@dataclass(frozen=True)
class Statement:
    """One query of the workload, ready to send in one dialect: the SQL text split around its
    parameters, and per parameter how to draw a literal. Rendering is a join, no parsing."""

    name: str
    weight: float
    parts: tuple[str, ...]
    draws: tuple[Draw, ...]

    def render(self, rng: random.Random) -> str:
        text = [self.parts[0]]
        for draw, part in zip(self.draws, self.parts[1:], strict=True):
            text += (draw(rng), part)
        return "".join(text)


def compile_statement(
    parsed: ParsedQuery,
    dialect: str,
    samples: Mapping[str, Sequence[Any]],
    tree: exp.Expression | None = None,
) -> Statement:
    """Generate the SQL once in `dialect` with markers where parameters go, then cut it there."""
    names: list[str] = []

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            names.append(str(node.this))
            return exp.column(MARKER.format(len(names) - 1))
        return node

    marked = (tree or parsed.tree).copy().transform(mark)
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # NULLS ordering notes, not errors
    text = marked.sql(dialect)
    pieces = MARKED.split(text)
    parts, draws = tuple(pieces[0::2]), []
    for index in pieces[1::2]:
        spec = parsed.query.params[names[int(index)]]
        if isinstance(spec, Uniform):
            draws.append(partial(_uniform, *spec.uniform))
        else:
            values = spec.choice if isinstance(spec, Choice) else samples[spec.sample]
            draws.append(partial(_pick, [literal(value, dialect) for value in values]))
    return Statement(parsed.query.name, parsed.query.weight, parts, tuple(draws))


class Mix:
    """Picks each next statement by weight, as pgbench picks among weighted scripts."""

    def __init__(self, statements: Sequence[Statement]) -> None:
        self.statements = list(statements)
        self._cumulative = list(accumulate(statement.weight for statement in statements))

    def pick(self, rng: random.Random) -> Statement:
        return rng.choices(self.statements, cum_weights=self._cumulative)[0]
