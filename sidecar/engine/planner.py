"""From agent SQL to a federated plan: which source scans what, and what DataFusion runs on top.

The planner rewrites every table reference to a per-query scan name, then analyses a qualified
copy of the query (sqlglot's scopes and predicate pushdown) to decide, per scan, the columns,
the predicates and the limit the source is asked for. Pushdown only ever narrows what a source
returns; DataFusion still evaluates the whole query, so a predicate a source cannot honour costs
speed, never correctness. Two plans hand more to a source, and only when it says it computes
that part exactly: the whole query to a SQL source holding every table, and the groups of a
grouped single-table query to a source that aggregates (`grouping`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, SqlglotError
from sqlglot.optimizer.pushdown_predicates import pushdown_predicates
from sqlglot.optimizer.pushdown_projections import pushdown_projections
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from connectors.base import Connector, ScanRequest
from connectors.predicates import Untranslatable
from connectors.sql import SqlConnector
from connectors.sql_functions import source_form
from policies.access import Grant, unrestricted
from policies.guard import check, parse
from sidecar.engine import chains, quantified, readings, star_names, stars, ties
from sidecar.engine.bridge import source_failed
from sidecar.engine.catalog import SYSTEM_SCHEMA, Catalog, DatasetEntry, Resolved
from sidecar.engine.dialect import datafusion_sql, named_fields, names_sql
from sidecar.engine.grouping import GroupedQuery, split
from sidecar.engine.interrupt import checkpoint
from sidecar.engine.restriction import Restriction
from sidecar.engine.types import sql_type
from sidecar.errors import ErrorCode, SidecarError

log = logging.getLogger("sidecar.engine")
DIALECT = "postgres"
SCAN_PREFIX = "__scan_"
MAX_VIEW_DEPTH = 16
SMALL_RESULT = 1000
MAX_KEPT_RESTRICTIONS = 4096
DEFINER = "view"  # meta key on table references inside a view: resolved as its definer
SIMPLIFIED_WIDTH = 64
MINUTE_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}$")
# A table function the engine answers itself (a search): its relation name and its scan's
# connector, or None for a function it does not know. It reads what the grant sees (or, inside
# a view, what the view's definer sees: the flag).
TableFunction = Callable[[exp.Func, Grant, bool], tuple[str, Connector] | None]
UNRESOLVED = re.compile(r"Column '\"?([^'\"]+)\"?' could not be resolved|Unknown column: (\S+)")
UNJOINABLE = re.compile(r"Cannot automatically join: (\S+)")


@dataclass
class Scan:
    """One table reference of the query, and what its source will be asked for."""

    name: str
    alias: str
    relation: str
    connector: Connector
    schema: pa.Schema
    request: ScanRequest = field(default_factory=ScanRequest)
    residual: list[str] = field(default_factory=list)
    restriction: Restriction | None = None
    view: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class PushedQuery:
    """The whole query, in the source's dialect, for a source that holds every table of it;
    `statement` is the tree `sql` was written from (its parameters marked, for plans kept);
    `small` when its answer is known to be at most SMALL_RESULT rows."""

    connector: SqlConnector
    sql: str
    statement: exp.Expression
    small: bool = False


@dataclass(frozen=True)
class DirectScan:
    """A query that is one scan's rows as they arrive, its columns picked and renamed: the
    batches go from the source to the client without passing through DataFusion."""

    scan: str
    columns: tuple[str, ...]
    offset: int = 0
    limit: int | None = None


@dataclass
class Plan:
    """`statement` and `sql` are the whole query as DataFusion plans it over the scans; a
    `pushed` query or the `grouped` answer of its one source replace them when run."""

    statement: exp.Expression
    sql: str
    scans: list[Scan]
    pushed: PushedQuery | None = None
    grouped: GroupedQuery | None = None
    direct: DirectScan | None = None
    # how a source's error may name datasets the caller cannot see (Catalog.unseen)
    unseen: frozenset[str] = frozenset()
    names_sql: str | None = None  # planned for the result's names (dialect.names_sql)

    @property
    def relations(self) -> list[str]:
        return sorted({scan.relation for scan in self.scans})

    @property
    def shown_relations(self) -> list[str]:
        """The relations as the caller may name them: a dataset it may not see only as the
        view it reads it through."""
        return sorted(
            {scan.view if scan.hidden and scan.view else scan.relation for scan in self.scans}
        )


class Planner:
    def __init__(
        self,
        catalog: Catalog,
        table_function: TableFunction | None = None,
        max_width: int | None = None,
    ) -> None:
        """`max_width` bounds the columns a select list's stars expand to (`stars.py`)."""
        self.catalog = catalog
        self.table_function = table_function
        self.max_width = max_width
        self._restrictions: dict[tuple[object, ...], Restriction | None] = {}
        self._unseen_names: dict[tuple[object, ...], frozenset[str]] = {}

    def plan(self, statement: exp.Expression, sql: str, grant: Grant | None = None) -> Plan:
        """`grant` is what the caller may see (None: everything); each dataset reference
        becomes a scan of the caller's rows and values (`restriction`)."""
        grant = grant or unrestricted()
        statement = chains.balance(statement)
        complete_minutes(statement)
        named_fields(statement)
        checkpoint()
        statement, views = self._expand_views(statement, sql, grant)
        quantified.rewrite(statement)
        scans = self._bind_scans(statement, sql, grant)
        if self.max_width is not None:
            stars.check(statement, {scan.name: len(scan.schema) for scan in scans}, self.max_width)
        star_names.name_apart(statement, {scan.name: scan.schema for scan in scans})
        readings.mark(statement, [(scan.alias, scan.schema) for scan in scans])
        checkpoint()
        qualified = self._push_down(statement, scans, views, sql) if scans else None
        checkpoint()
        # a source alone never answers for a restricted scan: it would skip the policy
        own = not any(scan.restriction is not None for scan in scans)
        grouped = _grouped(statement, scans) if own else None
        _hand_searches_to_sources(statement, scans)
        pushed = _whole_query(statement, scans) if own else None
        direct = _direct(qualified, scans) if qualified is not None and not pushed else None
        return Plan(
            statement,
            datafusion_sql(statement),
            scans,
            pushed,
            None if pushed else grouped,
            direct,
            self._unseen(grant),
            names_sql(statement),
        )

    def _unseen(self, grant: Grant) -> frozenset[str]:
        """Kept per grant: which datasets a caller sees changes only with its policy."""
        if not grant.restricted:
            return frozenset()
        key = ("unseen", grant.key)
        if key not in self._unseen_names:
            if len(self._unseen_names) > MAX_KEPT_RESTRICTIONS:
                self._unseen_names.clear()
            self._unseen_names[key] = self.catalog.unseen(grant)
        return self._unseen_names[key]

    def _expand_views(
        self, statement: exp.Expression, sql: str, grant: Grant
    ) -> tuple[exp.Expression, dict[str, str]]:
        """Inline every view; returns the statement and the caller's view aliases (alias ->
        view). Tables inside a view are marked with it: they resolve with the definer's
        visibility, so a view works even when the datasets under it are hidden."""
        aliases: dict[str, str] = {}
        for _ in range(MAX_VIEW_DEPTH):
            views = [
                (table, resolved)
                for table, resolved in self._references(statement, sql, grant)
                if resolved.view is not None
            ]
            if not views:
                return statement, aliases
            for table, resolved in views:
                body = self._view_body(resolved)
                definer = table.meta.get(DEFINER, resolved.name)
                for inner in body.find_all(exp.Table):
                    inner.meta[DEFINER] = definer
                alias = table.alias_or_name
                if DEFINER not in table.meta:
                    aliases[alias] = resolved.name
                subquery = exp.Subquery(
                    this=body, alias=exp.TableAlias(this=exp.to_identifier(alias))
                )
                if table is statement:
                    return subquery, aliases
                table.replace(subquery)
        raise SidecarError(
            ErrorCode.QUERY,
            f"views nest more than {MAX_VIEW_DEPTH} levels deep (is there a cycle?)",
            hint="check the views: section of sidecar.yaml for views that reference each other",
        )

    def _view_body(self, resolved: Resolved) -> exp.Expression:
        assert resolved.view is not None
        view_sql = resolved.view.sql
        try:
            return check(view_sql, parse(view_sql)).copy()
        except SidecarError as error:
            raise SidecarError(
                ErrorCode.QUERY,
                f"view {resolved.name} is invalid: {error.message}",
                hint="fix the view's sql in sidecar.yaml",
            ) from None

    def _references(
        self, statement: exp.Expression, sql: str, grant: Grant
    ) -> Iterator[tuple[exp.Table, Resolved]]:
        for table in list(statement.find_all(exp.Table)):
            if not isinstance(table.this, exp.Identifier) or is_cte_reference(table):
                continue
            # a view reads with its definer's visibility, the system tables always the caller's
            definer = DEFINER in table.meta and table.db.lower() != SYSTEM_SCHEMA
            try:
                resolved = self.catalog.resolve(table, None if definer else grant)
            except SidecarError as error:
                if definer:  # the definer's catalog is not the caller's to read in a hint
                    raise _broken_view(table.meta[DEFINER], error) from None
                error.position = identifier_position(sql, table.name)
                raise
            yield table, resolved

    def _bind_scans(self, statement: exp.Expression, sql: str, grant: Grant) -> list[Scan]:
        scans = []
        for table, resolved in list(self._references(statement, sql, grant)):
            view = table.meta.get(DEFINER)
            restriction = None
            if resolved.system is not None:
                connector, schema = resolved.system, resolved.system.schema()
            else:
                assert resolved.dataset is not None
                connector, schema = _required(resolved.dataset, view, grant)
                restriction = self._restriction(grant, resolved.name, connector, schema, view)
            name = f"{SCAN_PREFIX}{len(scans) + 1}"
            alias = table.alias_or_name
            scans.append(
                Scan(
                    name,
                    alias,
                    resolved.name,
                    connector,
                    restriction.schema if restriction is not None else schema,
                    restriction=restriction,
                    view=view,
                    hidden=view is not None and not grant.sees(resolved.name),
                )
            )
            table_alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(alias))
            table.replace(exp.Table(this=exp.to_identifier(name, quoted=True), alias=table_alias))
        for table in list(statement.find_all(exp.Table)):
            view = table.meta.get(DEFINER)
            bound = self._table_function(table, grant, view is not None)
            if bound is None:
                continue
            relation, connector = bound
            dataset = connector.source.name  # the searched dataset: its policy holds for hits
            restriction = Restriction.of(grant, dataset, connector.schema(), definer=bool(view))
            if restriction is not None:  # a call's scan is new each time: nothing to keep
                restriction = restriction.at_source(connector.accepts_filter)
            name = f"{SCAN_PREFIX}{len(scans) + 1}"
            alias = table.alias or _function_name(table.this)
            scans.append(
                Scan(
                    name,
                    alias,
                    relation,
                    connector,
                    restriction.schema if restriction is not None else connector.schema(),
                    restriction=restriction,
                    view=view,
                    hidden=view is not None and not grant.sees(dataset),
                )
            )
            table_alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(alias))
            table.replace(exp.Table(this=exp.to_identifier(name, quoted=True), alias=table_alias))
        return scans

    def _restriction(
        self,
        grant: Grant,
        relation: str,
        connector: Connector,
        schema: pa.Schema,
        view: str | None,
    ) -> Restriction | None:
        """The policy of one reference, its row filter split by what the source takes; kept,
        since asking a connector whether it takes a filter can cost more than a small query."""
        if not grant.restricted:
            return None
        key = (grant.key, relation.lower(), view is not None, connector, schema)
        if key in self._restrictions:
            return self._restrictions[key]
        restriction = Restriction.of(grant, relation, schema, definer=view is not None)
        if restriction is not None:
            restriction = restriction.at_source(connector.accepts_filter)
        if len(self._restrictions) > MAX_KEPT_RESTRICTIONS:
            self._restrictions.clear()
        self._restrictions[key] = restriction
        return restriction

    def _table_function(
        self, table: exp.Table, grant: Grant, definer: bool
    ) -> tuple[str, Connector] | None:
        if self.table_function is None or not isinstance(table.this, exp.Func):
            return None
        return self.table_function(table.this, grant, definer)

    def _push_down(
        self, statement: exp.Expression, scans: list[Scan], views: dict[str, str], sql: str
    ) -> exp.Expression | None:
        """Decide each scan's request; returns the qualified query it was decided on."""
        by_name = {scan.name: scan for scan in scans}
        widths = {scan.name: len(scan.schema) for scan in scans}
        named = stars.named(statement, widths, self.max_width)
        schema = {
            scan.name: {
                _quote(f.name): _schema_type(f.type)
                for index, f in enumerate(scan.schema)
                # one column at least: sqlglot checks no column against a table without any
                if scan.name not in named or not index or f.name.lower() in named[scan.name]
            }
            for scan in scans
        }
        try:
            qualified = qualify(readings.opaque(statement.copy()), schema=schema, dialect=DIALECT)
            if _narrow(qualified):
                qualified = pushdown_predicates(qualified)
            qualified = pushdown_projections(qualified)
            scopes = traverse_scope(qualified)
        except OptimizeError as error:
            self._raise_unknown_column(error, scans, views, sql, statement)
            return None
        except SqlglotError:
            return None
        used = _used_columns(qualified)
        for scope in scopes:
            for alias, (_, source) in scope.selected_sources.items():
                if isinstance(source, exp.Table) and source.name in by_name:
                    _plan_scan(by_name[source.name], alias, scope, used.get(alias, set()))
        return qualified

    def _raise_unknown_column(
        self,
        error: OptimizeError,
        scans: list[Scan],
        views: dict[str, str],
        sql: str,
        statement: exp.Expression,
    ) -> None:
        """The unknown column and the ones the caller can see: its tables' and its views'
        columns, never those of the datasets beneath a view."""
        described = {
            alias: self.catalog.view_schema(view.lower(), unrestricted())
            for alias, view in views.items()
        }
        visible = [(scan.alias, scan.schema.names) for scan in scans if scan.view is None] + [
            (alias, (schema or pa.schema([])).names) for alias, schema in described.items()
        ]
        unjoinable = UNJOINABLE.search(str(error))
        if unjoinable:
            raise _unknown_using(unjoinable.group(1), statement, dict(visible), sql)
        match = UNRESOLVED.search(str(error))
        if not match:
            return
        column = match.group(1) or match.group(2)
        broken = sorted(views[alias] for alias, schema in described.items() if schema is None)
        if broken and not any(column in names for _, names in visible):
            raise SidecarError(
                ErrorCode.UNDEFINED_COLUMN,
                f'view "{broken[0]}" cannot be read: its definition refers to column "{column}", '
                "which its tables do not have",
                hint="the view is broken in the sidecar's configuration, not in this query: its "
                "operator fixes it (`sidecar config check --connect` locates it)",
            )
        candidates = sorted({f"{alias}.{column}" for alias, names in visible if column in names})
        if len(candidates) > 1:
            raise SidecarError(
                ErrorCode.AMBIGUOUS_COLUMN,
                f'column reference "{column}" is ambiguous: it could be {" or ".join(candidates)}',
                hint=f"qualify it with its table: {', '.join(candidates)}",
                position=identifier_position(sql, column),
            )
        known = sorted({f"{alias}.{name}" for alias, names in visible for name in names})
        lowered = [k for k in known if k.split(".", 1)[1].lower() == column.lower()]
        hint = f"columns in scope: {', '.join(known)}"
        if lowered:
            hint = f'did you mean {lowered[0]} (mixed-case names need "double quotes")? ' + hint
        raise SidecarError(
            ErrorCode.UNDEFINED_COLUMN,
            f'column "{column}" does not exist',
            hint=hint,
            position=identifier_position(sql, column),
        )


