"""`sidecar config check` of the views: a view the runtime would refuse is reported at
`views[i].sql` with the message, position and hint a query of it would get.

Without a connection only the relation names are known (the datasets and views declared), so
an unknown relation is caught; `--connect` loads the datasets and plans each view as its
definer, the operator, which catches unknown columns and everything else planning refuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from policies.access import unrestricted
from policies.guard import check, parse
from sidecar.config import SidecarConfig
from sidecar.engine.catalog import SCHEMA, SYSTEM_SCHEMA, unknown_relation
from sidecar.engine.planner import identifier_position, is_cte_reference
from sidecar.errors import SidecarError

if TYPE_CHECKING:
    from sidecar.engine.engine import Engine


def relation_problems(config: SidecarConfig) -> list[str]:
    """Views reading a relation that is not declared (nor a WITH query in scope)."""
    known = sorted([d.name for d in config.datasets] + [v.name for v in config.views])
    names = {name.lower() for name in known}
    problems = []
    for index, view in enumerate(config.views):
        try:
            for table in check(view.sql, parse(view.sql)).find_all(exp.Table):
                if not isinstance(table.this, exp.Identifier) or is_cte_reference(table):
                    continue  # a table function, or a WITH query
                if table.db.lower() == SYSTEM_SCHEMA and not table.catalog:
                    continue  # the sidecar's own tables: resolved when a query runs
                local = table.db.lower() in ("", SCHEMA) and table.catalog.lower() in (
                    "",
                    config.name.lower(),
                )
                if not local or table.name.lower() not in names:
                    error = unknown_relation(table, known)
                    error.position = identifier_position(view.sql, table.name)
                    raise error
        except SidecarError as error:
            problems.append(located(index, error))
    return problems


def plan_problems(engine: Engine) -> list[str]:
    """Views whose SQL does not plan over the loaded datasets (unknown columns included)."""
    problems = []
    for index, view in enumerate(engine.config.views):
        try:
            engine.run(view.sql, (), unrestricted(), cached=False).cancel()
        except SidecarError as error:
            problems.append(located(index, error))
    return problems


def located(index: int, error: SidecarError) -> str:
    where = f" (at character {error.position})" if error.position is not None else ""
    hint = f"; {error.hint}" if error.hint else ""
    return f"views[{index}].sql: {error.message}{where}{hint}"
