"""The one place where servers meet sources.

Servers hand the engine SQL and an identity; the engine checks it with the read-only guard,
plans it over the catalog and returns a `QueryResult` that streams record batches. Statements
that describe rather than read (EXPLAIN, SHOW, DESCRIBE) are answered as small system tables,
so every protocol serves them with the same code path as any query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from policies.access import Access, Grant, schema_errors
from policies.guard import Explained, explained
from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar import stacks
from sidecar.config import SidecarConfig
from sidecar.engine.bounds import Bounds
from sidecar.engine.bridge import ScanStats
from sidecar.engine.cache import MISS, CachedResult, ResultsCache
from sidecar.engine.catalog import Catalog, DatasetEntry, State
from sidecar.engine.dialect import datafusion_sql
from sidecar.engine.executor import QueryResult, Sessions
from sidecar.engine.grouping import GroupedQuery
from sidecar.engine.interrupt import checkpoint
from sidecar.engine.lookups import LOOKUP_SHARE, LOOP_ROWS, LookupResult, Lookups, written_value
from sidecar.engine.memory import TableConnector
from sidecar.engine.params import bind, parameter_count
from sidecar.engine.patterns import Patterns
from sidecar.engine.planner import DIALECT, SCAN_PREFIX, Plan, Planner, Scan
from sidecar.engine.plans import Plans, Shape, Statements
from sidecar.engine.types import sql_type
from sidecar.errors import ErrorCode, SidecarError
from sidecar.footprint import give_back
from sidecar.search.functions import bind_function
from sidecar.search.indexes import SearchIndexes
from sidecar.secrets import REDACTOR

logging.getLogger("sqlglot").setLevel(logging.ERROR)


class Engine:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.catalog = Catalog(config)
        self.catalog.describe_view = self._view_schema
        self.access = Access(config)
        self.search = SearchIndexes(self.catalog, config)
        self.planner = Planner(
            self.catalog,
            lambda node, grant, definer: bind_function(self.search, node, grant, definer),
            config.runtime.max_expression_width,
        )
        runtime = config.runtime
        self.bounds = Bounds(
            runtime.max_statement_size,
            runtime.max_expression_depth,
            runtime.max_subquery_depth,
            runtime.max_expression_width,
            runtime.memory_bytes // 16,
        )
        self.sessions = Sessions(runtime.max_expression_depth, runtime.memory_bytes)
        stacks.allow_recursion(runtime.max_expression_depth)
        self.statements = Statements(self.bounds.read)
        self.plans = Plans(self.catalog)
        self.patterns = Patterns()
        self.lookups = Lookups(self.catalog, runtime.memory_bytes // LOOKUP_SHARE)
        settings = config.runtime.results_cache
        self.cache = (
            ResultsCache(settings.max_size, settings.item_ttl) if settings.enabled else None
        )

    def load(self, progress: Callable[[DatasetEntry], None] | None = None) -> None:
        """Open every dataset and build the search indexes; what loading freed goes back to
        the system before the sidecar idles (footprint.give_back)."""
        self.catalog.load(progress)
        self.search.load()
        give_back()
        accelerator = self.catalog.accelerator
        if accelerator is not None:
            accelerator.start(self._refresh_quietly, self._failing)

    def refresh(self, name: str, identity: Identity | None = None) -> DatasetEntry:
        """Refresh one dataset now (the on-demand refresh of the APIs and CLI): its local copy,
        then its search index. A caller (`identity`) may refresh only what it sees."""
        grant = self.access.grant(identity) if identity is not None else None
        entry = self.catalog.datasets.get(name.lower())
        if entry is None or (grant is not None and not grant.sees(entry.name)):
            raise self.catalog.unknown_table(exp.to_table(name), grant)
        if entry.copy is not None or name.lower() not in self.search.entries:
            entry.refresh()
        if name.lower() in self.search.entries:
            self.search.rebuild(name)
        return entry

    def _refresh_quietly(self, key: str) -> None:
        """A scheduled refresh of a copy; its search index follows only a refresh that worked."""
        entry = self.catalog.datasets[key]
        generation = entry.generation
        entry.refresh_quietly()
        if entry.generation != generation and key in self.search.entries:
            self.search.rebuild_quietly(self.search.entries[key])

    def _failing(self, key: str) -> bool:
        """Whether a dataset's copy failed its last load or refresh (stale or in error)."""
        return self.catalog.datasets[key].state in (State.STALE, State.ERROR)

    def policy_problems(self) -> list[str]:
        """Policy rules that name columns the loaded datasets do not have (config check
        --connect, and the start-up banner): such a rule cannot be enforced as written."""
        schemas = {
            entry.name: entry.schema
            for entry in self.catalog.datasets.values()
            if entry.schema is not None
        }
        return schema_errors(self.config, schemas)

    @property
    def ready(self) -> bool:
        """Every dataset answers and every search index is built: what /v1/ready promises."""
        return self.catalog.ready and not self.search.waiting()

    def query(
        self, sql: str, parameters: Sequence[Any] = (), identity: Identity = ANONYMOUS_IDENTITY
    ) -> QueryResult | CachedResult | LookupResult:
        """Plan `sql` as `identity` and return its running result; raises SidecarError with a
        fix to try.

        The identity's policy decides what the query can see; the identity and its policy key
        the results cache: one agent's answers are never served to another."""
        return self.run(sql, parameters, self.access.grant(identity))

    def run(
        self, sql: str, parameters: Sequence[Any], grant: Grant, *, cached: bool = True
    ) -> QueryResult | CachedResult | LookupResult:
        """`query` for a resolved grant; `cached=False` always plans and runs afresh."""
        try:
            return self._query(sql, parameters, grant, cached)
        except RecursionError:
            raise self.bounds.too_deep() from None

    def lookup(
        self, sql: str, parameters: Sequence[Any], identity: Identity
    ) -> LookupResult | None:
        """`query`'s answer when a key index gives it at once (a keyed lookup on a copy whose
        plan is kept, lookups.py): nothing is parsed, planned or waited for, so a server on an
        event loop may call this there, and hand only the other statements to a thread. A
        lookup gathering more than LOOP_ROWS rows is left to the thread too. A short text
        of a pattern read before (patterns.py) is tokenized to find its written key."""
        grant = self.access.grant(identity)
        shape = self.plans.shape(sql, grant, parameters)
        answer = self._lookup(shape, parameters, most=LOOP_ROWS)
        if answer is not None:
            return answer
        known = self._patterned(sql, grant, shape[2])  # a key written in a new text
        if known is None:
            return None
        return self._lookup(known[0], parameters, known[1], most=LOOP_ROWS)

    def _patterned(
        self, sql: str, grant: Grant, kinds: tuple[str, ...]
    ) -> tuple[Shape, list[exp.Expression]] | None:
        """The shape and compared literals of `sql` when it is a text of a pattern read
        before (patterns.py), within the statement size it was never measured against."""
        known = self.patterns.find(sql, grant.key, kinds)
        if known is not None:
            self.bounds.check_size(sql)
        return known

    def _kept(
        self,
        shape: Shape,
        written: Sequence[exp.Expression] | None,
        parameters: Sequence[Any],
        grant: Grant,
    ) -> QueryResult | CachedResult | LookupResult | None:
        """The answer of `shape`'s kept plan, from a key index when it gives one; None
        without a kept plan."""
        if (answer := self._lookup(shape, parameters, written)) is not None:
            return answer
        kept = self.plans.plan(shape, parameters, written)
        return self._result(*kept, grant, True) if kept is not None else None

    def _lookup(
        self,
        shape: tuple[str, str, tuple[str, ...]],
        parameters: Sequence[Any],
        written: Sequence[exp.Expression] | None = None,
        most: int | None = None,
    ) -> LookupResult | None:
        template = self.plans.template(shape)
        if template is None or template.lookup is None:
            return None
        values = []
        for slot in template.lookup.slots:
            if slot <= len(parameters):
                values.append(parameters[slot - 1])
                continue
            node = (
                template.written.get(slot)
                if written is None
                else written[slot - 1 - len(parameters)]
            )
            if not isinstance(node, exp.Literal):
                return None
            values.append(written_value(node))
        answer = self.lookups.answer(template.lookup, template.schema, values, most)
        # The plan's stamp is checked once the index is known current: after a refresh the
        # copy's schema is read from DuckDB, which the index's rebuild does, not this caller.
        if answer is None or not template.current(self.catalog):
            return None
        return answer

    def _query(
        self, sql: str, parameters: Sequence[Any], grant: Grant, cached: bool
    ) -> QueryResult | CachedResult | LookupResult:
        shape = self.plans.shape(sql, grant, parameters)
        if cached and (answer := self._kept(shape, None, parameters, grant)) is not None:
            return answer
        known = self._patterned(sql, grant, shape[2]) if cached else None
        # a text of a pattern read before: only its literals are new
        if known is not None and (answer := self._kept(*known, parameters, grant)) is not None:
            return answer
        statement = self.statements.checked(sql)
        if isinstance(statement, exp.Describe):
            return self._describe(statement, sql, grant)
        if isinstance(statement, exp.Command):
            keyword = statement.name.upper()
            text = statement.expression.name if statement.expression else ""
            if keyword == "EXPLAIN":
                return self._explain(explained(sql), parameters, grant)
            if keyword == "SHOW":
                return self._show(text, grant)
        shapes = [shape]
        lifted = self.plans.written_shape(statement, grant, parameters) if cached else None
        if lifted is not None:  # the same question with other values written in its text
            shapes.append(lifted[0])
            self.patterns.learn(sql, grant.key, shape[2], *lifted)
            if (answer := self._kept(*lifted, parameters, grant)) is not None:
                return answer
        checkpoint()
        plan = self.planner.plan(bind(statement, parameters), sql, grant)
        result = self._result(plan, None, grant, cached)
        checkpoint()
        if cached:
            self.plans.keep(shapes, plan, result.schema, len(parameters))
        return result

    def _result(
        self, plan: Plan, schema: pa.Schema | None, grant: Grant, cached: bool
    ) -> QueryResult | CachedResult:
        """The running result of a plan (`schema` when already known), or the results
        cache's answer to it."""
        generations = self._generations(plan)
        if self.cache is None or generations is None or not cached:
            return QueryResult(plan, self.sessions, schema)
        key = (plan.sql, grant.identity.name, grant.key)
        entry = self.cache.get(key, generations)
        if entry is not None:
            return CachedResult(entry, plan)
        result = QueryResult(plan, self.sessions, schema)
        result.cache_status = MISS
        cache = self.cache
        result.cache_fill = lambda batches: cache.fill(key, generations, result.schema, batches)
        return result

    def _generations(self, plan: Plan) -> tuple[tuple[str, int], ...] | None:
        """The refresh generation of every dataset a plan reads; None if it is not cacheable."""
        generations = []
        for relation in plan.relations:
            entry = self.catalog.datasets.get(relation.lower())
            if entry is None:
                return None
            generations.append((relation, entry.generation))
        return tuple(generations)

    def parameter_count(self, sql: str) -> int:
        """How many parameters `sql` takes, for protocols that describe them before binding."""
        return parameter_count(self.statements.checked(sql))

    def explain(
        self,
        sql: str,
        parameters: Sequence[Any] = (),
        identity: Identity = ANONYMOUS_IDENTITY,
        *,
        operator: bool = False,
    ) -> str:
        """EXPLAIN as `identity` would get it, or with the policy's work spelled out for the
        `operator` (`sidecar policy explain`): row filters, hidden datasets, what is fetched."""
        grant = self.access.grant(identity)
        prefix = "EXPLAIN "  # `sql` is what follows it: its options too (ANALYZE, FORMAT)
        asked = explained(prefix + sql)
        asked = Explained(asked.query[len(prefix) :], asked.analyze, asked.format)
        table = pa.Table.from_batches(list(self._explain(asked, parameters, grant, operator)))
        return "\n\n".join(f"{kind}:\n{text}" for kind, text in zip(*table.columns, strict=True))

    def _explain(
        self, asked: Explained, parameters: Sequence[Any], grant: Grant, operator: bool = False
    ) -> QueryResult:
        if asked.format not in (None, "TEXT"):
            raise SidecarError(
                ErrorCode.QUERY,
                f"EXPLAIN FORMAT {asked.format} is not supported: plans are given as text",
                hint="leave FORMAT out (or write FORMAT TEXT)",
            )
        analyze = asked.analyze
        result = self.run(asked.query, parameters, grant, cached=False)
        assert isinstance(result, QueryResult)
        if analyze:
            for _ in result:
                pass
        rows = [("federation", federation_text(result, analyze, operator))]
        if any(scan.hidden for scan in result.plan.scans) and not operator:
            hidden = "not shown: the query reads datasets beneath a view that you cannot see"
            rows += [("logical_plan", hidden), ("physical_plan", hidden)]
        else:
            rows.append(("logical_plan", result.logical_plan()))
            rows.append(("physical_plan", result.physical_plan()))
        return self._system_result(
            "explain",
            pa.table(
                {
                    "plan_type": [r[0] for r in rows],
                    "plan": [REDACTOR.redact(r[1]) for r in rows],  # a URL may carry a secret
                }
            ),
        )

    def _show(self, text: str, grant: Grant) -> QueryResult | CachedResult:
        words = text.split()
        if [w.upper() for w in words[:1]] == ["TABLES"]:
            return self.run(
                "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                "ORDER BY table_name",
                (),
                grant,
            )
        if len(words) == 3 and words[0].upper() == "COLUMNS" and words[1].upper() == "FROM":
            return self._describe(exp.Describe(this=exp.to_table(words[2])), text, grant)
        raise SidecarError(
            ErrorCode.QUERY,
            f"SHOW {text} is not supported here",
            hint="use SHOW TABLES, SHOW COLUMNS FROM <table>, or DESCRIBE <table>",
        )

    def _describe(self, statement: exp.Describe, sql: str, grant: Grant) -> QueryResult:
        table = statement.this
        if not isinstance(table, exp.Table):
            raise SidecarError(
                ErrorCode.QUERY, "DESCRIBE needs a table name", hint="DESCRIBE <table>"
            )
        resolved = self.catalog.resolve(table, grant)
        schema = self._relation_schema(table, grant)
        descriptions = self._column_descriptions(resolved.name)
        return self._system_result(
            "describe",
            pa.table(
                {
                    "column_name": schema.names,
                    "data_type": [sql_type(f.type) for f in schema],
                    "is_nullable": ["YES" if f.nullable else "NO" for f in schema],
                    "description": [descriptions.get(name) for name in schema.names],
                },
                schema=pa.schema(
                    [
                        (n, pa.string())
                        for n in ("column_name", "data_type", "is_nullable", "description")
                    ]
                ),
            ),
        )

    def _relation_schema(self, table: exp.Table, grant: Grant) -> pa.Schema:
        probe = exp.select("*").from_(table.copy()).limit(0)
        return self.run(probe.sql(dialect=DIALECT), (), grant).schema

    def _view_schema(self, key: str, grant: Grant) -> pa.Schema | None:
        """A view's columns as `grant` reads them, learnt by planning it (for the catalogs)."""
        try:
            return self._relation_schema(exp.to_table(self.catalog.views[key].name), grant)
        except SidecarError:
            return None

    def _column_descriptions(self, name: str) -> dict[str, str | None]:
        for dataset in self.config.datasets:
            if dataset.name == name and dataset.columns:
                return {column.name: column.description for column in dataset.columns}
        return {}

    def _system_result(self, name: str, table: pa.Table) -> QueryResult:
        connector = TableConnector(name, table)
        scan = Scan(f"{SCAN_PREFIX}1", name, name, connector, table.schema)
        statement = sqlglot.parse_one(f'SELECT * FROM "{SCAN_PREFIX}1"', read=DIALECT)
        return QueryResult(Plan(statement, datafusion_sql(statement), [scan]), self.sessions)

    def close(self) -> None:
        self.search.stop()
        self.lookups.close()
        if self.catalog.accelerator is not None:
            self.catalog.accelerator.stop()
        for entry in self.catalog.datasets.values():
            if entry.connector is not None:
                entry.connector.close()