def _unknown_using(
    column: str, statement: exp.Expression, columns: dict[str, list[str]], sql: str
) -> SidecarError:
    """`JOIN ... USING (column)` where a side lacks it, said as PostgreSQL says it, with that
    side's columns and the column's place in the USING list."""
    side, tables = "right", []
    for join in statement.find_all(exp.Join):
        if column.lower() not in {name.name.lower() for name in join.args.get("using") or []}:
            continue
        right = join.this.alias_or_name
        if any(name.lower() == column.lower() for name in columns.get(right, [])):
            select = join.parent
            joins = select.args.get("joins") or [] if select is not None else []
            start = select.args.get("from_") if select is not None else None
            side = "left"
            tables = [start.this.alias_or_name] if start is not None else []
            tables += [other.this.alias_or_name for other in joins[: joins.index(join)]]
        else:
            tables = [right]
        break
    known = sorted(f"{alias}.{name}" for alias in tables for name in columns.get(alias, []))
    return SidecarError(
        ErrorCode.UNDEFINED_COLUMN,
        f'column "{column}" specified in USING clause does not exist in {side} table',
        hint=f"columns of the {side} table: {', '.join(known) or '(none known)'}; USING needs "
        "a column both sides have, else join ON the two columns",
        position=_using_position(sql, column),
    )


