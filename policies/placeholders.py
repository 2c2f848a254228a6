"""Tokenizers that read `$1,$2` as two placeholders, as PostgreSQL does.

sqlglot reads a `$` as the start of a dollar-quoted string unless what follows up to the next
`$` is all digits or holds a space: `IN ($1,$2)` opened a string tagged `1,` and failed as an
unterminated quote, though drivers write exactly that (pgjdbc turns `IN (?,?)` into it, and
asyncpg users type it). PostgreSQL's rule is simpler: a dollar quote's tag follows the rules of
an unquoted identifier, so it never starts with a digit, and `$` followed by a digit is always
a parameter.
"""

from __future__ import annotations

import functools

from sqlglot.dialects.dialect import Dialect
from sqlglot.tokenizer_core import TokenizerCore
from sqlglot.tokens import Tokenizer


class _PlaceholderFirstCore(TokenizerCore):
    __slots__ = ()

    def _scan_string(self, start: str) -> bool:
        if start == "$" and self.heredoc_tag_is_identifier and self._peek.isdigit():
            self._add(self.heredoc_string_alternative)
            return True
        return super()._scan_string(start)


@functools.cache
def tokenizer(base: type[Tokenizer]) -> type[Tokenizer]:
    """`base`, reading `$` and a digit as a placeholder wherever its dialect has dollar quotes."""

    class PlaceholderFirst(base):  # type: ignore[valid-type, misc]
        def _init_core(self) -> TokenizerCore:
            core = super()._init_core()
            core.__class__ = _PlaceholderFirstCore  # the same slots, one scanning step changed
            return core

    return PlaceholderFirst


def dialect_tokenizer(dialect: str) -> type[Tokenizer]:
    return tokenizer(Dialect.get_or_raise(dialect).tokenizer_class)
