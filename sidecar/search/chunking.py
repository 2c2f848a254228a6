"""Long documents become passages, so a hit points at the part of a runbook that matters and an
embedding model sees text that fits its context.

Markdown is cut at its headings (never inside a fenced code block), then consecutive sections
are packed together up to the size limit: a section is the smallest unit that keeps its
heading with its text, and packing keeps short sections from turning into passages too small
to rank. Anything still over the limit, and plain text, is cut at paragraph breaks, then at
words. Sizes are counted in words: a tokenizer-independent stand-in for model tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

HEADING = re.compile(r"^ {0,3}#{1,6}(?:\s|$)")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
WORD = re.compile(r"\S+")


def chunks(text: str, by: str, max_tokens: int) -> list[str]:
    """`text` cut into passages of at most `max_tokens` words (at least one passage)."""
    if not text.strip():
        return [text]
    pieces = sections(text) if by == "heading" else [text]
    packed = list(_pack(_fitted(pieces, max_tokens), max_tokens))
    return packed or [text]


def sections(markdown: str) -> list[str]:
    """The document cut before each heading line outside fenced code."""
    parts: list[list[str]] = [[]]
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and HEADING.match(line) and any(p.strip() for p in parts[-1]):
            parts.append([])
        parts[-1].append(line)
    return ["".join(part) for part in parts if "".join(part).strip()]


def words(text: str) -> int:
    return len(WORD.findall(text))


def _fitted(pieces: list[str], max_tokens: int) -> Iterator[str]:
    """Each piece, cut at paragraph breaks and then words when it is over the limit."""
    for piece in pieces:
        if words(piece) <= max_tokens:
            yield piece
            continue
        for paragraph in PARAGRAPH_BREAK.split(piece):
            if words(paragraph) <= max_tokens:
                yield paragraph
            else:
                spans = [match.span() for match in WORD.finditer(paragraph)]
                for start in range(0, len(spans), max_tokens):
                    window = spans[start : start + max_tokens]
                    yield paragraph[window[0][0] : window[-1][1]]


def _pack(pieces: Iterator[str], max_tokens: int) -> Iterator[str]:
    """Join consecutive pieces while the result stays within the limit."""
    current: list[str] = []
    size = 0
    for piece in pieces:
        count = words(piece)
        if count == 0:
            continue
        if current and size + count > max_tokens:
            yield _join(current)
            current, size = [], 0
        current.append(piece)
        size += count
    if current:
        yield _join(current)


def _join(pieces: list[str]) -> str:
    return "\n\n".join(piece.strip("\n") for piece in pieces).strip()
