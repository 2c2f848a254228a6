"""Who sees what: the `policies:` block of sidecar.yaml, resolved for one identity at a time.

The model is Trino's file-based access control: entries are tried in order and the first whose
`identities` match the caller decides everything that caller sees (its datasets, its column
rules, its row filters, its limits). Without a `policies:` block every identity reads every
dataset, as before policies existed; with one, an identity no entry matches sees nothing.

Row filters are SQL predicates over a dataset's columns. `{identity}` and `{identity.<name>}` in
them are replaced by the caller's name and attributes as string literals in the parsed tree,
never as text, so an attribute value such as `DE' OR '1'='1` is compared, not executed.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from policies.guard import DEFAULT_DIALECT as DIALECT
from policies.guard import check, parse
from policies.identity import ANONYMOUS, Identity
from sidecar.errors import SidecarError
from sidecar.secrets import SecretError, resolve_string

if TYPE_CHECKING:
    from sidecar.config import Limits, Policy, SidecarConfig

Rule = Literal["mask", "hash", "deny"]
MASK_TEXT = "****"
HIDDEN_ERROR = (
    "the last load or refresh failed; its message is not shown under a policy that hides rows "
    "or columns of this dataset, as the source's message may quote them (a duplicate key, a "
    "value that did not convert, a column's name): a caller it does not narrow reads it"
)
HASH_CHARS = 16
STRICTNESS: dict[str, int] = {"hash": 1, "mask": 2, "deny": 3}
PLACEHOLDER = re.compile(r"\{identity(?:\.([A-Za-z_][A-Za-z0-9_]*))?\}")
SLOT = re.compile(r"^__identity_(\d+)$")
DATASET_NAME = "__dataset"


class PolicyError(ValueError):
    """A policy that cannot be enforced as written; the message says where and why."""


@dataclass(frozen=True)
class RowFilter:
    """A row filter as parsed once: its placeholders are slots filled per identity."""

    text: str
    template: exp.Expression
    slots: tuple[str | None, ...]

    @property
    def attributes(self) -> set[str]:
        return {name for name in self.slots if name is not None}

    @property
    def columns(self) -> set[str]:
        return {
            column.name
            for column in self.template.find_all(exp.Column)
            if not SLOT.match(column.name)
        }

    def bind(self, identity: Identity) -> exp.Expression:
        """The filter for `identity`: every slot becomes a quoted literal of its value."""
        bound = self.template.copy()
        for column in list(bound.find_all(exp.Column)):
            slot = SLOT.match(column.name)
            if slot is None:
                continue
            name = self.slots[int(slot.group(1))]
            value = identity.name if name is None else identity.attributes.get(name)
            if value is None:
                # config checks rule this out; a filter that cannot be bound matches nothing
                return exp.false()
            column.replace(exp.Literal.string(value))
        return bound


def compile_filter(text: str) -> RowFilter:
    """Parse a row filter; raises PolicyError saying what is wrong with it."""
    slots: list[str | None] = []

    def slot(match: re.Match[str]) -> str:
        slots.append(match.group(1))
        return f" __identity_{len(slots) - 1} "

    sql = PLACEHOLDER.sub(slot, text)
    statement = f"SELECT 1 FROM {DATASET_NAME} WHERE ({sql})"
    try:
        select = check(statement, parse(statement))
    except SidecarError as error:
        raise PolicyError(f"invalid filter SQL: {error.message}") from None
    where = select.args.get("where") if isinstance(select, exp.Select) else None
    if where is None or select.args.get("joins") or len(list(select.find_all(exp.Table))) != 1:
        raise PolicyError("must be one SQL condition over the dataset's columns")
    condition = where.this.unnest()
    for node in condition.walk():
        if isinstance(node, exp.Query | exp.Subquery | exp.Table):
            raise PolicyError("must not contain subqueries: it reads only the dataset's own row")
        if isinstance(node, exp.AggFunc | exp.Window):
            raise PolicyError("must not aggregate: it decides row by row")
        if isinstance(node, exp.Placeholder | exp.Parameter):
            raise PolicyError("must not contain parameters; use {identity} or {identity.<name>}")
        quoted = isinstance(node, exp.Literal) or (isinstance(node, exp.Identifier) and node.quoted)
        if quoted and "__identity_" in str(node.this):
            raise PolicyError(
                "write {identity...} without quotes: it is replaced by a quoted literal"
            )
        if isinstance(node, exp.Column) and node.table:
            raise PolicyError(f"columns must not be qualified ({node.sql()}): write them bare")
    condition = normalize_identifiers(condition, dialect=DIALECT)
    for column in list(condition.find_all(exp.Column)):
        if not SLOT.match(column.name):
            column.replace(exp.column(column.name, quoted=True))
    return RowFilter(text, condition, tuple(slots))


@dataclass(frozen=True)
class Compiled:
    """One policy entry, with its row filters parsed."""

    index: int
    policy: Policy
    rows: dict[str, RowFilter]


@dataclass(frozen=True)
class Grant:
    """What one identity sees: the policy entry that matched it, bound to its attributes.

    `restricted` is False only without a `policies:` block; then everything is visible and
    nothing is masked or filtered. `key` tells caches apart: equal keys see equal data."""

    identity: Identity
    restricted: bool = False
    entry: Compiled | None = None
    key: str = "*"
    hasher: Hasher | None = field(default=None, compare=False)

    @property
    def visibility(self) -> str:
        """Equal for grants that see the same relations, columns and types (one policy entry),
        whatever their attributes: the key of per-grant catalogs."""
        if not self.restricted:
            return "*"
        return f"policy:{self.index if self.index is not None else '-'}"

    @property
    def index(self) -> int | None:
        return self.entry.index if self.entry is not None else None

    @property
    def limits(self) -> Limits | None:
        return self.entry.policy.limits if self.entry is not None else None

    def sees(self, relation: str) -> bool:
        if not self.restricted:
            return True
        return self.entry is not None and _matches_any(relation, self.entry.policy.datasets)

    def sees_identity(self, name: str) -> bool:
        """Whether per-identity metrics of `name` are shown to this grant: its own always, the
        others' only without policies or under `metrics: all`, so an agent reading /metrics
        does not learn which other identities exist, as /v1/status hides invisible datasets."""
        if not self.restricted or name == self.identity.name:
            return True
        return self.entry is not None and self.entry.policy.metrics == "all"

    def rules(self, relation: str, columns: Iterable[str]) -> dict[str, Rule]:
        """Each column's rule; the strictest wins where several keys match one column."""
        if self.entry is None or not self.entry.policy.columns:
            return {}
        found: dict[str, Rule] = {}
        for column in columns:
            for key, rule in self.entry.policy.columns.items():
                table, _, name = key.rpartition(".")
                if _glob(relation, table) and _glob(column, name):
                    current = found.get(column)
                    if current is None or STRICTNESS[rule] > STRICTNESS[current]:
                        found[column] = rule
        return found

    def readable_error(self, relation: str, message: str | None) -> str | None:
        """`message`, a load or refresh error of `relation` (status pages, describe_dataset,
        /v1/ready), as this caller may read it: HIDDEN_ERROR where a column rule or row filter
        narrows the relation. A source's message quotes what it failed on, a denied column's
        name, a masked value, a key of a row the filter hides, and no reading of its text
        tells those apart from the rest."""
        return HIDDEN_ERROR if message is not None and self.narrows(relation) else message

    def counts_rows(self, relation: str) -> bool:
        """Whether the caller may learn the relation's row count: not under a row filter, where
        the source's count (status pages, pg_class.reltuples, metrics) would tell how many rows
        are hidden from it."""
        if self.entry is None:
            return not self.restricted
        return not any(_glob(relation, key) for key in self.entry.rows)

    def narrows(self, relation: str) -> bool:
        """Whether any column rule or row filter applies to the relation."""
        if self.entry is None:
            return False
        keys = [key.rpartition(".")[0] for key in self.entry.policy.columns] + list(self.entry.rows)
        return any(_glob(relation, key) for key in keys)

    def row_filter(self, relation: str) -> exp.Expression | None:
        """The AND of every row filter whose key matches the relation, bound to the caller."""
        if self.entry is None:
            return None
        filters = [
            row.bind(self.identity) for key, row in self.entry.rows.items() if _glob(relation, key)
        ]
        return exp.and_(*filters) if filters else None


