"""sqlglot dialects, each built whole before any thread writes SQL in it.

sqlglot registers a dialect's class in its registry before it has built the class: the
tokenizer, the generator and the quote characters come after. A thread that looks a dialect up
by name while another thread loads it can get the half-built class and write SQL in the generic
dialect: a MariaDB source was sent `SELECT * FROM "shop"."orders" LIMIT 0`, a syntax error, when
two datasets of one config were loaded at once. So a dialect is loaded here, one thread at a
time: a SQL connector's when its class is defined (under the import lock of its module), one
named in a config before its connector is used, and DuckDB's when the engine is imported.
"""

from __future__ import annotations

import threading

from sqlglot.dialects.dialect import Dialect

_loading = threading.Lock()


def loaded(name: str) -> str:
    """`name`, once its dialect is built; a ValueError names the dialects there are."""
    with _loading:
        Dialect.get_or_raise(name)
    return name