def _using_position(sql: str, column: str) -> int | None:
    """1-based offset of `column` inside a USING (...) list, else anywhere in the SQL."""
    for clause in re.finditer(r"\bUSING\s*\(([^)]*)\)", sql, flags=re.IGNORECASE):
        found = identifier_position(clause.group(1), column)
        if found is not None:
            return clause.start(1) + found
    return identifier_position(sql, column)


def _direct(qualified: exp.Expression, scans: list[Scan]) -> DirectScan | None:
    """Plain reads of one table whose whole WHERE went to the source need no engine at all:
    `SELECT a, b AS c FROM t WHERE <pushed> LIMIT n OFFSET m` (the agent's commonest query)."""
    if len(scans) != 1 or not isinstance(qualified, exp.Select):
        return None
    scan = scans[0]
    clauses = ("joins", "group", "having", "order", "distinct", "qualify", "laterals", "with_")
    if any(qualified.args.get(clause) for clause in clauses) or scan.residual:
        return None
    if qualified.find(exp.Subquery, exp.Window, exp.AggFunc, exp.Unnest, exp.Explode):
        return None
    where = qualified.args.get("where")
    if len(_conjuncts(where.this if where else None)) != len(scan.request.filters):
        return None
    columns = []
    for projection in qualified.expressions:
        node = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(node, exp.Column) or node.table != scan.alias:
            return None
        columns.append(node.name)
    limit, offset = qualified.args.get("limit"), qualified.args.get("offset")
    count = _integer(limit.expression) if limit is not None else None
    skip = _integer(offset.expression) if offset is not None else 0
    if (limit is not None and count is None) or skip is None:
        return None
    return DirectScan(scan.name, tuple(columns), skip, count)