class Hasher:
    """The `hash` rule: HMAC-SHA256 under runtime.auth.hash_key, cut to 16 hex characters.

    Equal values give equal hashes in every dataset (so hashed keys still join and group);
    without the key the values cannot be recovered or confirmed by guessing."""

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, digestmod=hashlib.sha256)

    def text(self, value: str) -> str:
        digest = self._base.copy()
        digest.update(value.encode())
        return digest.hexdigest()[:HASH_CHARS]

    def array(self, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Each value's hash as text, NULL kept; each distinct value is hashed once. A value is
        hashed as its text (nested values as JSON), so equal values hash equal anywhere."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        try:
            text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = pa.array(
                [
                    None if value is None else json.dumps(value, default=str, sort_keys=True)
                    for value in values.to_pylist()
                ],
                pa.string(),
            )
        encoded = text.dictionary_encode()
        hashes = pa.array([self.text(v) for v in encoded.dictionary.to_pylist()], pa.string())
        return hashes.take(encoded.indices)


class Access:
    """The compiled `policies:` block; `grant` answers per identity, cached."""

    def __init__(self, config: SidecarConfig) -> None:
        self.restricted = config.policies is not None
        self.entries = [
            Compiled(
                index, policy, {key: compile_filter(text) for key, text in policy.rows.items()}
            )
            for index, policy in enumerate(config.policies or ())
        ]
        secret = config.runtime.auth.hash_key
        self.hasher = (
            Hasher(resolve_string(secret.get_secret_value(), config.base_dir).encode())
            if secret is not None
            else None
        )
        self._grants: dict[tuple[str, tuple[tuple[str, str], ...]], Grant] = {}

    def match(self, identity: str) -> tuple[int, Policy] | None:
        """The first entry whose identities match (its index and policy), if any: the entry
        whose datasets, rules and limits apply to that identity."""
        entry = self._entry(identity)
        return (entry.index, entry.policy) if entry is not None else None

    def _entry(self, identity: str) -> Compiled | None:
        found = matching_policy([entry.policy for entry in self.entries], Identity(identity))
        return self.entries[found[0]] if found is not None else None

    def grant(self, identity: Identity) -> Grant:
        cache_key = (identity.name, tuple(sorted(identity.attributes.items())))
        found = self._grants.get(cache_key)
        if found is not None:
            return found
        if not self.restricted:
            grant = Grant(identity, hasher=self.hasher)
        else:
            entry = self._entry(identity.name)
            digest = hashlib.sha256(repr(cache_key).encode()).hexdigest()[:16]
            key = f"{entry.index if entry is not None else '-'}:{digest}"
            grant = Grant(identity, True, entry, key, self.hasher)
        if len(self._grants) > 4096:
            self._grants.clear()
        self._grants[cache_key] = grant
        return grant


def matching_policy(
    policies: Sequence[Policy] | None, identity: Identity
) -> tuple[int, Policy] | None:
    """The index and entry of the first policy naming `identity` (names and globs, matched
    case-sensitively; `*` covers everyone, `anonymous` included); None when none does."""
    for index, policy in enumerate(policies or ()):
        if any(fnmatch.fnmatchcase(identity.name, pattern) for pattern in policy.identities):
            return index, policy
    return None


def unrestricted(identity: Identity | None = None) -> Grant:
    """The grant of a sidecar without policies (and of operator tools that see everything)."""
    return Grant(identity or Identity(ANONYMOUS))


def _glob(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


def _matches_any(name: str, patterns: Sequence[str]) -> bool:
    return any(_glob(name, pattern) for pattern in patterns)


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


# ---- validation: `sidecar config check` and start-up ---------------------------------------


def policy_errors(config: SidecarConfig) -> list[str]:
    """Every problem of the policies that the configuration alone shows, one located line each
    (`policies[1].rows.customers: ...`); columns of undeclared schemas wait for `schema_errors`."""
    if config.policies is None:
        return []
    datasets = {dataset.name.lower(): dataset for dataset in config.datasets}
    views = {view.name.lower() for view in config.views}
    known = sorted([d.name for d in config.datasets] + [v.name for v in config.views])
    declared = {
        name: [column.name for column in dataset.columns]
        for name, dataset in datasets.items()
        if dataset.columns
    }
    identities = _identities(config)
    errors: list[str] = []
    for index, policy in enumerate(config.policies):
        where = f"policies[{index}]"
        for position, pattern in enumerate(policy.datasets):
            if not any(_glob(name, pattern) for name in known):
                errors.append(f"{where}.datasets[{position}]: {_unknown(pattern, known)}")
        for key, rule in policy.columns.items():
            table, dot, column = key.rpartition(".")
            if not dot or not table or not column:
                errors.append(
                    f"{where}.columns.{key}: write <dataset>.<column>, e.g. customers.email"
                )
                continue
            errors += _target_errors(f"{where}.columns.{key}", table, policy, datasets, views)
            if rule == "hash" and config.runtime.auth.hash_key is None:
                errors.append(
                    f"{where}.columns.{key}: hash needs a key: set runtime.auth.hash_key "
                    "(e.g. ${env:SIDECAR_HASH_KEY})"
                )
            for name, columns in declared.items():
                if _glob(name, table) and not _is_glob(column) and column not in columns:
                    errors.append(
                        f"{where}.columns.{key}: {_unknown_column(column, name, columns)}"
                    )
        for table, text in policy.rows.items():
            at = f"{where}.rows.{table}"
            errors += _target_errors(at, table, policy, datasets, views)
            try:
                row = compile_filter(text)
            except PolicyError as error:
                errors.append(f"{at}: {error}")
                continue
            for name, columns in declared.items():
                if _glob(name, table):
                    errors += [
                        f"{at}: {_unknown_column(column, name, columns)}"
                        for column in sorted(row.columns)
                        if column not in columns
                    ]
            errors += _attribute_errors(at, index, row, identities, config)
    if config.runtime.auth.hash_key is not None:
        try:
            resolve_string(config.runtime.auth.hash_key.get_secret_value(), config.base_dir)
        except SecretError as error:
            errors.append(f"runtime.auth.hash_key: {error}")
    return errors


def schema_errors(config: SidecarConfig, schemas: Mapping[str, pa.Schema]) -> list[str]:
    """Policy columns and row filter columns missing from the loaded datasets' schemas."""
    errors: list[str] = []
    for index, policy in enumerate(config.policies or ()):
        for name, schema in schemas.items():
            for key in policy.columns:
                table, _, column = key.rpartition(".")
                if _glob(name, table) and not _is_glob(column) and column not in schema.names:
                    errors.append(
                        f"policies[{index}].columns.{key}: "
                        + _unknown_column(column, name, schema.names)
                    )
            for table, text in policy.rows.items():
                if not _glob(name, table):
                    continue
                try:
                    row = compile_filter(text)
                except PolicyError:
                    continue  # reported by policy_errors
                errors += [
                    f"policies[{index}].rows.{table}: {_unknown_column(c, name, schema.names)}"
                    for c in sorted(row.columns)
                    if c not in schema.names
                ]
    return errors


def _identities(config: SidecarConfig) -> dict[str, dict[str, str]]:
    """The identities that can ever call, with their attributes: the API keys' holders, or
    only `anonymous` when there are no keys."""
    if not config.runtime.auth.api_keys:
        return {ANONYMOUS: {}}
    found: dict[str, dict[str, str]] = {}
    for api_key in config.runtime.auth.api_keys:
        found.setdefault(api_key.identity, {}).update(api_key.attributes)
    return found


def _attribute_errors(
    at: str,
    index: int,
    row: RowFilter,
    identities: Mapping[str, Mapping[str, str]],
    config: SidecarConfig,
) -> list[str]:
    """Each identity this entry decides for must have every attribute its filter uses."""
    policies = config.policies or []
    errors = []
    for identity, attributes in sorted(identities.items()):
        first = matching_policy(policies, Identity(identity))
        if first is None or first[0] != index:
            continue
        for name in sorted(row.attributes - set(attributes)):
            holder = (
                "has no API key, so no attributes"
                if identity == ANONYMOUS and not config.runtime.auth.api_keys
                else "has no such attribute"
            )
            errors.append(
                f"{at}: {{identity.{name}}} is not set for identity '{identity}', which {holder}; "
                f"add attributes: {{{name}: ...}} to its runtime.auth.api_keys entry"
            )
    return errors


def _target_errors(
    at: str, table: str, policy: Policy, datasets: Mapping[str, object], views: set[str]
) -> list[str]:
    names = list(datasets)
    if not _is_glob(table) and table.lower() in views:
        return [
            f"{at}: {table} is a view; put column and row rules on the datasets it reads "
            "(they apply beneath the view), or select fewer columns in the view's SQL"
        ]
    if not any(_glob(name, table) for name in names):
        return [f"{at}: {_unknown(table, names)}"]
    if not any(_glob(name, table) and _matches_any(name, policy.datasets) for name in names):
        return [f"{at}: {table} is not among this entry's datasets, so the rule never applies"]
    return []


def _unknown(pattern: str, known: Sequence[str]) -> str:
    if _is_glob(pattern):
        return f"'{pattern}' matches no dataset or view; known: {', '.join(known) or '(none)'}"
    close = difflib.get_close_matches(pattern.lower(), [k.lower() for k in known], n=1)
    suggestion = f"; did you mean {close[0]}?" if close else ""
    return f"unknown dataset '{pattern}'{suggestion} (known: {', '.join(known) or 'none'})"


def _unknown_column(column: str, dataset: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(column, list(columns), n=1)
    suggestion = f"; did you mean {close[0]}?" if close else ""
    return f"{dataset} has no column '{column}'{suggestion} (columns: {', '.join(columns)})"
