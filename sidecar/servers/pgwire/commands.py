"""Splitting a Query message into statements and recognising the ones a session answers itself.

Transactions, settings, prepared-statement and cursor commands belong to the connection, not to
the engine (whose guard refuses them), so they are told apart here from their leading words.
Everything else is a query and goes through the guard like any other interface's SQL.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError, TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType

from policies import placeholders
from sidecar.servers.pgwire.errors import FEATURE_NOT_SUPPORTED, PgError

WORD_TOKENS_EXCLUDED = frozenset(
    {TokenType.STRING, TokenType.NUMBER, TokenType.IDENTIFIER, TokenType.SEMICOLON}
)


@dataclass(frozen=True)
class Statement:
    """One statement of a Query message and where it starts in it (for error positions)."""

    text: str
    offset: int


@dataclass(frozen=True)
class Transaction:
    action: str  # BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO
    tag: str


@dataclass(frozen=True)
class SetCommand:
    name: str | None  # None: a SET that changes nothing the sidecar tracks (SET TRANSACTION ...)
    value: str | None  # None: DEFAULT


@dataclass(frozen=True)
class ResetCommand:
    name: str | None  # None: RESET ALL


@dataclass(frozen=True)
class ShowCommand:
    name: str | None  # None: SHOW ALL


@dataclass(frozen=True)
class DiscardCommand:
    tag: str


@dataclass(frozen=True)
class DeallocateCommand:
    name: str | None  # None: DEALLOCATE ALL


@dataclass(frozen=True)
class DeclareCommand:
    name: str
    query: Statement
    binary: bool
    hold: bool


@dataclass(frozen=True)
class FetchCommand:
    name: str
    count: int | None  # None: ALL
    move: bool
    absolute: bool = False


@dataclass(frozen=True)
class CloseCommand:
    name: str | None  # None: CLOSE ALL


@dataclass(frozen=True)
class QueryCommand:
    statement: Statement


@dataclass(frozen=True)
class SettingsQuery:
    """SELECT set_config(...), current_setting(...): SET and SHOW spelled as a query (asyncpg)."""

    tree: exp.Select

    @property
    def names(self) -> list[str]:
        """The result's column names: the alias, else the function's name."""
        return [
            p.alias or (p.this if isinstance(p, exp.Alias) else p).name.lower()
            for p in self.tree.expressions
        ]


Command = (
    Transaction
    | SetCommand
    | ResetCommand
    | ShowCommand
    | DiscardCommand
    | DeallocateCommand
    | DeclareCommand
    | FetchCommand
    | CloseCommand
    | QueryCommand
    | SettingsQuery
)

# sqlglot 30 fails to tokenize a statement that has a $n parameter and ends in '' (an empty
# string); a trailing newline avoids it and changes neither meaning nor positions.
TOKENIZER_END = "\n"
KEPT = 1024
SHOW_QUERIES = frozenset({"TABLES", "COLUMNS"})
# The first words _classified answers other than with a query (and SELECT, with set_config)
COMMAND_WORDS = frozenset(
    {
        "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "SET",
        "RESET", "SHOW", "DISCARD", "DEALLOCATE", "DECLARE", "FETCH", "MOVE", "CLOSE",
    }
)  # fmt: skip
FIRST_WORD = re.compile(r"[A-Za-z]+(?![A-Za-z0-9_$])")
SETTING_FUNCTIONS = frozenset({"set_config", "current_setting"})
OID_TYPES = frozenset(
    {"oid", "regclass", "regtype", "regproc", "regprocedure", "regnamespace", "regrole", "xid"}
)
SHOW_ALIASES = {
    ("TIME", "ZONE"): "TimeZone",
    ("TRANSACTION", "ISOLATION"): "transaction_isolation",
    ("SESSION", "AUTHORIZATION"): "session_authorization",
}


@functools.cache
def _tokenizer() -> type[Tokenizer]:
    """PostgreSQL's tokenizer without "commands", so SET and SHOW keep every word as a token."""

    class StatementTokenizer(placeholders.dialect_tokenizer("postgres")):  # type: ignore[valid-type, misc]
        COMMANDS: ClassVar[set[TokenType]] = set()

    return StatementTokenizer


def tokens(sql: str) -> list[Token] | None:
    try:
        return _tokenizer()().tokenize(sql + TOKENIZER_END)
    except TokenError:
        return None