def _hand_searches_to_sources(statement: exp.Expression, scans: list[Scan]) -> None:
    """Full-text matches (`message @@ 'text'`) only a search source can evaluate: once every
    one of them went to a scan, DataFusion sees TRUE in their place; any left over is an error
    that says where such a match may stand."""
    searches = list(statement.find_all(exp.MatchAgainst))
    if not searches:
        return
    pushed = sum(
        len(list(predicate.find_all(exp.MatchAgainst)))
        for scan in scans
        for predicate in scan.request.filters
    )
    if pushed != len(searches):
        raise SidecarError(
            ErrorCode.QUERY,
            f"full-text match {searches[0].sql(DIALECT)} can only be answered by a search source",
            hint="use `column @@ 'words'` as a top-level AND condition on an elasticsearch "
            "dataset's column (not under OR, and not on other sources)",
        )
    for search in searches:
        search.replace(exp.true())


def _grouped(statement: exp.Expression, scans: list[Scan]) -> GroupedQuery | None:
    """Ask the one source of a grouped single-table query for its groups (see `grouping`).

    Asked before full-text matches become TRUE for DataFusion: the core keeps them, so only a
    source that evaluates them can answer it.
    """
    if len(scans) != 1:
        return None
    scan = scans[0]
    groups = f"{scan.name}_groups"
    parts = split(statement, scan.name, groups, scan.relation, scan.schema.names)
    if parts is None:
        return None
    answer = scan.connector.aggregate(parts.core)
    if answer is None or len(answer.schema) != len(parts.core.expressions):
        return None
    return GroupedQuery(groups, answer, parts.outer)


