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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlglot import exp

from policies.identity import Identity
from sidecar.errors import SidecarError
from sidecar.servers.pgwire import parameters
from sidecar.servers.pgwire.commands import Statement
from sidecar.servers.pgwire.errors import PgError
from sidecar.servers.pgwire.names import output_names
from sidecar.servers.pgwire.session_functions import SessionValues, substitute_session

if TYPE_CHECKING:
    from sidecar.servers.pgwire.backend import Backend

Key = tuple[str, str, tuple[int, ...]]
PatternKey = tuple[str, str, tuple[int, ...], bool]  # a pattern's shape text in place of a text


@dataclass(frozen=True)
class Analysis:
    """What a session needs of a query text. Texts of one pattern share it but for
    `engine_sql`, their own text: `query` is then the tree of the text read first, whose
    compared literals differ (nothing runs it: only a pg_catalog query runs its tree, and
    those are analysed one text at a time)."""

    query: exp.Expression
    names: list[str] | None
    shadow: bool
    engine_sql: str
    parameter_types: tuple[int, ...]
    kept: bool = False  # shared, and so the analysis any later Parse of this text gets


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
        grant = server.engine.access.grant(identity)
        self.visibility, self.grant = grant.visibility, grant.key
        self._last: tuple[Key, Analysis] | None = None  # this session's last text, kept here

    def analyse(self, statement: Statement, declared: Sequence[int]) -> Analysis:
        """The analysis of `statement`. One made once every dataset answered (its parameter
        types inferred from every relation's columns) is kept; before that each Parse
        analyses afresh, so that readiness is asked only on a miss, not on every Parse."""
        key = (self.visibility, statement.text, tuple(declared))
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        kept = self.server.analyses.get(key)
        if kept is not None:
            self._last = (key, kept)
            return kept
        pattern = self._pattern(statement.text, declared)
        same = self.server.analyses.get(pattern) if pattern is not None else None
        if same is not None:  # another text of its pattern: the same analysis, its own text
            return replace(same, engine_sql=statement.text)
        ready = self.server.engine.ready
        text = statement.text
        try:  # read as the engine reads it, and kept there for the statement that follows
            tree = self.server.engine.statements.checked(text)
        except SidecarError as error:
            self.refused(statement.text, error)
            raise PgError.of(error, statement.offset) from None
        changed = substitute_session(tree, self.values)
        kept = ready and not changed
        analysis = Analysis(
            query=tree,
            names=output_names(tree, text),
            shadow=self.server.catalog.routes_to_shadow(tree),
            engine_sql=tree.sql(dialect="postgres") if changed else text,
            parameter_types=tuple(
                parameters.infer(tree, self.server.schemas(self.identity), declared)
            ),
            kept=kept,
        )
        if kept:
            self.server.analyses.put(key, analysis)
            if pattern is not None and not analysis.shadow:
                self.server.analyses.put(pattern, analysis)
        return analysis

    def shared(self, text: str) -> bool:
        """Whether `text`, with no parameter types declared, takes the analysis its pattern
        shares, so that analysing it reads nothing and refuses nothing; that analysis is then
        this session's last, which `analyse` of the same text returns."""
        pattern = self._pattern(text, ())
        same = self.server.analyses.get(pattern) if pattern is not None else None
        if same is None:
            return False
        self._last = ((self.visibility, text, ()), replace(same, engine_sql=text))
        return True

    def _pattern(self, text: str, declared: Sequence[int]) -> PatternKey | None:
        """The key of the analysis every text of `text`'s pattern shares (engine/patterns.py:
        the same lexemes but for the literals its columns are compared with), once the engine
        has read one; None for a text with parameters, whose literals drivers do not vary."""
        found = self.server.engine.patterns.find(text, self.grant, ())
        return None if found is None else (self.visibility, found[0][0], tuple(declared), True)
