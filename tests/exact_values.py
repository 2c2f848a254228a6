"""One row of values a double cannot hold, and how every HTTP JSON surface must answer it.

Decimals come back as strings of their exact digits at the column's scale (a JSON number would
be rounded to a double by JSON.parse, Python's json or Go's encoding/json); a BIGINT stays a
JSON number, written with all its digits; an interval is an ISO 8601 duration.
"""

from __future__ import annotations

from typing import Any

QUERY = (
    "SELECT CAST('12345678901234567890.1234567890' AS DECIMAL(38, 10)) AS d, "
    "CAST('-98765432109876543210987654321098765432' AS DECIMAL(38, 0)) AS n, "
    "CAST(0 AS DECIMAL(20, 10)) AS z, 9007199254740993 AS big, "
    "INTERVAL '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds' AS i"
)
ROW: dict[str, Any] = {
    "d": "12345678901234567890.1234567890",
    "n": "-98765432109876543210987654321098765432",
    "z": "0.0000000000",
    "big": 9007199254740993,
    "i": "P1Y2M3DT4H5M6.5S",
}