def _required(dataset: DatasetEntry, view: str | None, grant: Grant) -> tuple[Connector, pa.Schema]:
    """The dataset's connector and schema; one beneath `view` that the caller may not see and
    that cannot be read fails as the view (`bridge.source_failed`): its error names it."""
    try:
        return dataset.require()
    except SidecarError as error:
        if view is None or grant.sees(dataset.name):
            raise _withheld(error, dataset, grant) from None
        raise source_failed(dataset.name, error, view) from None


def _withheld(error: SidecarError, dataset: DatasetEntry, grant: Grant) -> SidecarError:
    """`error` without the source's message it quotes where the caller's policy narrows the
    dataset (`Grant.readable_error`: a duplicate key of a denied column, a hidden row's)."""
    message = error.message
    for cause in {dataset.last_error, dataset.error} - {None}:
        shown = grant.readable_error(dataset.name, cause)
        if cause and shown and shown != cause:
            message = message.replace(cause, shown)
    if message == error.message:
        return error
    return SidecarError(
        error.code, message, hint=error.hint, position=error.position, retry_after=error.retry_after
    )


def _whole_query(statement: exp.Expression, scans: list[Scan]) -> PushedQuery | None:
    """Push the whole query when every table lives in one SQL source and it can express it.

    Joins, aggregates and windows then run next to the data and only the answer travels; any
    table that is not such a scan (a system table, a table function) keeps it federated.
    """
    if not scans or not isinstance(first := scans[0].connector, SqlConnector):
        return None
    if ties.has_ties(statement):  # most dialects have no WITH TIES; sqlglot writes LIMIT n
        return None
    key = first.source_key()
    for scan in scans:
        other = scan.connector
        if not isinstance(other, SqlConnector) or not other.answers_whole_queries():
            return None
        if other.dialect != first.dialect or other.source_key() != key:
            return None
    if not first.rules.exact_text and _compares_text(statement, scans):
        return None
    names = _source_names(scans)
    if names is None:
        return None
    by_name = {scan.name: scan for scan in scans}
    try:
        remote = source_form(
            first.whole_query(statement.copy(), names), first.dialect, _types(scans)
        )
    except Untranslatable:
        return None
    for table in list(remote.find_all(exp.Table)):
        scan = by_name.get(table.name)
        if scan is None:
            if is_cte_reference(table):
                continue
            return None
        assert isinstance(scan.connector, SqlConnector)
        target = scan.connector.table().copy()
        target.set("alias", table.args.get("alias"))
        table.replace(target)
    try:
        return PushedQuery(
            first, pushed_sql(remote, first.dialect), remote, _small(statement, scans)
        )
    except SqlglotError:
        return None