def split(sql: str) -> list[Statement]:
    """The statements of a simple Query, each with its offset; [] when there is only whitespace.
    A text with no comment and no semicolon but one at its end is one statement, its white space
    around it cut as the tokens would: an agent's literal SQL is a new text each time, and
    tokenizing it only to find where it ends was a tenth of its cost."""
    if "--" not in sql and "/*" not in sql and sql.count(";") <= 1:
        text = sql.lstrip()  # str.isspace's white space, which the tokenizer skips
        end = text.rstrip()
        if ";" not in end[:-1]:  # none, or one that ends the text
            end = end.removesuffix(";").rstrip()
            return [Statement(end, len(sql) - len(text))] if end else []
    found = tokens(sql)
    if found is None:
        return [Statement(sql, 0)] if sql.strip() else []
    statements, current = [], []
    for token in [*found, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if current:
                start, end = current[0].start, current[-1].end + 1
                statements.append(Statement(sql[start:end], start))
            current = []
        else:
            current.append(token)
    return statements


@functools.lru_cache(maxsize=KEPT)
def statements(sql: str) -> tuple[Statement, ...]:
    """`split(normalize(sql))`, kept: drivers send the same texts again and again."""
    return tuple(split(normalize(sql)))


def classify(statement: Statement) -> Command:
    """What a statement asks for; kept per statement (a settings query's tree is the caller's
    own copy, since binding its parameters changes it)."""
    command = _classified(statement)
    if isinstance(command, SettingsQuery):
        return SettingsQuery(command.tree.copy())
    return command


@functools.lru_cache(maxsize=KEPT)
def _classified(statement: Statement) -> Command:
    word = FIRST_WORD.match(statement.text)
    first = word.group().upper() if word is not None else None
    if first not in (None, *COMMAND_WORDS) and (
        first != "SELECT" or "set_config" not in statement.text.lower()
    ):
        return QueryCommand(statement)  # known without tokenizing it (split's reason)
    found = tokens(statement.text) or []
    words = [_word(token) for token in found]
    first = words[0] if words else ""
    if first in ("BEGIN", "START"):
        return Transaction("BEGIN", "BEGIN")
    if first in ("COMMIT", "END"):
        return Transaction("COMMIT", "COMMIT")
    if first in ("ROLLBACK", "ABORT"):
        if "TO" in words:
            return Transaction("ROLLBACK TO", "ROLLBACK")
        return Transaction("ROLLBACK", "ROLLBACK")
    if first in ("SAVEPOINT", "RELEASE"):
        return Transaction(first, first)
    if first == "SET":
        return _set(found[1:], words[1:])
    if first == "RESET":
        name = _setting_name(found[1:])[0] if len(found) > 1 else None
        return ResetCommand(None if name is None or name.upper() == "ALL" else name)
    if first == "SHOW" and len(words) > 1 and words[1] not in SHOW_QUERIES:
        return _show(found[1:], words[1:])
    if first == "DISCARD" and len(words) > 1:
        return DiscardCommand(f"DISCARD {words[1]}")
    if first == "DEALLOCATE":
        rest = found[2:] if len(words) > 1 and words[1] == "PREPARE" else found[1:]
        name = _text(rest[0]) if rest else None
        return DeallocateCommand(None if name is None or name.upper() == "ALL" else name)
    if first == "DECLARE":
        return _declare(statement, found, words)
    if first in ("FETCH", "MOVE"):
        return _fetch(found[1:], words[1:], move=first == "MOVE")
    if first == "CLOSE" and len(found) > 1:
        name = _text(found[1])
        return CloseCommand(None if name.upper() == "ALL" and words[1] == "ALL" else name)
    if first == "SELECT" and "set_config" in statement.text.lower():
        return _settings_query(statement) or QueryCommand(statement)
    return QueryCommand(statement)


def normalize(sql: str) -> str:
    """Spell arrays of OID types as PostgreSQL's internal names (oid[] -> _oid), which sqlglot,
    and so the guard, can parse; the meaning is the same."""
    if "[]" not in sql:
        return sql
    found = tokens(sql)
    if found is None:
        return sql
    edits = []
    for name, opening, closing in zip(found, found[1:], found[2:], strict=False):
        if (
            name.text.lower() in OID_TYPES
            and opening.token_type == TokenType.L_BRACKET
            and closing.token_type == TokenType.R_BRACKET
            and closing.start == opening.end + 1
        ):
            edits.append((name.start, closing.end + 1, "_" + name.text.lower()))
    for start, end, text in reversed(edits):
        sql = sql[:start] + text + sql[end:]
    return sql


def _settings_query(statement: Statement) -> SettingsQuery | None:
    try:
        tree = sqlglot.parse_one(statement.text, read="postgres")
    except SqlglotError:
        return None
    clauses = [key for key, value in tree.args.items() if value and key != "expressions"]
    if not isinstance(tree, exp.Select) or clauses:
        return None
    for projection in tree.expressions:
        call = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(call, exp.Anonymous) or call.name.lower() not in SETTING_FUNCTIONS:
            return None
    return SettingsQuery(tree)


def _word(token: Token) -> str:
    if token.token_type in WORD_TOKENS_EXCLUDED:
        return ""
    return token.text.upper()


def _text(token: Token) -> str:
    """A name or value as PostgreSQL reads it: unquoted words fold to lower case."""
    if token.token_type in (TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER):
        return token.text
    return token.text.lower()


def _set(found: list[Token], words: list[str]) -> SetCommand:
    if (
        words
        and words[0] in ("SESSION", "LOCAL")
        and not (len(words) > 1 and words[1] == "AUTHORIZATION")
    ):
        found, words = found[1:], words[1:]
    if not found:
        raise PgError("42601", "SET needs a parameter name")
    if words[0] in ("TRANSACTION", "CHARACTERISTICS", "CONSTRAINTS"):
        return SetCommand(None, None)
    if words[:2] == ["TIME", "ZONE"]:
        return SetCommand("TimeZone", _value(found[2:]))
    if words[0] == "NAMES":
        return SetCommand("client_encoding", _value(found[1:]))
    if words[0] == "SCHEMA":
        return SetCommand("search_path", _value(found[1:]))
    if words[0] in ("ROLE", "AUTHORIZATION", "SESSION"):
        raise PgError(
            FEATURE_NOT_SUPPORTED,
            "SET ROLE and SET SESSION AUTHORIZATION are not supported",
            hint="the identity is fixed by the credentials the connection logged in with",
        )
    name, rest = _setting_name(found)
    if rest and (rest[0].token_type == TokenType.EQ or _word(rest[0]) == "TO"):
        rest = rest[1:]
    return SetCommand(name, _value(rest))


def _setting_name(found: list[Token]) -> tuple[str, list[Token]]:
    """A setting's name, dotted ones (myapp.tenant) included, and the tokens after it."""
    name, rest = _text(found[0]), found[1:]
    while len(rest) >= 2 and rest[0].token_type == TokenType.DOT:
        name += "." + _text(rest[1])
        rest = rest[2:]
    return name, rest


def _value(found: list[Token]) -> str | None:
    if not found or (len(found) == 1 and _word(found[0]) == "DEFAULT"):
        return None
    parts, current = [], ""
    for token in found:
        if token.token_type == TokenType.COMMA:
            parts.append(current)
            current = ""
        else:
            current += _text(token)
    parts.append(current)
    return ", ".join(parts)


def _show(found: list[Token], words: list[str]) -> ShowCommand:
    if words[0] == "ALL":
        return ShowCommand(None)
    alias = SHOW_ALIASES.get(tuple(words[:2]))  # type: ignore[arg-type]
    return ShowCommand(alias or _setting_name(found)[0])


def _declare(statement: Statement, found: list[Token], words: list[str]) -> DeclareCommand:
    if "CURSOR" not in words or "FOR" not in words or len(found) < 2:
        raise PgError("42601", "syntax error in DECLARE", hint="DECLARE name CURSOR FOR <query>")
    cursor = words.index("CURSOR")
    options = words[2:cursor]
    for_index = words.index("FOR", cursor)
    if "SCROLL" in options and "NO" not in options:
        raise PgError(
            FEATURE_NOT_SUPPORTED,
            "scrollable cursors are not supported",
            hint="declare the cursor NO SCROLL; results stream forward only",
        )
    if for_index + 1 >= len(found):
        raise PgError("42601", "DECLARE needs a query after FOR")
    start = found[for_index + 1].start
    query = Statement(statement.text[start:], statement.offset + start)
    hold = words[cursor + 1 : cursor + 3] == ["WITH", "HOLD"]
    return DeclareCommand(_text(found[1]), query, "BINARY" in options, hold)


def _fetch(found: list[Token], words: list[str], move: bool) -> FetchCommand:
    """FETCH/MOVE [NEXT | FORWARD [n|ALL] | n | ALL | ABSOLUTE n | RELATIVE n] [FROM | IN] name."""
    if not found:
        raise PgError("42601", "FETCH needs a cursor name")
    count: int | None = 1
    absolute = False
    index = 0
    word = words[0]
    if word in ("BACKWARD", "PRIOR", "FIRST", "LAST"):
        raise _forward_only()
    if word in ("NEXT", "FORWARD", "ABSOLUTE", "RELATIVE"):
        index = 1
        absolute = word == "ABSOLUTE"
    if index < len(found) - 1 or (index == 0 and len(found) > 1):
        amount = found[index]
        if amount.token_type == TokenType.DASH:  # FETCH -1: backward (was cursor "-")
            raise _forward_only()
        if amount.token_type == TokenType.NUMBER:
            count = int(amount.text)
            index += 1
        elif _word(amount) == "ALL":
            count = None
            index += 1
    if index < len(words) and words[index] in ("FROM", "IN"):
        index += 1
    if index >= len(found):
        raise PgError("42601", "FETCH needs a cursor name")
    if count is not None and count < 0:
        raise _forward_only()
    return FetchCommand(_text(found[index]), count, move, absolute)


def _forward_only() -> PgError:
    return PgError(
        "55000",
        "cursor can only scan forward",
        hint="cursors here stream forward only (SCROLL is not supported): fetch the rows in "
        "order, or declare the cursor again to start over",
    )
