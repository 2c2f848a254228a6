"""Query text -> what a session runs: the guarded tree, its route, result names, parameter types.

Every query passes the read-only guard here before anything else looks at it. Drivers send the
same text in every unnamed Parse (psycopg with parameters, pgjdbc below its prepare threshold),
and sixty-four agents send the same texts as one, so the server keeps the analysis of the texts
it saw last for every connection whose policy sees the same relations (parameter types are
inferred from their columns), except for statements holding session values
(current_setting(...)), which SET can change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from policies.identity import Identity
from sidecar.errors import SidecarError
from sidecar.servers.pgwire import parameters
from sidecar.servers.pgwire.commands import TOKENIZER_END, Statement
from sidecar.servers.pgwire.errors import PgError
from sidecar.servers.pgwire.names import output_names
from sidecar.servers.pgwire.session_functions import SessionValues, substitute_session

if TYPE_CHECKING:
    from sidecar.servers.pgwire.backend import Backend

KEPT = 1024
Key = tuple[str, str, tuple[int, ...], bool]


@dataclass(frozen=True)
class Analysis:
    query: exp.Expression
    names: list[str] | None
    shadow: bool
    engine_sql: str
    parameter_types: tuple[int, ...]


class Analyzer:
    """`refused` records a statement the guard turns away here, on the query path's audit."""

    def __init__(
        self,
        server: Backend,
        values: SessionValues,
        identity: Identity,
        refused: Callable[[str, SidecarError], None],
    ) -> None:
        self.server = server
        self.values = values
        self.identity = identity
        self.refused = refused
        self.visibility = server.engine.access.grant(identity).visibility

    def analyse(self, statement: Statement, declared: Sequence[int]) -> Analysis:
        key = (self.visibility, statement.text, tuple(declared), self.server.engine.ready)
        kept = self.server.analyses.get(key)
        if kept is not None:
            return kept
        text = statement.text + TOKENIZER_END
        try:
            tree = self.server.engine.bounds.read(text)
        except SidecarError as error:
            self.refused(statement.text, error)
            raise PgError.of(error, statement.offset) from None
        changed = substitute_session(tree, self.values)
        analysis = Analysis(
            query=tree,
            names=output_names(tree),
            shadow=self.server.catalog.routes_to_shadow(tree),
            engine_sql=tree.sql(dialect="postgres") if changed else text,
            parameter_types=tuple(
                parameters.infer(tree, self.server.schemas(self.identity), declared)
            ),
        )
        if not changed:
            self.server.analyses.put(key, analysis)
        return analysis