def _types(scans: list[Scan]) -> dict[str, pa.DataType | None]:
    """Each column name of the scans and its type (None where two tables disagree)."""
    types: dict[str, pa.DataType | None] = {}
    for scan in scans:
        for column in scan.schema:
            key = column.name.lower()
            types[key] = column.type if types.get(key, column.type) == column.type else None
    return types


def _small(statement: exp.Expression, scans: list[Scan]) -> bool:
    """Whether the answer has at most SMALL_RESULT rows whatever the data: a small LIMIT, an
    aggregate without groups, or one table looked up by every column of a unique key."""
    if not isinstance(statement, exp.Select) or statement.find(exp.Unnest, exp.Explode):
        return False
    limit = statement.args.get("limit")
    count = _integer(limit.expression) if limit is not None else None
    if count is not None and count <= SMALL_RESULT:
        return True
    if statement.args.get("group") or statement.find(exp.Window):
        return False
    if any(projection.find(exp.AggFunc) for projection in statement.expressions):
        return True
    if len(scans) != 1 or statement.args.get("joins") or statement.args.get("with_"):
        return False
    where = statement.args.get("where")
    fixed = {
        column.name.lower()
        for conjunct in _conjuncts(where.this if where else None)
        if isinstance(conjunct, exp.EQ)
        for column, value in (
            (conjunct.this, conjunct.expression),
            (conjunct.expression, conjunct.this),
        )
        if isinstance(column, exp.Column) and not value.find(exp.Column)
    }
    return any(
        key and {name.lower() for name in key} <= fixed for key in scans[0].connector.unique_keys()
    )


def pushed_sql(statement: exp.Expression, dialect: str) -> str:
    """A whole query as its source is sent it."""
    return statement.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)


def _source_names(scans: list[Scan]) -> dict[str, str] | None:
    """Each exposed column name of the scans and the name its source stores, or None when one
    name stands for different stored names in different tables (a name folded in one table,
    stored as written in another), which one query text could not tell apart."""
    names: dict[str, str] = {}
    for scan in scans:
        assert isinstance(scan.connector, SqlConnector)
        stored = scan.connector.source_names
        for name in scan.schema.names:
            if names.setdefault(name, stored.get(name, name)) != stored.get(name, name):
                return None
    return names


