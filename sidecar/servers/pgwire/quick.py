"""A repeated lookup answered in one step: the whole group of messages a driver sends for it.

psycopg, pgjdbc, asyncpg and pgbench send a statement with parameters as Parse (none for a
named statement), Bind, Describe, Execute and Sync in one packet, and an agent's loop sends the
same text again and again with new values. Once the session has answered a statement at once
(a key-index lookup, gateway.at_once), the next group of that shape is answered here: the
values decoded, the gateway asked, the rows encoded and every reply written with one send,
without the session's portal, steps, futures and per-message dispatch, which were two thirds of
a lookup's CPU.

Only the answer that succeeds is taken here. Another shape, a statement the engine does not
answer at once, a refusal, an error: the group is left where it is, and the session's general
way reads it message by message and says why. Nothing is consumed, spent or recorded here
before the answer is whole.
"""

from __future__ import annotations

import functools
import logging
import struct
from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa

from sidecar.gateway.gateway import AT_ONCE_ROWS
from sidecar.servers.pgwire import messages
from sidecar.servers.pgwire.codec import RowEncoder
from sidecar.servers.pgwire.portal import Portal, Prepared, TableRows, named_schema

if TYPE_CHECKING:
    from sidecar.servers.pgwire.session import Session

log = logging.getLogger("sidecar.pgwire")
# The rest of a group after its Bind: Describe of the unnamed portal (libpq, pgjdbc) or not
# (asyncpg's prepared statements), Execute of all its rows, Sync.
EXECUTE_ALL = messages.message(b"E", b"\0" + struct.pack(">i", 0))
SYNC = messages.message(b"S")
DESCRIBED = messages.message(b"D", b"P\0") + EXECUTE_ALL + SYNC
UNDESCRIBED = EXECUTE_ALL + SYNC
KEPT_TEXTS = 64  # unnamed statements' Parse messages known per connection
_LENGTH = struct.Struct(">i")
PARSE, BIND = ord("P"), ord("B")


class Lane:
    """One connection's statements answered at once, and the groups that run them again."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._texts: dict[bytes, Prepared] = {}  # unnamed statements, by their Parse message
        self._forms: dict[tuple[int, tuple[int, ...]], Form] = {}

    def keep(self, prepared: Prepared) -> None:
        """`prepared` was just answered at once by the general way: answer it here next time.
        An unnamed statement is kept only when a Parse of its text is analysed the same way
        each time (not before every dataset answered, nor with session values in it)."""
        if prepared.name:
            prepared.at_once = True
        elif prepared.reusable and prepared.source:
            if len(self._texts) >= KEPT_TEXTS:
                self._texts.clear()
            prepared.at_once = True
            self._texts[prepared.source] = prepared

    def answer(self, data: bytes, at: int) -> int | None:
        """Answer the group at `at` of `data` if it is one of a statement answered at once and
        it is answered at once again: where the group ends; None leaves it to the session."""
        session = self.session
        if session.status == "E" or len(data) < at + 5:
            return None
        kind = data[at]
        end = _end(data, at)
        if kind == PARSE:
            source = data[at + 5 : end]
            if len(data) < end + 5 or data[end] != BIND:
                return None
            prepared = self._texts.get(source) or session.patterned(source)
            if prepared is None:
                return None
            start, end = end, _end(data, end)
        elif kind == BIND:
            prepared, start = None, at
        else:
            return None
        if data.startswith(DESCRIBED, end):
            described, after = True, end + len(DESCRIBED)
        elif data.startswith(UNDESCRIBED, end):
            described, after = False, end + len(UNDESCRIBED)
        else:
            return None
        try:
            bind = messages.bind_at(data, start + 5, end)
        except messages.ProtocolError:
            return None
        if bind.portal or (prepared is not None and bind.statement):
            return None
        if prepared is None:
            prepared = session.statements.get(bind.statement)
            if prepared is None or not prepared.at_once:
                return None
        reply = self._reply(prepared, bind, described)
        if reply is None:
            return None
        if kind == PARSE:
            session.statements[""] = prepared
            reply = messages.PARSE_COMPLETE + reply
        session.writer.write(reply)
        return after

    def _reply(self, prepared: Prepared, bind: messages.Bind, described: bool) -> bytes | None:
        """Every reply after ParseComplete, with the statement recorded; None, with nothing
        spent, when the general way must answer."""
        session = self.session
        try:
            values = session.bound(prepared, bind)
            answer = session.server.gateway.at_once(session.request(prepared, values))
            if answer is None:  # kept all the same: a value of a kind not planned yet
                return None  # (a first negative key, a NULL) is answered at once next time
            result = answer.result
            form = self._form(prepared, result.schema, bind.result_formats)
            rows = form.encoder.small(result.num_rows, result.arrow, result.values)
        except Exception as error:  # the general way meets it again and reports it
            log.debug("quick lane left a statement to the session: %s", type(error).__name__)
            return None
        if not answer.done():
            return None
        session.worker.start_statement()
        old = session.portals.pop("", None)
        if old is not None:
            old.close()
        if session.status == "T":  # in a transaction the ran-out unnamed portal lives on, as in PG
            ran_out = TableRows(form.schema.empty_table())
            portal = Portal("", prepared, values, bind.result_formats, ran_out)
            portal.exhausted = True
            session.portals[""] = portal
        return b"".join(
            (
                form.described if described else messages.BIND_COMPLETE,
                rows,
                _selected(answer.rows),
                messages.ready_for_query(session.status),
            )
        )

    def _form(self, prepared: Prepared, schema: pa.Schema, formats: list[int]) -> Form:
        """How the answers of `prepared` in `formats` are written, the same object while the
        plan's schema object and the session's time zone are: the result under PostgreSQL's
        column names, its encoder and RowDescription."""
        key = (id(prepared), tuple(formats))
        timezone = self.session.settings.timezone
        form = self._forms.get(key)
        if (
            form is not None
            and form.prepared is prepared
            and form.source is schema
            and form.timezone == timezone
        ):
            return form
        if len(self._forms) >= KEPT_TEXTS:
            self._forms.clear()
        named = named_schema(schema, prepared.names)
        encoder = self.session.encoder(named, formats)
        described = messages.BIND_COMPLETE + encoder.description
        form = Form(prepared, schema, timezone, named, encoder, described)
        self._forms[key] = form
        return form


class Form(NamedTuple):
    """A statement's answers as one session writes them (Lane._form)."""

    prepared: Prepared
    source: pa.Schema  # the plan's result schema it was made for
    timezone: str
    schema: pa.Schema  # under PostgreSQL's column names
    encoder: RowEncoder
    described: bytes  # BindComplete and the RowDescription, for a group with Describe


@functools.lru_cache(maxsize=AT_ONCE_ROWS + 1)
def _selected(rows: int) -> bytes:
    """CommandComplete of a SELECT of `rows` rows."""
    return messages.command_complete(f"SELECT {rows}")


def _end(data: bytes, at: int) -> int:
    """Where the message at `at` ends; a length no message has (the session refuses it)
    gives a position past the data, where no group is found."""
    length = _LENGTH.unpack_from(data, at + 1)[0]
    return at + 1 + length if 4 <= length <= messages.MAX_MESSAGE else len(data) + 1
