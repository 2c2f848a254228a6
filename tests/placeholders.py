"""One query whose `?` placeholders answer a different question when bound out of order.

Placeholders are bound in the order they are written, on every interface: this query puts them
in a CTE, a CASE, nested arithmetic, an IN list, a subquery, LIMIT and OFFSET, mostly as
integers, so a binding in another order (sqlglot's breadth-first walk, say) still plans and
runs, but gives another answer.
"""

from __future__ import annotations

QUERY = (
    "WITH recent AS (SELECT id, status FROM orders WHERE id < ?) "
    "SELECT CASE WHEN mod(r.id, ?) = 0 THEN 'even' WHEN r.id > ? THEN 'late' ELSE 'other' END "
    "AS kind, count(*) AS n, sum(r.id * ?) AS weighted "
    "FROM recent r "
    "WHERE (r.id + ?) * 2 > ? AND r.id IN (?, ?, ?, ?, ?, ?) "
    "AND r.id NOT IN (SELECT id FROM orders WHERE id = ? OR status = ?) "
    "GROUP BY 1 ORDER BY 1 LIMIT ? OFFSET ?"
)
VALUES: list[int | str] = [120, 3, 60, 7, 1, 50, 30, 34, 45, 62, 91, 200, 45, "none", 2, 1]
EXPECTED = [
    {"kind": "late", "n": 2, "weighted": (62 + 91) * 7},
    {"kind": "other", "n": 1, "weighted": 34 * 7},
]


def numbered(style: str) -> str:
    """QUERY with `$1, $2, ...` (style "$") or psycopg's `%s` (style "%s") placeholders."""
    parts = QUERY.split("?")
    marks = [f"${index}" if style == "$" else style for index in range(1, len(parts))]
    return parts[0] + "".join(mark + part for mark, part in zip(marks, parts[1:], strict=True))