def federation_text(result: QueryResult, analyzed: bool, operator: bool = False) -> str:
    """What each source is sent and what DataFusion does above it. Callers under a policy
    see their own scans only: a dataset beneath a view they cannot see stays unnamed, and the
    row filter's text and columns show only to the operator (`operator`, policy explain)."""
    pushed = result.plan.pushed
    if pushed is not None:
        relations = ", ".join(result.plan.relations)
        text = f"whole query pushed to {pushed.connector.label()} ({relations}):\n  {pushed.sql}"
        return text + (f"\n  fetched: {result.rows} rows" if analyzed else "")
    grouped = result.plan.grouped
    if grouped is not None:
        return _grouped_text(result, grouped, analyzed)
    lines = []
    for scan in result.plan.scans:
        if scan.hidden and not operator:
            lines.append(f"(a dataset beneath view {scan.view} that you cannot see)")
            continue
        restriction = scan.restriction
        request = scan.request
        if operator and restriction is not None:
            request = replace(
                request,
                projection=restriction.source_columns(
                    request.projection or scan.schema.names, scan.connector.schema()
                ),
                filters=[*request.filters, *restriction.pushed],
            )
        line = f"{scan.relation} AS {scan.alias}: {scan.connector.describe(request)}"
        if scan.residual:
            line += f"\n  not pushed (evaluated by DataFusion): {'; '.join(scan.residual)}"
        if restriction is not None and restriction.transforms:
            line += "\n  access policy: " + restriction.describe(operator)
        if analyzed:
            line += _fetched(result.scans[scan.name].stats)
        lines.append(line)
    return "\n".join(lines) or "no source scans"


def _grouped_text(result: QueryResult, grouped: GroupedQuery, analyzed: bool) -> str:
    """The source's grouping as sent, and what DataFusion still does with the groups."""
    scan = result.plan.scans[0]
    above = result.rename(datafusion_sql(grouped.named(result.schema.names)))
    text = (
        f"{scan.relation} AS {scan.alias}, grouped by the source: {grouped.answer.description}"
        f"\n  evaluated by DataFusion over the groups: {above}"
    )
    return text + (_fetched(result.scans[grouped.name].stats) if analyzed else "")


def _fetched(stats: ScanStats) -> str:
    return f"\n  fetched: {stats.rows} rows in {stats.batches} batches"