def _compares_text(statement: exp.Expression, scans: list[Scan]) -> bool:
    """Whether text columns are used for more than being returned: in predicates, joins,
    groups, sorts, DISTINCT or functions, where a source's collation could change the answer."""
    text = {
        field.name.lower()
        for scan in scans
        for field in scan.schema
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
    }
    if isinstance(statement, exp.Select) and statement.args.get("distinct"):
        return bool(text)
    returned = set()
    if isinstance(statement, exp.Select):
        for projection in statement.expressions:
            node = projection.this if isinstance(projection, exp.Alias) else projection
            if isinstance(node, exp.Column):
                returned.add(id(node))
    return any(
        column.name.lower() in text and id(column) not in returned
        for column in statement.find_all(exp.Column)
    )


def _broken_view(view: str, error: SidecarError) -> SidecarError:
    """A view whose own SQL fails to resolve: the caller learns which view, the operator's log
    what it references (the definer sees datasets the caller may not)."""
    log.warning("view %s is invalid: %s (%s)", view, error.message, error.hint)
    return SidecarError(
        ErrorCode.QUERY,
        f"view {view} is invalid: its SQL references a relation that does not exist",
        hint="ask the operator to fix the view's sql in sidecar.yaml",
    )


def _narrow(statement: exp.Expression) -> bool:
    """Whether no AND/OR chain is wider than sqlglot's predicate pushdown can afford: it
    simplifies each chain by comparing every pair of its operands. Wider chains keep the
    plainer pushdown of each scope's own WHERE conjuncts."""
    return not any(
        chains.is_root(node) and len(chains.operands(node)) > SIMPLIFIED_WIDTH
        for node in statement.find_all(exp.And, exp.Or)
    )


def complete_minutes(statement: exp.Expression) -> None:
    """PostgreSQL reads '2026-03-14 14:00' as a timestamp; DataFusion wants the seconds too."""
    for literal in statement.find_all(exp.Literal):
        if literal.is_string and MINUTE_TIMESTAMP.match(literal.this):
            literal.set("this", literal.this + ":00")


def _plan_scan(scan: Scan, alias: str, scope: Scope, columns: set[str]) -> None:
    select = scope.expression
    projection = [name for name in scan.schema.names if name in columns]
    if not isinstance(select, exp.Select):
        scan.request = ScanRequest(projection=projection)
        return
    candidates = _candidate_filters(select, alias)
    # the source holds the original values: a predicate or sort on a masked column must be
    # evaluated above the mask, and a row filter left to the sidecar must come before a limit
    masked = set(scan.restriction.masks) if scan.restriction is not None else set()
    pushed, residual = [], []
    for conjunct in candidates:
        predicate = _unqualify(conjunct)
        if (
            predicate is not None
            and not masked & {column.name for column in predicate.find_all(exp.Column)}
            and scan.connector.accepts_filter(predicate)
        ):
            pushed.append(predicate)
        else:
            residual.append(conjunct.sql(DIALECT))
    where = select.args.get("where")
    all_pushed = not residual and len(candidates) == len(_conjuncts(where.this if where else None))
    limit, order = _limit(select), _order(select, alias, scan.connector)
    filtered_here = scan.restriction is not None and scan.restriction.residual is not None
    if order and masked & {key.this.name for key in order}:
        order = None
    if not (all_pushed and scan.connector.supports_limit) or order is None or filtered_here:
        limit, order = None, []
    scan.request = ScanRequest(projection=projection, filters=pushed, limit=limit, order_by=order)
    scan.residual = residual


def _candidate_filters(select: exp.Select, alias: str) -> list[exp.Expression]:
    """Conjuncts that mention only this table, where filtering it early cannot change results."""
    joins = select.args.get("joins") or []
    where = select.args.get("where")
    conjuncts = []
    if alias not in _null_supplying(select, joins):
        conjuncts += _conjuncts(where.this if where else None)
        conjuncts += [c for join in joins if not join.side for c in _conjuncts(join.args.get("on"))]
    for join in joins:
        if join.side == "LEFT" and join.this.alias_or_name == alias:
            conjuncts += _conjuncts(join.args.get("on"))
    return [c for c in conjuncts if _only_references(c, alias)]


