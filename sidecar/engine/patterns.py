"""Texts that differ only in the literals compared in them, and the pattern they share.

An agent writes its lookups with the key in the text (`... WHERE id = 42`), a new text each
time. Each was parsed, passed by the read-only guard and written again with its compared
literals marked (plans.written_shape) before the kept plan of that shape answered it: 0.6 ms
of CPU for a lookup the key index answers in 0.05. A pattern is a text's lexemes with its
numbers and strings left out. Once one text of a pattern has been read, the next is only
split into lexemes (in 10 us): its compared literals (the plan's slots, `plans.lift`) are
taken from them, and every other lexeme, the other literals included, must be the same as
in the text read. So the guard's verdict and the plan it was given hold for it: they never
depend on the value of a literal a column is compared with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from sqlglot import exp

from sidecar.engine.plans import Kept, Shape, literal_kind

KEPT_PATTERNS = 1024
KEPT_READS = 64
SHORT_TEXT = 4096  # the longest text given a pattern (split on an event loop too)

Key = tuple[tuple[tuple[str, str | None], ...], str, tuple[str, ...]]


class Pattern(NamedTuple):
    shape: Shape  # the shape of every text of the pattern (plans.written_shape)
    slots: tuple[int, ...]  # which of a text's literals fill the shape's slots, in order
    fixed: tuple[tuple[int, str], ...]  # the other literals, and the text each must have


class Literal(NamedTuple):
    start: int
    text: str  # a string's, unquoted
    is_string: bool


class Read(NamedTuple):
    lexemes: tuple[tuple[str, str | None], ...]  # each lexeme's kind and text, None for a literal
    literals: list[Literal]


UNREADABLE = Read((), [])


class Patterns:
    """The patterns of texts read, by their lexemes, the grant's key and the parameters' kinds."""

    def __init__(self, capacity: int = KEPT_PATTERNS) -> None:
        self._kept: Kept[Key, Pattern] = Kept(capacity)
        # the texts split last: a server's analysis and the engine ask for one in turn
        self._reads: Kept[str, Read] = Kept(KEPT_READS)

    def _read(self, sql: str) -> Read | None:
        if len(sql) > SHORT_TEXT:
            return None
        read = self._reads.get(sql)
        if read is None:
            read = _lexed(sql) or UNREADABLE
            self._reads.put(sql, read)
        return read if read is not UNREADABLE else None

    def find(
        self, sql: str, grant: str, kinds: tuple[str, ...]
    ) -> tuple[Shape, list[exp.Expression]] | None:
        """The shape of `sql` and its compared literals, when a text of its pattern was read
        with the same grant and kinds of parameters; None otherwise."""
        read = self._read(sql)
        if read is None:
            return None
        pattern = self._kept.get((read.lexemes, grant, kinds))
        if pattern is None:
            return None
        literals = read.literals
        if any(literals[index].text != text for index, text in pattern.fixed):
            return None
        written: list[exp.Expression] = [_literal(literals[index]) for index in pattern.slots]
        if tuple(map(literal_kind, written)) != pattern.shape[2][len(kinds) :]:
            return None
        return pattern.shape, written

    def learn(
        self,
        sql: str,
        grant: str,
        kinds: tuple[str, ...],
        shape: Shape,
        written: Sequence[exp.Expression],
    ) -> None:
        """`sql` was read: its `written` literals fill `shape`'s slots."""
        read = self._read(sql)
        if read is None:
            return
        at = {literal.start: index for index, literal in enumerate(read.literals)}
        slots = []
        for node in written:
            index = at.get(node.meta.get("start", -1))
            if index is None or _literal(read.literals[index]) != node:
                return  # a literal the parser made of more than its lexeme
            slots.append(index)
        fixed = tuple(
            (index, literal.text)
            for index, literal in enumerate(read.literals)
            if index not in slots
        )
        self._kept.put((read.lexemes, grant, kinds), Pattern(shape, tuple(slots), fixed))


def _lexed(sql: str) -> Read | None:
    """The lexemes of `sql` with its literals left out, and those. Read with one regular
    expression in a tenth of sqlglot's tokenizer's time, and only for the plain texts agents
    write: a comment, a dollar quote, a string with a backslash, a prefix (E'', U&'') or
    another string after it, or a literal run into what follows it is no pattern (None).
    Runs of operator characters are one lexeme, as PostgreSQL reads them; so two texts with
    the same lexemes but for their literals say the same but for those, whatever the white
    space between. White space and digits are ASCII ones only: the guard refuses any other
    space outside a quoted text, and the parser reads full-width digits as a name. Quoted
    names run together (`"a""b"`) are one lexeme, as they are one name. `learn` checks the
    literals against the parse besides."""
    key: list[tuple[str, str | None]] = []
    literals: list[Literal] = []
    at, end = 0, len(sql)
    while at < end:
        found = _LEXEME.match(sql, at)
        if found is None:
            return None
        kind = found.lastgroup or ""
        text = found.group(kind)
        if kind in ("number", "string"):
            after = sql[found.end() : found.end() + 1]
            if after and (after.isalnum() or after in "_.'\"$"):
                return None
            if kind == "string":
                before = sql[at - 1 : at]
                if before.isalnum() or before in ("_", "&", '"') or (key and key[-1] == STRING):
                    return None
                text = text.replace("''", "'")
            literals.append(Literal(found.start(), text, kind == "string"))
            key.append((kind, None))
        elif kind == "operator" and ("--" in text or "/*" in text):
            return None
        elif kind != "space":
            key.append((kind, text))
        at = found.end()
    return Read(tuple(key), literals) if key else None


STRING = ("string", None)
_LEXEME = re.compile(
    r"""(?P<space>[ \t\n\r\f\v]+)
    |(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    |'(?P<string>(?:[^'\\]|'')*)'
    |(?P<word>[^\W\d][\w$]*)
    |(?P<quoted>(?:"[^"]*")+)
    |(?P<parameter>\$[0-9]+)
    |(?P<operator>[<>=!~+\-*/%^&|#@?:]+)
    |(?P<punctuation>[(),.;\[\]])
    """,
    re.VERBOSE,
)


def _literal(literal: Literal) -> exp.Literal:
    """The literal the parser makes of a number or string."""
    return exp.Literal(this=literal.text, is_string=literal.is_string)
