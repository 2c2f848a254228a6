"""Texts that differ only in the literals compared in them, and the pattern they share.

An agent writes its lookups with the key in the text (`... WHERE id = 42`), a new text each
time. Each was parsed, passed by the read-only guard and written again with its compared
literals marked (plans.written_shape) before the kept plan of that shape answered it: 0.6 ms
of CPU for a lookup the key index answers in 0.05. A pattern is a text's tokens with its
numbers and strings left out. Once one text of a pattern has been read, the next is only
tokenized: its compared literals (the plan's slots, `plans.lift`) are taken from their tokens,
and every other token, the other literals included, must be the same as in the text read.
So the guard's verdict and the plan it was given hold for it: they never depend on the value
of a literal a column is compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from policies.guard import DEFAULT_DIALECT
from policies.placeholders import dialect_tokenizer
from sidecar.engine.plans import Kept, Shape, literal_kind

KEPT_PATTERNS = 1024
KEPT_READS = 64
SHORT_TEXT = 4096  # the longest text given a pattern: tokenized in 0.1 ms, on an event loop too
LITERALS = {TokenType.NUMBER: False, TokenType.STRING: True}  # the token types, is_string

Key = tuple[tuple[tuple[TokenType, str | None], ...], str, tuple[str, ...]]


class Pattern(NamedTuple):
    shape: Shape  # the shape of every text of the pattern (plans.written_shape)
    slots: tuple[int, ...]  # which of a text's literal tokens fill the shape's slots, in order
    fixed: tuple[tuple[int, str], ...]  # the other literal tokens, and the text each must have


class Read(NamedTuple):
    tokens: tuple[tuple[TokenType, str | None], ...]
    literals: list[Token]


UNREADABLE = Read((), [])


class Patterns:
    """The patterns of texts read, by their tokens, the grant's key and the parameters' kinds."""

    def __init__(self, capacity: int = KEPT_PATTERNS) -> None:
        self._kept: Kept[Key, Pattern] = Kept(capacity)
        # the texts tokenized last: a server's analysis and the engine ask for one in turn
        self._reads: Kept[str, Read] = Kept(KEPT_READS)

    def _read(self, sql: str) -> Read | None:
        if len(sql) > SHORT_TEXT:
            return None
        read = self._reads.get(sql)
        if read is None:
            read = _tokenized(sql) or UNREADABLE
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
        pattern = self._kept.get((read.tokens, grant, kinds))
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
        at = {token.start: index for index, token in enumerate(read.literals)}
        slots = []
        for node in written:
            index = at.get(node.meta.get("start", -1))
            if index is None or _literal(read.literals[index]) != node:
                return  # a literal the parser made of more than its token
            slots.append(index)
        fixed = tuple(
            (index, token.text) for index, token in enumerate(read.literals) if index not in slots
        )
        self._kept.put((read.tokens, grant, kinds), Pattern(shape, tuple(slots), fixed))


def _tokenized(sql: str) -> Read | None:
    """The tokens of `sql` with its literals left out, and those; None for a text with
    comments (kept with their tokens, where the pattern would lose them) or no tokens. The
    guard's tokenizer, with the newline the guard adds (guard.parse)."""
    try:
        tokens = dialect_tokenizer(DEFAULT_DIALECT)(dialect=DEFAULT_DIALECT).tokenize(sql + "\n")
    except SqlglotError:
        return None
    key = []
    literals = []
    for token in tokens:
        if token.comments:
            return None
        if token.token_type in LITERALS:
            literals.append(token)
            key.append((token.token_type, None))
        else:
            key.append((token.token_type, token.text))
    return Read(tuple(key), literals) if key else None


def _literal(token: Token) -> exp.Literal:
    """The literal the parser makes of a number or string token."""
    return exp.Literal(this=token.text, is_string=LITERALS[token.token_type])