def _null_supplying(select: exp.Select, joins: list[exp.Join]) -> set[str]:
    """Tables an outer join pads with NULLs: a WHERE on them is not a filter on the scan."""
    earlier = {select.args["from_"].this.alias_or_name} if select.args.get("from_") else set()
    padded: set[str] = set()
    for join in joins:
        name = join.this.alias_or_name
        if join.side in ("LEFT", "FULL"):
            padded.add(name)
        if join.side in ("RIGHT", "FULL"):
            padded |= earlier
        earlier.add(name)
    return padded


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    if condition is None:
        return []
    condition = condition.unnest()
    parts = condition.flatten() if isinstance(condition, exp.And) else [condition]
    return [part for part in parts if not (isinstance(part, exp.Boolean) and part.this)]


def _only_references(conjunct: exp.Expression, alias: str) -> bool:
    if conjunct.find(exp.Subquery, exp.Select, exp.AggFunc, exp.Window, exp.Placeholder):
        return False
    columns = list(conjunct.find_all(exp.Column))
    return bool(columns) and all(column.table == alias for column in columns)


def _unqualify(conjunct: exp.Expression) -> exp.Expression | None:
    predicate = conjunct.copy()
    for column in list(predicate.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return predicate


def _limit(select: exp.Select) -> int | None:
    """A LIMIT the source may apply: only for a plain filtered scan of a single table."""
    blockers = ("joins", "group", "having", "distinct", "qualify", "laterals")
    if any(select.args.get(key) for key in blockers):
        return None
    if any(e.find(exp.AggFunc, exp.Window, exp.Explode, exp.Unnest) for e in select.expressions):
        return None
    limit, offset = select.args.get("limit"), select.args.get("offset")
    count = _integer(limit.expression if limit is not None else None)
    if count is None:
        return None
    skip = _integer(offset.expression) if offset is not None else 0
    return None if skip is None else count + skip


def _order(select: exp.Select, alias: str, connector: Connector) -> list[exp.Ordered] | None:
    """The ORDER BY a source can apply before a limit: plain columns of this table only
    (written as `t.x`, or as an output name that is one).

    None means the order cannot be pushed, so neither can the limit (top-N needs both)."""
    order = select.args.get("order")
    if order is None:
        return []
    outputs = {
        projection.alias: projection.this
        for projection in select.expressions
        if isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Column)
    }
    keys = []
    for key in order.expressions:
        column = key.this
        if isinstance(column, exp.Column) and not column.table:
            column = outputs.get(column.name, column)
        if not isinstance(column, exp.Column) or column.table != alias:
            return None
        keys.append((key, column))
    if not connector.supports_order:
        return None
    return [
        exp.Ordered(
            this=exp.column(column.name, quoted=True),
            desc=key.args.get("desc"),
            nulls_first=key.args.get("nulls_first"),
        )
        for key, column in keys
    ]


def _integer(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    return None


def _used_columns(qualified: exp.Expression) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for column in qualified.find_all(exp.Column):
        if column.table:
            used.setdefault(column.table, set()).add(column.name)
    return used


def is_cte_reference(table: exp.Table) -> bool:
    """Whether a table name refers to a WITH query in scope rather than to a relation.

    As in PostgreSQL, a WITH query's own body sees only the queries listed before it; only
    WITH RECURSIVE lets a name refer to itself (or to later ones). Otherwise
    `WITH t AS (SELECT * FROM t)` would hide a relation named t from every check."""
    if table.db or table.catalog:
        return False
    name = table.name.lower()
    inside: exp.CTE | None = None
    node: exp.Expression | None = table.parent
    while node is not None:
        if isinstance(node, exp.CTE):
            inside = node
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if with_ is not None:
            visible = with_.expressions
            if inside is not None and inside.parent is with_ and not with_.args.get("recursive"):
                visible = visible[: next(i for i, cte in enumerate(visible) if cte is inside)]
            if any(cte.alias.lower() == name for cte in visible):
                return True
        node = node.parent
    return False


def _function_name(node: exp.Expression) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql()


def _schema_type(arrow: pa.DataType) -> str:
    text = sql_type(arrow)
    return "json" if text.endswith("[]") else text


def identifier_position(sql: str, word: str) -> int | None:
    """1-based offset of an identifier in the SQL, for the error caret clients draw."""
    match = re.search(r'(?<![\w"])"?' + re.escape(word) + r'"?(?!\w)', sql, flags=re.IGNORECASE)
    return match.start() + 1 if match else None
