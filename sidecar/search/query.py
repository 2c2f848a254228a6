"""The search text's language: what an agent may type, and the exact place it went wrong.

A small Lucene-like syntax, parsed here rather than by tantivy's own query parser because an
agent needs errors that point at a character ("unterminated phrase at position 12"), and
because plain prefixes (`exhaust*`) and the sidecar's column names are not tantivy's:

    pool exhausted          either word; more matching words rank higher (BM25)
    "connection pool"       the words next to each other, in this order
    "connection po"*        a phrase whose last word is a prefix
    exhaust*                any word starting with exhaust
    +payment -stripe        payment must occur, stripe must not (also NOT stripe)
    pool AND payment        both must occur; OR is the default between words
    title:rollback          only in that column; title:(pool OR leak) too
    (pool OR leak) AND db   grouping

Only AND, OR and NOT in capitals are operators. Words are analysed like the indexed text
(lower-cased, accents folded, English stems), so `Pools` finds `pool` and `cafe` finds `café`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SYNTAX = (
    'search text: words, "a phrase", prefix*, +required -excluded, AND / OR / NOT, '
    "column:word, (groups)"
)
MAX_LENGTH = 4000
MAX_DEPTH = 32
Occur = Literal["should", "must", "must_not"]
OPERATORS = ("AND", "OR", "NOT")
FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):")
WORD_END = re.compile(r'[\s()"]')


class SearchSyntaxError(ValueError):
    """The search text cannot be read; `position` is 1-based within that text."""

    def __init__(self, message: str, position: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.hint = hint


@dataclass(frozen=True)
class Words:
    """A word or a quoted phrase, maybe limited to one column, maybe a prefix."""

    text: str
    position: int
    field: str | None = None
    phrase: bool = False
    prefix: bool = False


@dataclass(frozen=True)
class Clause:
    occur: Occur
    node: Words | Group


@dataclass(frozen=True)
class Group:
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class _Token:
    kind: str  # word, phrase, open, close, and, or, not, plus, minus, field
    text: str
    position: int
    prefix: bool = False


def parse(text: str, fields: list[str]) -> Group:
    """The search text as a tree; `fields` are the column names `name:` may refer to."""
    if not text.strip():
        raise SearchSyntaxError(
            "the search text is empty", 1, hint="give the words to look for, e.g. 'pool exhausted'"
        )
    if len(text) > MAX_LENGTH:
        raise SearchSyntaxError(
            f"the search text is {len(text)} characters long; at most {MAX_LENGTH} are allowed",
            MAX_LENGTH + 1,
        )
    known = {name.lower(): name for name in fields}
    parser = _Parser(_tokens(text, known), known)
    return parser.group(depth=0, opened=None)


def _tokens(text: str, known: dict[str, str]) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        position = index + 1
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(_Token("open" if char == "(" else "close", char, position))
            index += 1
        elif char == '"':
            end = text.find('"', index + 1)
            if end < 0:
                raise SearchSyntaxError(
                    'unterminated phrase: a " opens it and none closes it',
                    position,
                    hint='close the phrase with a second ", or remove the quote',
                )
            prefix = text[end + 1 : end + 2] == "*"
            tokens.append(_Token("phrase", text[index + 1 : end], position, prefix))
            index = end + 1 + int(prefix)
        elif char in "+-" and index + 1 < len(text) and not WORD_END.match(text[index + 1]):
            tokens.append(_Token("plus" if char == "+" else "minus", char, position))
            index += 1
        elif char in "+-":
            raise SearchSyntaxError(
                f"{char} must stand right before a word or phrase",
                position,
                hint=f"write {char}word, with no space in between",
            )
        else:
            match = WORD_END.search(text, index)
            end = match.start() if match else len(text)
            word = text[index:end]
            field = FIELD.match(word)
            if field and field.group(1).lower() in known:
                tokens.append(_Token("field", known[field.group(1).lower()], position))
                index += len(field.group(0))
                continue
            if word in OPERATORS:
                tokens.append(_Token(word.lower(), word, position))
            else:
                prefix = word.endswith("*")
                stem = word.rstrip("*") if prefix else word
                tokens.append(_Token("word", stem, position, prefix))
            index = end
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token], known: dict[str, str]) -> None:
        self.tokens = tokens
        self.known = known
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def group(self, depth: int, opened: _Token | None, field: str | None = None) -> Group:
        if depth > MAX_DEPTH:
            assert opened is not None
            raise SearchSyntaxError(
                f"parentheses nest more than {MAX_DEPTH} levels deep", opened.position
            )
        clauses: list[Clause] = []
        joined_by_and = False
        while (token := self.peek()) is not None:
            if token.kind == "close":
                if opened is None:
                    raise SearchSyntaxError(
                        "unmatched ): no ( opens it", token.position, hint="remove it or add a ("
                    )
                self.take()
                break
            if token.kind in ("and", "or"):
                self._operator(token, clauses)
                joined_by_and = token.kind == "and"
                continue
            occur = self._occur()
            node = self.primary(depth, field)
            if joined_by_and and clauses:
                clauses[-1] = _required(clauses[-1])
                occur = "must" if occur == "should" else occur
            joined_by_and = False
            clauses.append(Clause(occur, node))
        else:
            if opened is not None:
                raise SearchSyntaxError(
                    "unclosed (: no ) closes it", opened.position, hint="add the missing )"
                )
        if not clauses:
            where = opened.position if opened else 1
            raise SearchSyntaxError("nothing to search for in ()", where)
        return Group(tuple(clauses))

    def _operator(self, token: _Token, clauses: list[Clause]) -> None:
        self.take()
        following = self.peek()
        if not clauses or following is None or following.kind in ("close", "and", "or"):
            raise SearchSyntaxError(
                f"{token.text} needs words on both sides",
                token.position,
                hint=f"e.g. pool {token.text} payment; write {token.text.lower()} in lower case "
                "to search for the word itself",
            )

    def _occur(self) -> Occur:
        token = self.peek()
        if token is None or token.kind not in ("plus", "minus", "not"):
            return "should"
        self.take()
        following = self.peek()
        if following is None or following.kind in ("close", "and", "or"):
            raise SearchSyntaxError(
                f"{token.text} must be followed by a word or phrase", token.position
            )
        return "must" if token.kind == "plus" else "must_not"

    def primary(self, depth: int, field: str | None) -> Words | Group:
        token = self.take()
        if token.kind == "field":
            following = self.peek()
            if following is None or following.kind not in ("word", "phrase", "open"):
                raise SearchSyntaxError(
                    f"{token.text}: must be followed by a word, phrase or (group)",
                    token.position,
                )
            return self.primary(depth, token.text)
        if token.kind == "open":
            return self.group(depth + 1, token, field)
        if token.kind in ("word", "phrase"):
            phrase = token.kind == "phrase"
            if token.prefix and not token.text.strip():
                raise SearchSyntaxError(
                    "a prefix needs at least one character before *",
                    token.position,
                    hint="e.g. exhaust* finds exhausted and exhaustion",
                )
            return Words(token.text, token.position, field, phrase, token.prefix)
        raise SearchSyntaxError(f"unexpected {token.text}", token.position, hint=SYNTAX)


def _required(clause: Clause) -> Clause:
    return Clause("must", clause.node) if clause.occur == "should" else clause
